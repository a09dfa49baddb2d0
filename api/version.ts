/**
 * The versions etcdts reports, one story for server and CLI alike (hence here, shared by
 * both): it behaves as etcd 3.4.23 does (the release it is tested against), so the
 * server's /version, Status.version, metrics and `serve --version` say 3.4.23 (cluster
 * 3.4.0), and the CLI says what etcdctl 3.4.23 says. etcdts's own release is reported
 * beside those, on a line of its own.
 */
import pkg from "../package.json" with { type: "json" };

/** The etcd release whose behaviour etcdts matches. */
export const SERVER_VERSION = "3.4.23";
/** The cluster version an etcd 3.4 cluster reports (major.minor.0). */
export const CLUSTER_VERSION = "3.4.0";
/** The etcd API version, as etcdctl's "API version" line shows it. */
export const API_VERSION = "3.4";
/** etcdts's own release. */
export const ETCDTS_VERSION: string = pkg.version;
