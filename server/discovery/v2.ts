/**
 * v2 discovery (`--discovery URL`, `--discovery-proxy`), as etcd's v2discovery: the URL's
 * path is the token's directory on a v2 keys service (discovery.etcd.io, or any etcd
 * with `--enable-v2` at `http://host:2379/v2/keys/<dir>`). The size is at
 * `<dir>/_config/size`; each member creates `<dir>/<member ID in hex>` = `name=peerURL,...`;
 * the first `size` by creation index form the cluster.
 */
import { log } from "../log.ts";

/** v2discovery's errors, by their text. */
export const ERR_FULL_CLUSTER = "discovery: cluster is full";
export const ERR_DUPLICATE_ID = "discovery: found duplicate id";
export const ERR_DUPLICATE_NAME = "discovery: found duplicate name";
const ERR_SIZE_NOT_FOUND = "discovery: size key not found";
const ERR_BAD_SIZE_KEY = "discovery: size key is bad";
const ERR_INVALID_URL = "discovery: invalid URL";
const ERR_BAD_ENDPOINT = "discovery: bad discovery endpoint";

const MAX_EXPONENTIAL_RETRIES = 8;
/** client.DefaultRequestTimeout */
const REQUEST_TIMEOUT_MS = 5000;

interface Node {
  key: string;
  value?: string;
  createdIndex: number;
  modifiedIndex: number;
  nodes?: Node[];
}

/** A v2 keys API answer: the node, the store's index, or its error code. */
type Answer = { node: Node; index: number } | { errorCode: number };

/** The service did not answer usefully (retried), as clientv2's ClusterError. */
class Unreachable extends Error {}

/** Registers `self` ("name=peerURL,...") under `memberIdHex` and waits for the others. */
export async function joinV2Discovery(
  durl: string,
  proxy: string,
  memberIdHex: string,
  self: string,
): Promise<string | Error> {
  let u: URL;
  try {
    u = new URL(durl);
  } catch {
    return new Error(`parse ${JSON.stringify(durl)}: invalid URL`);
  }
  const proxyUrl = proxy === "" ? undefined : /^http/.test(proxy) ? proxy : `http://${proxy}`;
  if (proxyUrl !== undefined) log.info("running proxy with discovery", { "proxy-url": proxyUrl });
  const d = new V2Discovery(u.origin, u.pathname.replace(/\/$/, ""), memberIdHex, proxyUrl);
  return await d.join(self);
}

class V2Discovery {
  #retries = 0;

  constructor(
    readonly base: string,
    readonly cluster: string,
    readonly id: string,
    readonly proxy: string | undefined,
  ) {}

  get #selfKey(): string {
    return `${this.cluster}/${this.id}`;
  }

  /** The service's URL without the token, as etcd logs it. */
  get #url(): string {
    return this.base;
  }

  async join(self: string): Promise<string | Error> {
    const first = await this.#check();
    if (first instanceof Error) return first;
    const created = await this.#createSelf(self);
    if (created instanceof Error) return created;
    const then = await this.#check();
    if (then instanceof Error) return then;
    const all = await this.#waitNodes(then.nodes, then.size, then.index);
    if (all instanceof Error) return all;
    const values = all.map((n) => n.value ?? "");
    const text = values.join(",");
    if (!values.every((v) => v.split(",").every((p) => p.indexOf("=") > 0))) {
      return new Error(ERR_INVALID_URL);
    }
    const names = new Set(values.flatMap((v) => v.split(",").map((p) => p.slice(0, p.indexOf("=")))));
    return names.size !== then.size ? new Error(ERR_DUPLICATE_NAME) : text;
  }

  async #request(path: string, init: RequestInit = {}): Promise<Answer> {
    let r: Response;
    try {
      r = await fetch(this.base + path, {
        ...init,
        signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        proxy: this.proxy,
      } as RequestInit);
    } catch (e) {
      throw new Unreachable((e as Error).message);
    }
    if (r.status >= 500) throw new Unreachable(`${r.status} ${r.statusText}`);
    let body: { node?: Node; errorCode?: number };
    try {
      body = (await r.json()) as { node?: Node; errorCode?: number };
    } catch {
      return { errorCode: -1 }; // clientv2's ErrInvalidJSON
    }
    if (body.errorCode !== undefined) return { errorCode: body.errorCode };
    return { node: body.node!, index: Number(r.headers.get("x-etcd-index") ?? 0) };
  }

  async #check(): Promise<{ nodes: Node[]; size: number; index: number } | Error> {
    for (;;) {
      try {
        const sizeAnswer = await this.#request(`${this.cluster}/_config/size`);
        if ("errorCode" in sizeAnswer) {
          return new Error(sizeAnswer.errorCode === 100 ? ERR_SIZE_NOT_FOUND : ERR_BAD_ENDPOINT);
        }
        const text = sizeAnswer.node.value ?? "";
        const size = /^\d+$/.test(text) ? Number(text) : NaN;
        if (!Number.isSafeInteger(size)) return new Error(ERR_BAD_SIZE_KEY);
        const dir = await this.#request(this.cluster);
        if ("errorCode" in dir) return new Error(`discovery: error code ${dir.errorCode}`);
        this.#retries = 0;
        const nodes = (dir.node.nodes ?? []).filter((n) => !n.key.endsWith("/_config"))
          .sort((a, b) => a.createdIndex - b.createdIndex);
        const mine = nodes.findIndex((n) => n.key.endsWith(`/${this.id}`));
        if (mine < 0 ? nodes.length >= size : mine >= size) return new Error(ERR_FULL_CLUSTER);
        return { nodes, size, index: dir.index };
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e;
        log.warn("failed to get from discovery server", { "discovery-url": this.#url, error: e.message });
        await this.#backoff("cluster status check");
      }
    }
  }

  async #createSelf(contents: string): Promise<void | Error> {
    let created: Answer;
    try {
      created = await this.#request(`${this.#selfKey}?prevExist=false`, {
        method: "PUT",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ value: contents }).toString(),
      });
    } catch (e) {
      return e as Error;
    }
    if ("errorCode" in created) {
      return new Error(
        created.errorCode === 105 ? ERR_DUPLICATE_ID : `discovery: error code ${created.errorCode}`,
      );
    }
    // Ensure self appears on the server we asked, as etcd waits for it.
    const seen = await this.#watch(this.#selfKey, created.node.createdIndex, false);
    return seen instanceof Error ? seen : undefined;
  }

  /** One event at or after `waitIndex` under `key`. */
  async #watch(key: string, waitIndex: number, recursive: boolean): Promise<Node | Error> {
    const q = `?wait=true&waitIndex=${waitIndex}${recursive ? "&recursive=true" : ""}`;
    const a = await this.#request(key + q, { signal: AbortSignal.timeout(2 ** 31 - 1) });
    return "errorCode" in a ? new Error(`discovery: error code ${a.errorCode}`) : a.node;
  }

  async #waitNodes(nodes: Node[], size: number, index: number): Promise<Node[] | Error> {
    const all = nodes.slice(0, size);
    for (const n of all) {
      const self = n.key.endsWith(`/${this.id}`);
      log.info(self ? "found self from discovery server" : "found peer from discovery server", {
        "discovery-url": this.#url,
        [self ? "self" : "peer"]: n.key.slice(n.key.lastIndexOf("/") + 1),
      });
    }
    let next = index + 1;
    while (all.length < size) {
      log.info("found peers from discovery server; waiting for more", {
        "discovery-url": this.#url,
        "found-peers": all.length,
        "needed-peers": size - all.length,
      });
      let n: Node | Error;
      try {
        n = await this.#watch(this.cluster, next, true);
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e;
        await this.#backoff("waiting for other nodes");
        const again = await this.#check();
        if (again instanceof Error) return again;
        return await this.#waitNodes(again.nodes, again.size, again.index);
      }
      if (n instanceof Error) return n;
      next = n.modifiedIndex + 1;
      log.info("found peer from discovery server", {
        "discovery-url": this.#url,
        peer: n.key.slice(n.key.lastIndexOf("/") + 1),
      });
      all.push(n);
    }
    log.info("found all needed peers from discovery server", {
      "discovery-url": this.#url,
      "found-peers": all.length,
    });
    return all;
  }

  async #backoff(step: string): Promise<void> {
    this.#retries++;
    const seconds = 2 ** Math.min(this.#retries, MAX_EXPONENTIAL_RETRIES);
    log.info("retry connecting to discovery service", {
      url: this.#url,
      reason: step,
      backoff: `${seconds}s`,
    });
    await Bun.sleep(seconds * 1000);
  }
}
