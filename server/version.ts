/**
 * The versions we report. We speak etcd's 3.5 wire API, so clients that gate features
 * on the server version (e.g. `etcdctl endpoint status`, Kubernetes) see 3.5.
 */
export const SERVER_VERSION = "3.5.0";
export const CLUSTER_VERSION = "3.5.0";
/** etcdts's own release, shown beside etcd's in `--version`. */
export const ETCDTS_VERSION = "0.1.0";
