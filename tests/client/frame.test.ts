import { describe, expect, test } from "bun:test";
import { encodeFrame, FrameDecoder } from "../../api/grpc-frame.ts";
import { decodeGrpcMessage, encodeGrpcTimeout } from "../../client/status.ts";

describe("frame", () => {
  test("round-trips messages split at every byte boundary", () => {
    const a = encodeFrame(new Uint8Array([1, 2, 3]));
    const b = encodeFrame(new Uint8Array([]));
    const c = encodeFrame(new Uint8Array(300).fill(7));
    const all = new Uint8Array([...a, ...b, ...c]);
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder();
      const got = [d.push(all.subarray(0, cut)), d.push(all.subarray(cut))].flatMap((x) => x as Uint8Array[]);
      expect(got.map((m) => m.length)).toEqual([3, 0, 300]);
      expect(d.pending).toBe(false);
    }
  });

  test("a large message in many chunks, with the next one's prefix in its last chunk", () => {
    const big = new Uint8Array(4 << 20);
    for (let i = 0; i < big.length; i++) big[i] = i % 253;
    const first = encodeFrame(big);
    const all = new Uint8Array(first.length + 7);
    all.set(first, 0);
    all.set(encodeFrame(new Uint8Array([9, 9])), first.length);
    const d = new FrameDecoder(8 << 20);
    const got: Uint8Array[] = [];
    // 16 KiB chunks (DATA frames) cut at an odd offset so prefixes straddle them too.
    for (let off = 0; off < all.length; off += 16381) {
      const r = d.push(all.subarray(off, off + 16381));
      if (!Array.isArray(r)) throw new Error(JSON.stringify(r));
      got.push(...r);
    }
    expect(got.length).toBe(2);
    expect(Buffer.from(got[0]).equals(Buffer.from(big))).toBe(true);
    expect([...got[1]]).toEqual([9, 9]);
    expect(d.pending).toBe(false);
  });

  test("refuses a declared length over the limit before buffering it", () => {
    const d = new FrameDecoder(10);
    expect(d.push(new Uint8Array([0, 0, 0]))).toEqual([]);
    expect(d.push(new Uint8Array([0, 11]))).toEqual({ frameError: "too-large", size: 11, max: 10 });
  });

  test("rejects compressed frames", () => {
    expect(new FrameDecoder().push(new Uint8Array([1, 0, 0, 0, 0]))).toHaveProperty("frameError");
  });
});

describe("status helpers", () => {
  test("percent-decodes grpc-message, keeping malformed escapes", () => {
    expect(decodeGrpcMessage("etcdserver: key not found")).toBe("etcdserver: key not found");
    expect(decodeGrpcMessage("a%20b%3A%E2%9C%93")).toBe("a b:✓");
    expect(decodeGrpcMessage("100%")).toBe("100%");
  });

  test("encodes grpc-timeout with at most 8 digits", () => {
    expect(encodeGrpcTimeout(5000)).toBe("5000m");
    expect(encodeGrpcTimeout(1e9)).toBe("1000000S");
  });
});
