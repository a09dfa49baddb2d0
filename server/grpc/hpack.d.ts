/** Types for the part of hpack.js that server/grpc/authority.ts uses (it ships none). */
declare module "hpack.js" {
  interface HpackHeader {
    name: string;
    value: string;
    incremental?: boolean;
    huffman?: boolean;
  }
  interface HpackOptions {
    table: { size: number };
  }
  interface Decompressor {
    write(b: Uint8Array): boolean;
    execute(): void;
    read(): HpackHeader | null;
  }
  interface Compressor {
    write(headers: HpackHeader[]): boolean;
    read(): Buffer | null;
  }
  const hpack: {
    decompressor: { create(o: HpackOptions): Decompressor };
    compressor: { create(o: HpackOptions): Compressor };
  };
  export default hpack;
}
