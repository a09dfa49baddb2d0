/**
 * Keys and values as "binary strings": one char per byte (0–255). The console keeps every
 * key this way so that slicing, ordering and prefix tests work on bytes exactly as etcd
 * orders them, and base64 (the gateway's encoding) is a plain btoa/atob.
 */

/** The range end that means "every key from the start key on" (etcd's "\0"). */
export const TO_END = "\0";

/** A binary string as base64, for the gateway. */
export function toB64(bin: string): string {
  return btoa(bin);
}

/** The gateway's base64 as a binary string ("" for a missing field). */
export function fromB64(b64: string | undefined): string {
  return b64 ? atob(b64) : "";
}

/** Text (UTF-16) as its UTF-8 bytes in a binary string. */
export function utf8(text: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(text)) out += String.fromCharCode(b);
  return out;
}

/** The bytes of a binary string. */
export function bytesOf(bin: string): Uint8Array {
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The UTF-8 text of a binary string, or null when it is not valid UTF-8. */
export function strictText(bin: string): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytesOf(bin));
  } catch {
    return null;
  }
}

/** A key or name as a person reads it: UTF-8 text, with bytes that are not shown as \xNN. */
export function display(bin: string): string {
  const text = strictText(bin);
  if (text !== null && !hasControls(text, "\t\n")) return text;
  let out = "";
  for (let i = 0; i < bin.length; i++) {
    const c = bin.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x5c ? bin[i] : "\\x" + c.toString(16).padStart(2, "0");
  }
  return out;
}

/** Whether `text` has control characters (C0 and DEL) other than those in `allowed`. */
export function hasControls(text: string, allowed: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 || c === 0x7f) && !allowed.includes(text[i])) return true;
  }
  return false;
}

/** The end of the range of every key starting with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: string): string {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return TO_END;
}

/** The smallest key after `key`. */
export function nextKey(key: string): string {
  return key + "\0";
}

/** Whether `key` lies in [from, to), `to` being TO_END for no end. */
export function inRange(key: string, from: string, to: string): boolean {
  return key >= from && (to === TO_END || key < to);
}

/** A byte count as people read it. */
export function formatBytes(n: number): string {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  if (n < 1 << 30) return (n / (1 << 20)).toFixed(1) + " MiB";
  return (n / (1 << 30)).toFixed(2) + " GiB";
}
