/**
 * v3 discovery (etcd 3.6's `--discovery-token` + `--discovery-endpoints`): members of a new
 * cluster meet through keys on any etcd v3 cluster, as etcd's v3discovery package lays them
 * out: the expected size at `/_etcd/registry/<token>/_config/size`, each member's
 * `name=peerURL,...` at `/_etcd/registry/<token>/members/<member ID in hex>`. The first
 * `size` members by creation revision form the cluster; a later one finds it full.
 */
import { KV, Watch } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Event_EventType } from "../../proto/gen/mvccpb/kv_pb.ts";
import { Client } from "../../client/mod.ts";
import { prefixEnd } from "../../api/keys.ts";
import { log } from "../log.ts";

/** The discovery service and how to reach it (the `--discovery-*` flags). */
export interface V3DiscoveryConfig {
  readonly token: string;
  readonly endpoints: readonly string[];
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly insecureTransport: boolean;
  readonly insecureSkipTlsVerify: boolean;
  /** File paths, "" when not given. */
  readonly cert: string;
  readonly key: string;
  readonly cacert: string;
  readonly user: string;
  readonly password: string;
}

/** v3discovery's errors, by their text. */
export const ERR_FULL_CLUSTER = "discovery: cluster is full";
const ERR_SIZE_NOT_FOUND = "discovery: size key not found";
const ERR_BAD_SIZE_KEY = "discovery: size key is bad";
const ERR_INVALID_URL = "discovery: invalid peer URL";

/** Backoff doubles per retry up to 2^8 s, as etcd's. */
const MAX_EXPONENTIAL_RETRIES = 8;

interface Registered {
  readonly key: string;
  readonly value: string;
  readonly createRev: bigint;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Registers this member (`self` is its "name=peerURL,..." entry) and waits until the
 * cluster's size of members have; the initial cluster string, or etcd's error.
 */
export async function joinDiscoveryCluster(
  cfg: V3DiscoveryConfig,
  memberIdHex: string,
  self: string,
  readFile: (path: string) => string,
): Promise<string | Error> {
  const fields = { "discovery-token": cfg.token, "discovery-endpoints": cfg.endpoints.join(",") };
  const client = new Client({
    endpoints: cfg.endpoints.map((
      e,
    ) => (/^[a-z]+:\/\//.test(e) ? e : `${secure(cfg) ? "https" : "http"}://${e}`)),
    dialTimeoutMs: cfg.dialTimeoutMs,
    callTimeoutMs: cfg.requestTimeoutMs,
    keepAliveTimeMs: cfg.keepAliveTimeMs,
    keepAliveTimeoutMs: cfg.keepAliveTimeoutMs,
    tls: {
      ca: cfg.cacert !== "" ? readFile(cfg.cacert) : undefined,
      cert: cfg.cert !== "" ? readFile(cfg.cert) : undefined,
      key: cfg.key !== "" ? readFile(cfg.key) : undefined,
      insecureSkipVerify: cfg.insecureSkipTlsVerify,
    },
    user: cfg.user !== "" ? credentials(cfg) : undefined,
  });
  const d = new Discovery(client, cfg.token, memberIdHex, fields);
  try {
    const cluster = await d.join(self);
    if (cluster instanceof Error) {
      log.error("discovery failed to join cluster", { ...fields, cluster: "", error: cluster.message });
    } else log.info("discovery joined cluster successfully", { ...fields, cluster });
    return cluster;
  } finally {
    client.close();
  }
}

function secure(cfg: V3DiscoveryConfig): boolean {
  return !cfg.insecureTransport || cfg.cert !== "" || cfg.key !== "" || cfg.cacert !== "";
}

/** clientv3's "user:password" or --discovery-password. */
function credentials(cfg: V3DiscoveryConfig): { name: string; password: string } {
  if (cfg.password !== "") return { name: cfg.user, password: cfg.password };
  const colon = cfg.user.indexOf(":");
  return colon < 0
    ? { name: cfg.user, password: "" }
    : { name: cfg.user.slice(0, colon), password: cfg.user.slice(colon + 1) };
}

class Discovery {
  #retries = 0;
  readonly #prefix: string;

  constructor(
    readonly client: Client,
    readonly token: string,
    readonly memberIdHex: string,
    readonly fields: Record<string, string>,
  ) {
    this.#prefix = `/_etcd/registry/${token}/members`;
  }

  async join(self: string): Promise<string | Error> {
    const before = await this.#check();
    if (before instanceof Error) return before;
    await this.#register(self);
    const after = await this.#check();
    if (after instanceof Error) return after;
    const { members, size, rev } = after;
    if (members.length < size) await this.#waitPeers(members, size, rev);
    const cluster = members.slice(0, size).map((m) => m.value).join(",");
    return cluster.split(",").every((p) => p.indexOf("=") > 0) ? cluster : new Error(ERR_INVALID_URL);
  }

  /** The registered members (by creation) and the size, or an error when they are no use. */
  async #check(): Promise<{ members: Registered[]; size: number; rev: bigint } | Error> {
    for (;;) {
      const size = await this.#size();
      if (size instanceof Error) return size;
      if (size !== null) {
        const got = await this.#members();
        if (got !== null) {
          this.#retries = 0;
          const mine = got.members.findIndex((m) => m.key === `${this.#prefix}/${this.memberIdHex}`);
          // Registered beyond the first `size`, or not registered while they are taken.
          const full = mine < 0 ? got.members.length >= size : mine >= size;
          return full ? new Error(ERR_FULL_CLUSTER) : { ...got, size };
        }
      }
      await this.#backoff("cluster status check");
    }
  }

  /** The size key's number; null when the service did not answer (retry). */
  async #size(): Promise<number | Error | null> {
    const key = `/_etcd/registry/${this.token}/_config/size`;
    try {
      const r = await this.client.service(KV).range({ key: enc.encode(key) });
      if (r.kvs.length === 0) return new Error(ERR_SIZE_NOT_FOUND);
      const text = dec.decode(r.kvs[0].value);
      const n = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
      return Number.isSafeInteger(n) && n > 0 ? n : new Error(ERR_BAD_SIZE_KEY);
    } catch (e) {
      log.warn("failed to get cluster size from discovery service", {
        ...this.fields,
        clusterSizeKey: key,
        error: (e as Error).message,
      });
      return null;
    }
  }

  async #members(): Promise<{ members: Registered[]; rev: bigint } | null> {
    const key = enc.encode(this.#prefix);
    try {
      const r = await this.client.service(KV).range({ key, rangeEnd: prefixEnd(key) });
      const members: Registered[] = [];
      for (const kv of r.kvs) {
        this.#add(members, dec.decode(kv.key).trim(), dec.decode(kv.value).trim(), kv.createRevision);
      }
      return { members, rev: r.header!.revision };
    } catch (e) {
      log.warn("failed to get cluster members from discovery service", {
        ...this.fields,
        membersKeyPrefix: this.#prefix,
        error: (e as Error).message,
      });
      return null;
    }
  }

  /** cls.add: keeps members sorted by creation revision, skipping what is not a member. */
  #add(members: Registered[], key: string, value: string, createRev: bigint): void {
    const problem = !key.startsWith(this.#prefix)
      ? "invalid peer registry key"
      : !value.includes("=")
      ? "invalid peer info returned from discovery service"
      : members.some((m) => m.key === key)
      ? "found duplicate peer from discovery service"
      : null;
    if (problem !== null) {
      log.warn(problem, { ...this.fields, memberKey: key, memberInfo: value });
      return;
    }
    members.push({ key, value, createRev });
    members.sort((a, b) => (a.createRev < b.createRev ? -1 : a.createRev > b.createRev ? 1 : 0));
    log.info("found peer from discovery service", { ...this.fields, memberKey: key, memberInfo: value });
  }

  async #register(contents: string): Promise<void> {
    const key = `${this.#prefix}/${this.memberIdHex}`;
    for (;;) {
      try {
        await this.client.service(KV).put({ key: enc.encode(key), value: enc.encode(contents) });
        this.#retries = 0;
        log.info("register member itself successfully", {
          ...this.fields,
          memberKey: key,
          memberInfo: contents,
        });
        return;
      } catch (e) {
        log.warn("failed to register members itself to the discovery service", {
          ...this.fields,
          memberKey: key,
          error: (e as Error).message,
        });
        await this.#backoff("register member itself");
      }
    }
  }

  /** Watches the members' prefix from after `rev` until `size` have registered. */
  async #waitPeers(members: Registered[], size: number, rev: bigint): Promise<void> {
    log.info("waiting for peers from discovery service", {
      ...this.fields,
      clusterSize: size,
      "found-peers": members.length,
    });
    const key = enc.encode(this.#prefix);
    while (members.length < size) {
      const watch = this.client.service(Watch).watch();
      try {
        await watch.send({
          requestUnion: {
            case: "createRequest",
            value: { key, rangeEnd: prefixEnd(key), startRevision: rev + 1n },
          },
        });
        for await (const resp of watch) {
          for (const ev of resp.events) {
            const kv = ev.kv!;
            // A deleted key has no value: etcd's check calls it invalid peer info.
            const value = ev.type === Event_EventType.DELETE ? "" : dec.decode(kv.value).trim();
            this.#add(members, dec.decode(kv.key).trim(), value, kv.createRevision);
            if (kv.modRevision > rev) rev = kv.modRevision;
          }
          if (members.length >= size) break;
        }
      } catch {
        await this.#backoff("wait for peers");
      } finally {
        watch.cancel();
      }
    }
    log.info("found all needed peers from discovery service", {
      ...this.fields,
      clusterSize: size,
      "found-peers": members.length,
    });
  }

  async #backoff(step: string): Promise<void> {
    this.#retries++;
    const seconds = 2 ** Math.min(this.#retries, MAX_EXPONENTIAL_RETRIES);
    log.warn("retry connecting to discovery service", {
      ...this.fields,
      reason: step,
      backoff: `${seconds}s`,
    });
    await Bun.sleep(seconds * 1000);
  }
}
