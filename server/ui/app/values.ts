/**
 * What a value is, so the console can show it well: JSON and YAML pretty and checked while
 * edited, plain text as is, binary as a hex dump, and Kubernetes' protobuf encoding
 * (`k8s\0` + runtime.Unknown) labelled with the object's apiVersion and kind.
 */
import { hasControls, strictText } from "./bytes.ts";
import { parseYaml, YamlError } from "./yaml.ts";

export type ValueFormat = "json" | "yaml" | "text" | "binary" | "k8s";

export interface ValueView {
  readonly format: ValueFormat;
  /** The value as text (UTF-8), or null for binary values. */
  readonly text: string | null;
  /** The text to show and edit: JSON indented, everything else as stored. */
  readonly pretty: string | null;
  /** JSON stored on one line (saving keeps it that way). */
  readonly compact: boolean;
  /** For k8s values: the object's type, when the envelope says it. */
  readonly k8s?: { readonly apiVersion: string; readonly kind: string };
}

/** Kubernetes' storage prefix of protobuf-encoded objects. */
export const K8S_PROTOBUF_MAGIC = "k8s\0";

/** Looks at a stored value (a binary string) and decides how to show it. */
export function inspectValue(bin: string): ValueView {
  if (bin.startsWith(K8S_PROTOBUF_MAGIC)) {
    return { format: "k8s", text: null, pretty: null, compact: false, k8s: k8sTypeMeta(bin) ?? undefined };
  }
  const text = strictText(bin);
  if (text === null || hasControls(text, "\t\n\v\f\r")) {
    return { format: "binary", text: null, pretty: null, compact: false };
  }
  const trimmed = text.trim();
  if (/^[[{]/.test(trimmed)) {
    try {
      const v = JSON.parse(trimmed);
      return { format: "json", text, pretty: JSON.stringify(v, null, 2), compact: !text.includes("\n") };
    } catch {
      // not JSON: maybe YAML flow style, else text
    }
  }
  if (looksLikeYaml(text)) return { format: "yaml", text, pretty: text, compact: false };
  return { format: "text", text, pretty: text, compact: false };
}

/** YAML with a mapping or sequence at the top (a bare word is YAML too, but text first). */
function looksLikeYaml(text: string): boolean {
  if (!/^\s*(---|- |[^\s#:][^\n]*?:( |$))/m.test(text)) return false;
  try {
    const docs = parseYaml(text);
    return docs.some((d) => d !== null && typeof d === "object");
  } catch {
    return false;
  }
}

/** Whether edited text is valid in a format; the message says where it is not. */
export function validate(format: ValueFormat, text: string): { ok: true } | { ok: false; message: string } {
  if (format === "json") {
    try {
      JSON.parse(text);
      return { ok: true };
    } catch (e) {
      return { ok: false, message: "JSON: " + jsonErrorWhere(text, (e as Error).message) };
    }
  }
  if (format === "yaml") {
    try {
      parseYaml(text);
      return { ok: true };
    } catch (e) {
      if (e instanceof YamlError) return { ok: false, message: `YAML: line ${e.line}: ${e.reason}` };
      throw e;
    }
  }
  return { ok: true };
}

/** JSON.parse's message with the line it points at, when it gives a position. */
function jsonErrorWhere(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (m === null) return message;
  const line = text.slice(0, Number(m[1])).split("\n").length;
  return `line ${line}: ${message}`;
}

/** The text to store for edited text: JSON that was stored on one line is saved compact again. */
export function textToStore(view: Pick<ValueView, "format" | "compact">, edited: string): string {
  if (view.format === "json" && view.compact) {
    try {
      return JSON.stringify(JSON.parse(edited));
    } catch {
      return edited;
    }
  }
  return edited;
}

/** A classic hex dump: offset, 16 bytes in hex, and the printable ones. */
export function hexDump(bin: string, maxBytes = 4096): string {
  const lines: string[] = [];
  const n = Math.min(bin.length, maxBytes);
  for (let off = 0; off < n; off += 16) {
    let hex = "";
    let ascii = "";
    for (let i = off; i < off + 16; i++) {
      if (i < n) {
        const c = bin.charCodeAt(i);
        hex += c.toString(16).padStart(2, "0") + (i % 16 === 7 ? "  " : " ");
        ascii += c >= 0x20 && c < 0x7f ? bin[i] : ".";
      } else hex += i % 16 === 7 ? "    " : "   ";
    }
    lines.push(off.toString(16).padStart(8, "0") + "  " + hex + " |" + ascii + "|");
  }
  if (bin.length > n) lines.push(`… ${bin.length - n} more bytes`);
  return lines.join("\n");
}

/**
 * apiVersion and kind from a k8s protobuf value: after the magic comes a runtime.Unknown
 * message whose field 1 is TypeMeta {1: apiVersion, 2: kind}.
 */
export function k8sTypeMeta(bin: string): { apiVersion: string; kind: string } | null {
  const unknown = protoFields(bin.slice(K8S_PROTOBUF_MAGIC.length));
  const typeMeta = unknown?.get(1);
  if (typeMeta === undefined) return null;
  const fields = protoFields(typeMeta);
  if (fields === null) return null;
  const str = (n: number) => strictText(fields.get(n) ?? "") ?? "";
  return { apiVersion: str(1), kind: str(2) };
}

/** The length-delimited fields of a protobuf message (first occurrence), or null if malformed. */
function protoFields(bin: string): Map<number, string> | null {
  const out = new Map<number, string>();
  let i = 0;
  const varint = (): number | null => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (i >= bin.length) return null;
      const b = bin.charCodeAt(i++);
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return null;
  };
  while (i < bin.length) {
    const tag = varint();
    if (tag === null) return null;
    const wire = tag & 7;
    if (wire === 0) {
      if (varint() === null) return null;
    } else if (wire === 2) {
      const len = varint();
      if (len === null || i + len > bin.length) return null;
      if (!out.has(tag >>> 3)) out.set(tag >>> 3, bin.slice(i, i + len));
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return null;
  }
  return out;
}
