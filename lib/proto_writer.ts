/**
 * A protobuf writer for the messages written by hand on hot paths (HashKV's KeyValues, the
 * Put and Range responses, lone-put proposals): fields in the order the caller writes them,
 * proto3 zero values left out, into one buffer sized exactly beforehand with the `*Size`
 * functions below (so a submessage is written in place after its length, not built apart
 * and copied). The bytes are the canonical encoding, the same as gogo-protobuf's Marshal
 * and protobuf-es's toBinary.
 */

/** The varint size of a non-negative safe integer. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** The varint size of an int64 or uint64 (a negative int64 takes ten bytes). */
function int64Size(v: bigint): number {
  // Number() first: bigint comparisons run out of line in JSC, and this is per field.
  const small = Number(v);
  if (small >= 0 && Number.isSafeInteger(small)) return varintSize(small);
  let u = BigInt.asUintN(64, v);
  let n = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}

/** What `bytesField` writes: nothing for empty bytes. */
export function bytesFieldSize(field: number, length: number): number {
  return length === 0 ? 0 : messageFieldSize(field, length);
}

/** What `messageHeader` and a body of `length` bytes take. */
export function messageFieldSize(field: number, length: number): number {
  return varintSize(field * 8) + varintSize(length) + length;
}

/** What `int64Field` writes: nothing for zero. */
export function int64FieldSize(field: number, value: bigint): number {
  return value === 0n ? 0 : varintSize(field * 8) + int64Size(value);
}

/** What `boolField` writes: nothing for false. */
export function boolFieldSize(field: number, on: boolean): number {
  return on ? varintSize(field * 8) + 1 : 0;
}

export class ProtoWriter {
  readonly #buf: Uint8Array;
  #pos = 0;

  /**
   * `size` is exactly what will be written, from the `*Size` functions; `reserve` bytes
   * before it are left for the caller (a gRPC message prefix), so no copy is needed to add it.
   */
  constructor(size: number, reserve = 0) {
    this.#buf = new Uint8Array(reserve + size);
    this.#pos = reserve;
  }

  /** A bytes or string field; empty is proto3's zero value and left out. */
  bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.messageHeader(field, bytes.length);
    this.raw(bytes);
  }

  /** The tag and length of a submessage whose `length` bytes of fields are written next. */
  messageHeader(field: number, length: number): void {
    this.#smallVarint(field * 8 + 2);
    this.#smallVarint(length);
  }

  /** An int64 or uint64 field; a negative int64 takes ten bytes, as in Go. */
  int64Field(field: number, value: bigint): void {
    if (value === 0n) return;
    this.#smallVarint(field * 8);
    const n = Number(value);
    if (n > 0 && Number.isSafeInteger(n)) this.#smallVarint(n);
    else this.#varint(BigInt.asUintN(64, value));
  }

  boolField(field: number, on: boolean): void {
    if (!on) return;
    this.#smallVarint(field * 8);
    this.#buf[this.#pos++] = 1;
  }

  /** Bytes encoded beforehand (e.g. the constant IDs of every response header). */
  raw(bytes: Uint8Array): void {
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** The message; throws if the size given to the constructor was not what was written. */
  finish(): Uint8Array {
    if (this.#pos !== this.#buf.length) {
      throw new Error(`proto_writer: wrote ${this.#pos} bytes of ${this.#buf.length}`);
    }
    return this.#buf;
  }

  /** A varint of a non-negative safe integer, without bigint arithmetic (the common case). */
  #smallVarint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.#buf[this.#pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.#pos++] = v;
  }

  #varint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }
}
