/**
 * Small helpers for the gateway tests: POST JSON, read NDJSON streams, normalise ids, and
 * the cross-check of transcripts recorded against etcdts and the real etcd.
 */
import { expect, test } from "bun:test";

/** A response as the tests compare it. */
export interface Answer {
  readonly status: number;
  readonly body: string;
}

/** POSTs `body` (a string is sent as is) and returns status and text. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const r = await fetch(url, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, body: await r.text() };
}

/** Reads the first `n` lines of a streamed response, then hangs up (a string body is sent as is). */
export async function streamLines(
  url: string,
  body: unknown,
  n: number,
): Promise<{ status: number; lines: string[] }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10_000);
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const r = await fetch(url, { method: "POST", body: text, signal: ac.signal });
  try {
    return { status: r.status, lines: await readLines(r.body as ReadableStream<Uint8Array>, n) };
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

/** The first `n` lines of a byte stream (fewer, the last one unfinished, if it ends first). */
export async function readLines(stream: ReadableStream<Uint8Array>, n: number): Promise<string[]> {
  const lines: string[] = [];
  let buf = "";
  const dec = new TextDecoder();
  try {
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0 && lines.length < n) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (lines.length >= n) return lines;
    }
  } catch {
    // aborted: what arrived is the answer
  }
  if (buf !== "") lines.push(buf);
  return lines;
}

/**
 * Replaces what differs between two servers by construction (cluster/member IDs, raft term)
 * so their JSON can be compared byte for byte.
 */
export function normalise(json: string, ids: { member: string; cluster: string }): string {
  return json
    .replaceAll(ids.member, "<member>")
    .replaceAll(ids.cluster, "<cluster>")
    .replace(/"raft_term":"\d+"/g, '"raft_term":"<term>"')
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, "<url>");
}

/** base64 of a UTF-8 string, as the gateway's bytes fields want. */
export function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

/** Per target: step name → normalised answer. */
export type Transcripts = Map<string, Map<string, string>>;

/** When both servers ran: a test that every step answered the same on both. */
export function sameTranscripts(title: string, transcripts: Transcripts): void {
  if (transcripts.size !== 2) return;
  test(title, () => {
    const ours = transcripts.get("etcdts")!;
    const theirs = transcripts.get("etcd")!;
    expect([...ours.keys()]).toEqual([...theirs.keys()]);
    for (const [name, answer] of theirs) expect(`${name}: ${ours.get(name)}`).toBe(`${name}: ${answer}`);
  });
}
