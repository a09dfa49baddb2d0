/**
 * The protobuf reader every hand-written codec uses: fields in wire order, each read as
 * the caller asks for it. Varints are read as two 32-bit halves, so a number below 2^53
 * costs no bigint; `uint64`/`int64` build a bigint only when the value needs one.
 * Malformed input throws a `WireError`; nothing is read past `end`.
 */

const TWO_32 = 4294967296;
const utf8 = new TextDecoder();

/** Thrown on malformed input: the bytes did not come from a well-behaved peer or file. */
export class WireError extends Error {
  override name = "WireError";
  constructor(what: string) {
    super(`protobuf: ${what}`);
  }
}

export class ProtoReader {
  pos: number;
  /** The high 32 bits of the last `varint64`. */
  hi = 0;

  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  /** More fields follow. */
  more(): boolean {
    return this.pos < this.end;
  }

  /** A varint's low 32 bits; its high 32 bits are left in `hi` (no allocation). */
  varint64(): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let b = 0x80;
    let i = 0;
    for (; i < 4 && b >= 0x80; i++) {
      if (this.pos >= this.end) throw new WireError("truncated varint");
      b = buf[this.pos++];
      lo |= (b & 0x7f) << (7 * i);
    }
    if (b >= 0x80) {
      if (this.pos >= this.end) throw new WireError("truncated varint");
      b = buf[this.pos++];
      lo |= (b & 0x0f) << 28;
      hi = (b & 0x7f) >> 4;
      for (i = 0; i < 5 && b >= 0x80; i++) {
        if (this.pos >= this.end) throw new WireError("truncated varint");
        b = buf[this.pos++];
        hi |= (b & 0x7f) << (7 * i + 3);
      }
      if (b >= 0x80) throw new WireError("varint longer than 10 bytes");
    }
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** A varint that must be below 2^53 (tags, lengths, counters, enums). */
  number(): number {
    const lo = this.varint64();
    if (this.hi >= 0x200000) throw new WireError("integer beyond 2^53");
    return this.hi * TWO_32 + lo;
  }

  /** A uint64 varint. */
  uint64(): bigint {
    const lo = this.varint64();
    const hi = this.hi;
    if (hi < 0x200000) return BigInt(hi * TWO_32 + lo);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** An int64 varint (two's complement). */
  int64(): bigint {
    const lo = this.varint64();
    const hi = this.hi;
    if (hi < 0x200000) return BigInt(hi * TWO_32 + lo);
    if (hi >= 0xffe00000) return BigInt((hi - TWO_32) * TWO_32 + lo);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  bool(): boolean {
    const lo = this.varint64();
    return lo !== 0 || this.hi !== 0;
  }

  /** The next tag (field number × 8 + wire type). */
  tag(): number {
    return this.number();
  }

  #length(): number {
    const n = this.number();
    if (this.pos + n > this.end) throw new WireError("truncated bytes");
    return n;
  }

  /** A length-delimited field's bytes: a view into the input, not a copy (as protobuf-es). */
  bytes(): Uint8Array {
    const n = this.#length();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /**
   * A length-delimited field's bytes, copied when under `copyBelow` bytes, else a view: a
   * view of a buffer that bun:sqlite made costs more than copying a small field (the
   * engine then gives the buffer a backing store of its own: ~120 ns a view against ~45
   * ns a copy for a stored revision's key and 256-byte value).
   */
  bytesCopied(copyBelow: number): Uint8Array {
    const n = this.#length();
    const out = n < copyBelow
      ? this.buf.slice(this.pos, this.pos + n)
      : this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  /** A nested message's reader, advancing past it. */
  sub(): ProtoReader {
    const n = this.#length();
    const r = new ProtoReader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** Skips a field's value of wire type `wire` (the tag's low three bits). */
  skip(wire: number): void {
    if (wire === 0) this.varint64();
    else if (wire === 2) {
      const n = this.#length();
      this.pos += n;
    } else if (wire === 1 || wire === 5) {
      this.pos += wire === 1 ? 8 : 4;
      if (this.pos > this.end) throw new WireError("truncated fixed field");
    } else throw new WireError(`unsupported wire type ${wire}`);
  }
}
