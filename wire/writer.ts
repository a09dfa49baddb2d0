/**
 * The protobuf writer every hand-written codec uses (etcd's messages on hot paths, the
 * CLI's requests, raftpb): fields in the order the caller writes them into one buffer
 * sized exactly beforehand, so a submessage is written in place after its length rather
 * than built apart and copied. Numbers take a number fast path (no bigint arithmetic
 * below 2^53) and fall back to bigint for the rest of 64 bits.
 *
 * A codec writes a message's fields once, as a function of a `FieldWriter`: run over a
 * `Sizer` it gives the size, over a `ProtoWriter` the bytes. The `*Field` methods leave
 * out proto3 zero values (the canonical encoding, as gogo-protobuf's Marshal and
 * protobuf-es's toBinary); `byte`/`varint` write what they are given (raftpb's
 * non-nullable fields, whose zeros gogo writes too).
 */

const TWO_32 = 4294967296;
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** The varint size of a non-negative safe integer. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  v = Math.floor(v / 0x10000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/** The varint size of an int64 or uint64 (a negative int64 takes ten bytes, as in Go). */
export function varint64Size(v: bigint): number {
  // Number() first: bigint comparisons run out of line in JSC, and this is per field.
  const small = Number(v);
  if (small >= 0 && small <= Number.MAX_SAFE_INTEGER) return varintSize(small);
  if (small < 0) return 10;
  let u = BigInt.asUintN(64, v);
  let n = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}

/** What writes fields: a `ProtoWriter` (bytes) or a `Sizer` (their count). */
export interface FieldWriter {
  /** A bytes field; empty (proto3's zero value) is left out. */
  bytesField(field: number, bytes: Uint8Array): void;
  /** A string field, UTF-8; empty is left out. */
  stringField(field: number, s: string): void;
  /** An int64/uint64 field (bigint); zero is left out. */
  int64Field(field: number, value: bigint): void;
  /** A uint32/enum field below 2^53 (number); zero is left out. */
  uintField(field: number, value: number): void;
  /** A bool field; false is left out. */
  boolField(field: number, on: boolean): void;
  /** The tag and length of a submessage whose `length` bytes of fields follow. */
  messageHeader(field: number, length: number): void;
  /** A submessage field written by `write`, even when empty. */
  message<T>(field: number, write: (w: FieldWriter, value: T) => void, value: T): void;
  /** Bytes encoded beforehand (a cached field, a pre-encoded submessage). */
  raw(bytes: Uint8Array): void;
}

/**
 * Counts what a `ProtoWriter` would write for the same calls, and records the length of
 * every submessage written with `message` (in call order) so that the writer that follows
 * does not measure them again (protobuf's size cache).
 */
export class Sizer implements FieldWriter {
  size = 0;
  readonly lengths: number[] = [];

  bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length !== 0) this.messageHeader(field, bytes.length);
    this.size += bytes.length;
  }

  stringField(field: number, s: string): void {
    if (s !== "") this.bytesField(field, utf8.encode(s));
  }

  int64Field(field: number, value: bigint): void {
    if (value !== 0n) this.size += varintSize(field * 8) + varint64Size(value);
  }

  uintField(field: number, value: number): void {
    if (value !== 0) this.size += varintSize(field * 8) + varintSize(value);
  }

  boolField(field: number, on: boolean): void {
    if (on) this.size += varintSize(field * 8) + 1;
  }

  messageHeader(field: number, length: number): void {
    this.size += varintSize(field * 8 + 2) + varintSize(length);
  }

  message<T>(field: number, write: (w: FieldWriter, value: T) => void, value: T): void {
    const i = this.lengths.length;
    this.lengths.push(0);
    const before = this.size;
    this.size = 0;
    write(this, value);
    const length = this.size;
    this.lengths[i] = length;
    this.size = before + varintSize(field * 8 + 2) + varintSize(length) + length;
  }

  raw(bytes: Uint8Array): void {
    this.size += bytes.length;
  }
}

/** The size of what `write` writes for `value`. */
export function sizeOf<T>(write: (w: FieldWriter, value: T) => void, value: T): number {
  const s = new Sizer();
  write(s, value);
  return s.size;
}

/**
 * `value`'s bytes as `write` writes them, sized exactly beforehand; `reserve` bytes are
 * left before them (a gRPC message prefix).
 */
export function encode<T>(write: (w: FieldWriter, value: T) => void, value: T, reserve = 0): Uint8Array {
  // Sizers are reused (a pool, not one: a write function may encode something of its own).
  const s = sizers.pop() ?? new Sizer();
  try {
    write(s, value);
    const w = new ProtoWriter(s.size, reserve, s.lengths);
    write(w, value);
    return w.finish();
  } finally {
    s.size = 0;
    s.lengths.length = 0;
    sizers.push(s);
  }
}

const sizers: Sizer[] = [];

export class ProtoWriter implements FieldWriter {
  readonly buf: Uint8Array;
  pos: number;
  readonly #lengths: readonly number[] | null;
  #nextLength = 0;

  /**
   * `size` is exactly what will be written (from a `Sizer` or size functions); `reserve`
   * bytes before it are left for the caller (a gRPC message prefix), so no copy is needed.
   * `lengths`: the submessage lengths a `Sizer` recorded for the same calls.
   */
  constructor(size: number, reserve = 0, lengths: readonly number[] | null = null, target?: Uint8Array) {
    this.buf = target ?? (size + reserve === 0 ? EMPTY : new Uint8Array(reserve + size));
    this.pos = reserve;
    this.#lengths = lengths;
  }

  /**
   * A writer into `buf`, a caller's buffer that has room for what is written, from `pos`
   * (which the caller may move); `finish` does not apply.
   */
  static over(buf: Uint8Array): ProtoWriter {
    return new ProtoWriter(0, 0, null, buf);
  }

  bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.messageHeader(field, bytes.length);
    this.raw(bytes);
  }

  stringField(field: number, s: string): void {
    if (s !== "") this.bytesField(field, utf8.encode(s));
  }

  messageHeader(field: number, length: number): void {
    this.varint(field * 8 + 2);
    this.varint(length);
  }

  message<T>(field: number, write: (w: FieldWriter, value: T) => void, value: T): void {
    const lengths = this.#lengths;
    const n = lengths !== null && this.#nextLength < lengths.length
      ? lengths[this.#nextLength++]
      : sizeOf(write, value);
    this.messageHeader(field, n);
    write(this, value);
  }

  int64Field(field: number, value: bigint): void {
    if (value === 0n) return;
    this.varint(field * 8);
    this.varint64(value);
  }

  uintField(field: number, value: number): void {
    if (value === 0) return;
    this.varint(field * 8);
    this.varint(value);
  }

  boolField(field: number, on: boolean): void {
    if (!on) return;
    this.varint(field * 8);
    this.buf[this.pos++] = 1;
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** One byte (a one-byte tag known in advance). */
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  /** A varint of a non-negative safe integer, without bigint arithmetic. */
  varint(v: number): void {
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v = v < TWO_32 ? v >>> 7 : Math.floor(v / 128);
    }
    buf[this.pos++] = v;
  }

  /** A varint of an int64 or uint64: the number path when exact, else bigint. */
  varint64(value: bigint): void {
    const n = Number(value);
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
      this.varint(n);
      return;
    }
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  /** A length and the bytes (the value of a length-delimited field whose tag is written). */
  lengthDelimited(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** The message; throws if the size given to the constructor was not what was written. */
  finish(): Uint8Array {
    if (this.pos !== this.buf.length) {
      throw new Error(`wire: wrote ${this.pos} bytes of ${this.buf.length}`);
    }
    return this.buf;
  }
}

/**
 * A ProtoWriter that leaves bytes fields of `from` bytes or more where they are: the
 * message comes out as pieces, the writer's own buffer (tags, lengths, small fields)
 * between the big fields themselves. Its buffer holds only the rest (`size` less the
 * gathered bytes, which the caller counts with `gathered`). A big response then costs no
 * fresh buffer of its size: touching fresh memory costs ~3 ms per MB here, more than any
 * copy into memory already in use.
 */
export class GatheringWriter extends ProtoWriter {
  readonly #from: number;
  readonly #pieces: Uint8Array[] = [];
  #cut = 0;

  /** `size` and `reserve` as ProtoWriter's, `size` without the fields gathered. */
  constructor(size: number, reserve: number, from: number) {
    super(size, reserve);
    this.#from = from;
  }

  override bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length < this.#from) return super.bytesField(field, bytes);
    this.messageHeader(field, bytes.length);
    this.#pieces.push(this.buf.subarray(this.#cut, this.pos), bytes);
    this.#cut = this.pos;
  }

  /** The message's pieces, in order (empty ones left out); all of `size` must be written. */
  pieces(): Uint8Array[] {
    this.finish();
    return this.written();
  }

  /** The pieces of what is written so far, in order (empty ones left out). */
  written(): Uint8Array[] {
    const all = [...this.#pieces, this.buf.subarray(this.#cut, this.pos)];
    return all.filter((p) => p.length > 0);
  }
}
