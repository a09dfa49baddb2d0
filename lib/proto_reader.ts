/**
 * A protobuf reader for the messages decoded by hand (the CLI's put/get/del responses,
 * etcd's KeyValues when a backend is imported): fields in wire order, each read as the
 * caller asks for it. Malformed input throws; nothing is read past `end`.
 */
export class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  /** A varint as uint64 (callers take BigInt.asIntN for int64). */
  varint(): bigint {
    // Numbers while they are exact (7 bytes, 49 bits), BigInt only for longer ones.
    let small = 0;
    for (let i = 0, mul = 1; i < 7; i++, mul *= 128) {
      if (this.pos >= this.end) throw new Error("protobuf: truncated varint");
      const b = this.buf[this.pos++];
      small += (b & 0x7f) * mul;
      if (b < 0x80) return BigInt(small);
    }
    let x = BigInt(small);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new Error("protobuf: truncated varint");
      const b = this.buf[this.pos++];
      x |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, x);
    }
    throw new Error("protobuf: varint longer than 10 bytes");
  }

  /** Next field: [number, wire type], or undefined at the end. */
  tag(): [number, number] | undefined {
    if (this.pos >= this.end) return undefined;
    const t = Number(this.varint());
    return [t >>> 3, t & 7];
  }

  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw new Error("protobuf: truncated bytes");
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  /** A nested message's reader, advancing past it. */
  sub(): ProtoReader {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw new Error("protobuf: truncated message");
    const r = new ProtoReader(this.buf, this.pos + len);
    r.pos = this.pos;
    this.pos += len;
    return r;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.#fixed(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.#fixed(4);
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }

  #fixed(n: number): void {
    if (this.pos + n > this.end) throw new Error("protobuf: truncated fixed field");
    this.pos += n;
  }
}
