/**
 * HPACK: the decoder against RFC 7541's own examples (Appendix C: static and dynamic
 * table, Huffman strings, eviction), the encoder round trip, and malformed blocks.
 */
import { describe, expect, test } from "bun:test";
import {
  encodeHeaders,
  HpackDecoder,
  HpackEncoder,
  HpackError,
  huffmanDecode,
  huffmanEncode,
} from "../../h2/hpack.ts";

const hex = (s: string) =>
  Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((b) => Number.parseInt(b, 16)));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("hpack decoder (RFC 7541 Appendix C)", () => {
  test("C.3: requests without Huffman share one dynamic table", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("828684410f7777772e6578616d706c652e636f6d"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ]);
    expect(d.decode(hex("828684be58086e6f2d6361636865"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ]);
    expect(d.decode(hex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"))).toEqual([
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ]);
  });

  test("C.4: the same requests with Huffman-coded strings", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"))[3]).toEqual([":authority", "www.example.com"]);
    expect(d.decode(hex("828684be5886a8eb10649cbf"))[4]).toEqual(["cache-control", "no-cache"]);
    expect(d.decode(hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"))[4]).toEqual([
      "custom-key",
      "custom-value",
    ]);
  });

  test("C.6: responses with Huffman strings evict from a 256-octet table", () => {
    const d = new HpackDecoder(256);
    expect(d.decode(hex(
      "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
    ))).toEqual([
      [":status", "302"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["location", "https://www.example.com"],
    ]);
    // ":status: 307" evicts ":status: 302"; the rest come from the dynamic table.
    expect(d.decode(hex("4883640effc1c0bf"))).toEqual([
      [":status", "307"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["location", "https://www.example.com"],
    ]);
    expect(d.decode(hex(
      "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
    ))).toEqual([
      [":status", "200"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
      ["location", "https://www.example.com"],
      ["content-encoding", "gzip"],
      ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
    ]);
  });

  test("Huffman: every printable ASCII string of the examples, and bad padding", () => {
    expect(text(huffmanDecode(hex("f1e3c2e5f23a6ba0ab90f4ff")))).toBe("www.example.com");
    expect(text(huffmanDecode(hex("a8eb10649cbf")))).toBe("no-cache");
    expect(() => huffmanDecode(hex("f1e3c2e5f23a6ba0ab90f400"))).toThrow(HpackError);
  });

  test("malformed blocks are HpackErrors, not crashes", () => {
    expect(() => new HpackDecoder().decode(hex("be"))).toThrow(HpackError); // empty dynamic table
    expect(() => new HpackDecoder().decode(hex("410f7777"))).toThrow(HpackError); // truncated string
    expect(() => new HpackDecoder().decode(hex("3fe21f"))).toThrow(HpackError); // table size 4097 > 4096
  });
});

describe("hpack encoder", () => {
  test("round-trips through the decoder, long values and non-ASCII included", () => {
    const fields: [string, string][] = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/etcdserverpb.KV/Put"],
      [":authority", "127.0.0.1:2379"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["token", "x".repeat(300)],
      ["x-note", "grüße"],
    ];
    const block = encodeHeaders(fields);
    expect(block[0]).toBe(0x83); // :method POST from the static table
    expect(new HpackDecoder().decode(block)).toEqual(fields);
  });
});

describe("hpack stateful encoder (grpc-go's way: indexing and Huffman)", () => {
  test("writes RFC 7541 C.4's requests byte for byte", () => {
    const enc = new HpackEncoder();
    const c41 = enc.encode([[":method", "GET"], [":scheme", "http"], [":path", "/"], [
      ":authority",
      "www.example.com",
    ]]);
    expect(c41).toEqual(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    const c42 = enc.encode([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ]);
    expect(c42).toEqual(hex("8286 84be 5886 a8eb 1064 9cbf"));
    const c43 = enc.encode([
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ]);
    expect(c43).toEqual(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"));
  });

  test("a decoder fed the same blocks in order reads every field back, through evictions", () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    for (let i = 0; i < 200; i++) {
      const fields: [string, string][] = [
        [":method", "POST"],
        [":path", "/etcdserverpb.KV/Put"],
        ["grpc-timeout", `${9_999_000 + i}u`],
        ["x-big", "v".repeat(i * 7)],
      ];
      expect(dec.decode(enc.encode(fields))).toEqual(fields);
    }
  });

  test("Huffman coding inverts decoding for every byte value", () => {
    for (let b = 0; b < 256; b++) {
      const bytes = Uint8Array.of(b, 255 - b, 0x61, b);
      expect(huffmanDecode(huffmanEncode(bytes))).toEqual(bytes);
    }
  });
});
