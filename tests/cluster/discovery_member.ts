/** A new member's flags for the discovery tests: loopback ports, fast elections, and how it discovers. */
import path from "node:path";
import { freePort } from "../harness.ts";

export interface MemberPorts {
  readonly peer: number;
  readonly client: number;
}

export async function memberPorts(): Promise<MemberPorts> {
  return { peer: await freePort(), client: await freePort() };
}

/** `etcd`/`etcdts serve` flags for member `name` in `dir`, then `more` (the discovery flags). */
export function memberArgs(name: string, ports: MemberPorts, dir: string, more: readonly string[]): string[] {
  const clientUrl = `http://127.0.0.1:${ports.client}`;
  return [
    "--name",
    name,
    "--data-dir",
    path.join(dir, name),
    "--listen-client-urls",
    clientUrl,
    "--advertise-client-urls",
    clientUrl,
    "--listen-peer-urls",
    `http://127.0.0.1:${ports.peer}`,
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${ports.peer}`,
    "--heartbeat-interval",
    "50",
    "--election-timeout",
    "500",
    ...more,
  ];
}
