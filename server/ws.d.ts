/** Types for the parts of `ws` server/upgrade.ts uses: Bun has it built in, without types. */
declare module "ws" {
  import type * as http from "node:http";
  import type { Duplex } from "node:stream";

  export interface WebSocket {
    /** 0 connecting, 1 open, 2 closing, 3 closed. */
    readonly readyState: number;
    on(event: "message", listener: (data: Buffer | ArrayBuffer | Buffer[]) => void): unknown;
    on(event: "close", listener: () => void): unknown;
    on(event: "error", listener: (err: Error) => void): unknown;
    send(data: string, done: (err?: Error) => void): void;
    /** Stops and restarts reading the socket (messages stop arriving meanwhile). */
    pause(): void;
    resume(): void;
    terminate(): void;
  }

  export class WebSocketServer {
    constructor(opts: {
      noServer: true;
      handleProtocols?: (offered: Set<string>, req: http.IncomingMessage) => string | false;
    });
    handleUpgrade(
      req: http.IncomingMessage,
      socket: Duplex,
      head: Buffer,
      done: (ws: WebSocket) => void,
    ): void;
  }
}
