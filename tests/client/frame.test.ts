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
