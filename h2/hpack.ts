/**
 * HPACK (RFC 7541) for the one-shot HTTP/2 client (client/h2_once.ts): a complete decoder
 * (static and dynamic tables, Huffman strings, table size updates) and an encoder that
 * writes every field as a literal without indexing, which any decoder accepts. The server's
 * JIT warm-up (server/jit/) speaks as grpc-go does, with `HpackEncoder`: indexing and
 * Huffman coding.
 *
 * Why hand-written: the npm choices (hpack.js) are unmaintained and pull node streams in,
 * and the point of the one-shot client is to load nothing heavy. Pure, no I/O.
 */

/** RFC 7541 Appendix A: the static table, index 1..61. */
const staticTable: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/**
 * RFC 7541 Appendix B: the Huffman code length of each byte value. The code is canonical
 * (codes assigned in order of length, then symbol), so the lengths define it completely;
 * EOS (symbol 256) is 30 one-bits and may only appear as padding.
 */
// deno-fmt-ignore
const huffmanLengths = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28,
  28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6,
  12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5,
  6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22,
  22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21,
  20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22,
  23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26,
  26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27,
  27, 27, 28, 27, 27, 27, 27, 27, 26,
];

/** The canonical code as decoding tables: per length, the first code and where its symbols start. */
interface HuffmanTable {
  /** Symbols sorted by (length, value). */
  symbols: Uint8Array;
  /** firstCode[len], count[len], offset[len] into symbols; len 1..30. */
  firstCode: Int32Array;
  count: Int32Array;
  offset: Int32Array;
}

// Buckets by length rather than a sort with a comparator: at startup, before the JIT
// warms up, a 256-element comparator sort measured ~1 ms in the compiled binary.
function buildHuffman(): HuffmanTable {
  const count = new Int32Array(31);
  for (const l of huffmanLengths) count[l]++;
  const firstCode = new Int32Array(31);
  const offset = new Int32Array(31);
  let code = 0;
  let off = 0;
  for (let len = 1; len <= 30; len++) {
    firstCode[len] = code;
    offset[len] = off;
    code = (code + count[len]) * 2;
    off += count[len];
  }
  const symbols = new Uint8Array(256);
  const next = Int32Array.from(offset);
  for (let sym = 0; sym < 256; sym++) symbols[next[huffmanLengths[sym]]++] = sym;
  return { symbols, firstCode, count, offset };
}

// Built on the first Huffman-coded string (our own server sends none), then reused: a memo
// of constant data, not state.
let huffmanTable: HuffmanTable | undefined;

/** Why a header block could not be decoded (a connection error in HTTP/2 terms). */
export class HpackError extends Error {}

/** Decodes a Huffman-coded string (RFC 7541 §5.2). */
export function huffmanDecode(bytes: Uint8Array): Uint8Array {
  const huffman = huffmanTable ??= buildHuffman();
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const i = code - huffman.firstCode[len];
      if (i >= 0 && i < huffman.count[len]) {
        out.push(huffman.symbols[huffman.offset[len] + i]);
        code = 0;
        len = 0;
      } else if (len >= 30) throw new HpackError("hpack: invalid Huffman code");
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (len > 7 || code !== 2 ** len - 1) throw new HpackError("hpack: invalid Huffman padding");
  return Uint8Array.from(out);
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/** One decoded header field. */
export type HeaderField = readonly [name: string, value: string];

/**
 * The decoding side of one HTTP/2 connection: header blocks must be fed in the order they
 * arrive, because literal fields with indexing change the dynamic table for later blocks.
 */
export class HpackDecoder {
  readonly #table: HeaderTable;
  readonly #limit: number;

  /** `maxTableSize` is SETTINGS_HEADER_TABLE_SIZE as we advertised it (default 4096). */
  constructor(maxTableSize = 4096) {
    this.#table = new HeaderTable(maxTableSize);
    this.#limit = maxTableSize;
  }

  /** Decodes one complete header block (HEADERS plus CONTINUATION payloads joined). */
  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    const r = { buf: block, pos: 0 };
    while (r.pos < block.length) {
      const b = block[r.pos];
      if (b & 0x80) {
        fields.push(this.#table.get(readInt(r, 7)));
      } else if (b & 0x40) {
        const idx = readInt(r, 6);
        const name = idx === 0 ? readString(r) : this.#table.get(idx)[0];
        const field: HeaderField = [name, readString(r)];
        fields.push(field);
        this.#table.insert(field);
      } else if (b & 0x20) {
        const size = readInt(r, 5);
        if (size > this.#limit) throw new HpackError("hpack: table size update above the limit");
        this.#table.resize(size);
      } else {
        const idx = readInt(r, 4); // without indexing (0000) or never indexed (0001)
        const name = idx === 0 ? readString(r) : this.#table.get(idx)[0];
        fields.push([name, readString(r)]);
      }
    }
    return fields;
  }
}

/**
 * The header table of one direction of a connection (RFC 7541 §2.3): the static entries
 * 1..61, then the dynamic ones, newest first, evicted oldest first to stay within the size.
 */
class HeaderTable {
  readonly #dynamic: { field: HeaderField; size: number }[] = [];
  #size = 0;
  #maxSize: number;

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  get(idx: number): HeaderField {
    if (idx >= 1 && idx <= staticTable.length) return staticTable[idx - 1];
    const e = this.#dynamic[idx - staticTable.length - 1];
    if (e === undefined) throw new HpackError(`hpack: invalid index ${idx}`);
    return e.field;
  }

  /** The lowest index whose entry matches, or 0. */
  find(match: (name: string, value: string) => boolean): number {
    const s = staticTable.findIndex(([n, v]) => match(n, v));
    if (s >= 0) return s + 1;
    const d = this.#dynamic.findIndex(({ field: [n, v] }) => match(n, v));
    return d >= 0 ? staticTable.length + 1 + d : 0;
  }

  insert(field: HeaderField): void {
    // §4.1: an entry's size is its name and value octets plus 32.
    const size = utf8Length(field[0]) + utf8Length(field[1]) + 32;
    this.#evict(size);
    if (size <= this.#maxSize) {
      this.#dynamic.unshift({ field, size });
      this.#size += size;
    }
  }

  resize(maxSize: number): void {
    this.#maxSize = maxSize;
    this.#evict(0);
  }

  // Drops the oldest entries until `room` more octets fit.
  #evict(room: number): void {
    while (this.#dynamic.length > 0 && this.#size + room > this.#maxSize) {
      this.#size -= this.#dynamic.pop()!.size;
    }
  }
}

/** A string's UTF-8 length; header values are nearly always ASCII, which needs no encoding. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) return textEncoder.encode(s).length;
  }
  return s.length;
}

function readInt(r: { buf: Uint8Array; pos: number }, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (r.pos >= r.buf.length) throw new HpackError("hpack: truncated integer");
  let v = r.buf[r.pos++] & max;
  if (v < max) return v;
  for (let shift = 0;; shift += 7) {
    if (r.pos >= r.buf.length) throw new HpackError("hpack: truncated integer");
    if (shift > 28) throw new HpackError("hpack: integer overflow");
    const b = r.buf[r.pos++];
    v += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return v;
  }
}

function readString(r: { buf: Uint8Array; pos: number }): string {
  if (r.pos >= r.buf.length) throw new HpackError("hpack: truncated string");
  const huff = (r.buf[r.pos] & 0x80) !== 0;
  const len = readInt(r, 7);
  if (r.pos + len > r.buf.length) throw new HpackError("hpack: truncated string");
  const raw = r.buf.subarray(r.pos, r.pos + len);
  r.pos += len;
  return textDecoder.decode(huff ? huffmanDecode(raw) : raw);
}

function writeInt(out: number[], v: number, prefixBits: number, flags: number): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    out.push(flags | v);
    return;
  }
  out.push(flags | max);
  v -= max;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/**
 * Encodes header fields as literals without indexing and without Huffman coding: a few
 * more bytes than a stateful encoder, but no table to keep in step with the peer.
 * `:method: POST` and `:scheme` use their static entries.
 */
export function encodeHeaders(fields: readonly HeaderField[]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const full = staticTable.findIndex(([n, v]) => n === name && v === value);
    if (full >= 0) {
      writeInt(out, full + 1, 7, 0x80);
      continue;
    }
    const nameIdx = staticTable.findIndex(([n]) => n === name);
    writeInt(out, nameIdx + 1, 4, 0x00); // 0 when the name is new
    if (nameIdx < 0) pushString(out, name);
    pushString(out, value);
  }
  return Uint8Array.from(out);
}

/**
 * A stateful encoder as grpc-go's (golang.org/x/net/http2/hpack) works: a field found whole
 * in a table is indexed, any other is a literal with incremental indexing (its name
 * indexed when known), and strings are Huffman-coded when that is shorter. One per
 * connection, fed blocks in the order they are sent; the peer's table size is the default.
 */
export class HpackEncoder {
  readonly #table = new HeaderTable(4096);

  encode(fields: readonly HeaderField[]): Uint8Array {
    const out: number[] = [];
    for (const field of fields) {
      const [name, value] = field;
      const whole = this.#table.find((n, v) => n === name && v === value);
      if (whole > 0) {
        writeInt(out, whole, 7, 0x80);
        continue;
      }
      const named = this.#table.find((n) => n === name);
      writeInt(out, named, 6, 0x40);
      if (named === 0) pushStringHuffman(out, name);
      pushStringHuffman(out, value);
      this.#table.insert(field);
    }
    return Uint8Array.from(out);
  }
}

/** Huffman-codes `bytes` (RFC 7541 §5.2), padding the last byte with ones. */
export function huffmanEncode(bytes: Uint8Array): Uint8Array {
  const codes = huffmanCodes ??= buildHuffmanCodes();
  const out: number[] = [];
  // Bits not yet written, as a number: fewer than 8 left over plus a code of up to 30
  // bits stays exact (below 2^53), where 32-bit operators would not.
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = acc * 2 ** huffmanLengths[b] + codes[b];
    bits += huffmanLengths[b];
    while (bits >= 8) {
      bits -= 8;
      const byte = Math.floor(acc / 2 ** bits);
      out.push(byte);
      acc -= byte * 2 ** bits;
    }
  }
  if (bits > 0) out.push(acc * 2 ** (8 - bits) + 2 ** (8 - bits) - 1);
  return Uint8Array.from(out);
}

// Each byte's canonical code, from the same lengths the decoder's table comes from.
let huffmanCodes: Uint32Array | undefined;

function buildHuffmanCodes(): Uint32Array {
  const { symbols, firstCode, count, offset } = huffmanTable ??= buildHuffman();
  const codes = new Uint32Array(256);
  for (let len = 1; len <= 30; len++) {
    for (let i = 0; i < count[len]; i++) codes[symbols[offset[len] + i]] = firstCode[len] + i;
  }
  return codes;
}

function pushStringHuffman(out: number[], s: string): void {
  const raw = textEncoder.encode(s);
  const coded = huffmanEncode(raw);
  const b = coded.length < raw.length ? coded : raw;
  writeInt(out, b.length, 7, b === coded ? 0x80 : 0x00);
  for (const x of b) out.push(x);
}

function pushString(out: number[], s: string): void {
  const b = textEncoder.encode(s);
  writeInt(out, b.length, 7, 0x00);
  for (const x of b) out.push(x);
}
