/**
 * Pass-through forwarding: a service implementation whose every method makes the same
 * call upstream with our gRPC client and hands back what comes back, errors included
 * (etcd's grpcproxy does this for maintenance, auth, lock and election; the other
 * services wrap it with what they add). The caller's auth token travels with the call.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { Client } from "../../client/client.ts";
import { GrpcError } from "../../client/status.ts";
import { Code, type EtcdError, etcdError } from "../../api/errors.ts";
import type { CallContext, ServiceImpl, StreamSink } from "../grpc/server.ts";
import type { CallOptions } from "../../client/client.ts";

/** An upstream failure as the error value our server answers with (same code and text). */
export function upstreamError(e: unknown): EtcdError {
  if (e instanceof GrpcError && e.code !== 0) return etcdError(e.code as Exclude<Code, 0>, e.message);
  return etcdError(Code.Unavailable, e instanceof Error ? e.message : String(e));
}

/** The per-call options that carry the caller's identity and cancellation upstream. */
export function upstreamCall(ctx: CallContext): CallOptions {
  const token = ctx.headers.token;
  return {
    signal: ctx.signal,
    metadata: typeof token === "string" ? { token } : undefined,
  };
}

/** Copies every upstream response of `responses` to `out`, honouring backpressure. */
export async function pipeResponses<O>(
  responses: AsyncIterable<O>,
  out: StreamSink<O>,
): Promise<EtcdError | void> {
  try {
    for await (const msg of responses) {
      if (out.closed) return;
      if (!out.send(msg)) await out.drained();
    }
  } catch (e) {
    return upstreamError(e);
  }
}

function forwardMethod(client: Client, m: DescMethod): unknown {
  if (m.methodKind === "unary") {
    return async (req: never, ctx: CallContext) => {
      try {
        return await client.unary(m, req, upstreamCall(ctx));
      } catch (e) {
        return upstreamError(e);
      }
    };
  }
  if (m.methodKind === "server_streaming") {
    return (req: never, out: StreamSink<unknown>, ctx: CallContext) =>
      pipeResponses(client.serverStream(m, req, upstreamCall(ctx)), out);
  }
  return async (input: AsyncIterable<never>, out: StreamSink<unknown>, ctx: CallContext) => {
    const upstream = client.bidiStream(m, upstreamCall(ctx));
    const requests = (async () => {
      for await (const req of input) await upstream.send(req);
      upstream.closeSend();
    })().catch(() => upstream.cancel());
    const r = await pipeResponses(upstream, out);
    upstream.cancel();
    await requests;
    return r;
  };
}

/** A service implementation that forwards every method of `service` through `client`. */
export function forwardService<T extends GenServiceMethods>(
  service: GenService<T>,
  client: Client,
): ServiceImpl<T> {
  const impl: Record<string, unknown> = {};
  for (const m of (service as unknown as DescService).methods) impl[m.localName] = forwardMethod(client, m);
  return impl as ServiceImpl<T>;
}
