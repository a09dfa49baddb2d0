/**
 * Another client's latency while a test abuses the server: a process of its own (so the
 * abusing test's own event loop cannot delay it) that sends a serializable Range every
 * few milliseconds until its stdin closes, then prints how long they took as JSON.
 * Run: `bun tests/abuse/latency_probe.ts HOST:PORT`; prints "ready" once the first answers.
 */
import { Client } from "../../client/client.ts";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";

const GAP_MS = 5;
const client = new Client({ endpoints: [process.argv[2]], callTimeoutMs: 30_000 });
const kv = client.service(KV);
const key = new TextEncoder().encode("latency-probe");
const ms: number[] = [];
let done = false;

async function loop(): Promise<void> {
  await kv.range({ key, serializable: true });
  console.log("ready");
  while (!done) {
    const t = performance.now();
    await kv.range({ key, serializable: true });
    ms.push(performance.now() - t);
    await Bun.sleep(GAP_MS); // a pacing gap between requests, not a wait for an event
  }
}

const running = loop();
for await (const _ of Bun.stdin.stream()) { /* runs until the test closes stdin */ }
done = true;
await running;
client.close();
ms.sort((a, b) => a - b);
const at = (q: number) => ms.length === 0 ? 0 : ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
console.log(JSON.stringify({ n: ms.length, p50: at(0.5), p99: at(0.99), max: at(1) }));
