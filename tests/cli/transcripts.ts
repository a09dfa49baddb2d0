/**
 * CLI transcripts: what a script sees from etcdctl 3.4.23. Both our CLI and the real
 * etcdctl must produce exactly this against a fresh server. Each transcript uses its own
 * keys; revisions are relative to the revision before it ({{rev+N}}).
 */
import type { Transcript } from "./runner.ts";

const hdr =
  '"header":{"cluster_id":{{cluster_id}},"member_id":{{member_id}},"revision":{{rev+N}},"raft_term":2}';

function header(n: number): string {
  return hdr.replace("N", String(n));
}

const notSimple = "Error: print-value-only is only for `--write-out=simple`\n";
const tooMany =
  "Error: too many arguments, only accept one argument when `--prefix` or `--from-key` is set\n";
const both = "Error: `--prefix` and `--from-key` cannot be set at the same time, choose one\n";

export const transcripts: Transcript[] = [
  {
    name: "put and get",
    steps: [
      { args: ["put", "pg/a", "1"], out: "OK\n" },
      { args: ["put", "pg/b", "2"], out: "OK\n" },
      { args: ["get", "pg/a"], out: "pg/a\n1\n" },
      { args: ["get", "pg/missing"], out: "" },
      { args: ["get", "pg/", "--prefix"], out: "pg/a\n1\npg/b\n2\n" },
      { args: ["get", "pg/a", "pg/c"], out: "pg/a\n1\npg/b\n2\n" },
      { args: ["get", "pg/b", "--from-key", "--limit", "1"], out: "pg/b\n2\n" },
      { args: ["get", "pg/", "--prefix", "--keys-only"], out: "pg/a\n\npg/b\n\n" },
      { args: ["get", "pg/", "--prefix", "--print-value-only"], out: "1\n2\n" },
      { args: ["get", "pg/", "--prefix", "--sort-by=key", "--order=descend"], out: "pg/b\n2\npg/a\n1\n" },
      {
        args: ["get", "pg/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND", "--limit=1"],
        out: "pg/b\n2\n",
      },
      { args: ["get", "pg/a", "--hex"], out: "\\x70\\x67\\x2f\\x61\n\\x31\n" },
      { args: ["get", "pg/a", "--consistency=s"], out: "pg/a\n1\n" },
      { args: ["put", "pg/a", "3", "--prev-kv"], out: "OK\npg/a\n1\n" },
      { args: ["get", "pg/a", "--rev={{rev+1}}"], out: "pg/a\n1\n" },
      { args: ["get", "pg/b", "--rev", "{{rev+1}}"], out: "" },
      {
        args: ["get", "pg/a", "-w", "json"],
        out: `{${
          header(3)
        },"kvs":[{"key":"cGcvYQ==","create_revision":{{rev+1}},"mod_revision":{{rev+3}},"version":2,"value":"Mw=="}],"count":1}\n`,
      },
      { args: ["get", "pg/none", "-w=json"], out: `{${header(3)}}\n` },
      {
        args: ["get", "pg/a", "-wfields"],
        out:
          '"ClusterID" : {{cluster_id}}\n"MemberID" : {{member_id}}\n"Revision" : {{rev+3}}\n"RaftTerm" : 2\n' +
          '"Key" : "pg/a"\n"CreateRevision" : {{rev+1}}\n"ModRevision" : {{rev+3}}\n"Version" : 2\n"Value" : "3"\n' +
          '"Lease" : 0\n"More" : false\n"Count" : 1\n',
      },
      {
        args: ["put", "pg/a", "4", "-w", "json", "--prev-kv"],
        out: `{${
          header(4)
        },"prev_kv":{"key":"cGcvYQ==","create_revision":{{rev+1}},"mod_revision":{{rev+3}},"version":2,"value":"Mw=="}}\n`,
      },
      { args: ["get", "pg/a", "-w", "table"], err: "Error: table not supported as output format\n", code: 4 },
      { args: ["get", "pg/a", "-w", "yaml"], err: "Error: unsupported output format\n", code: 4 },
      { args: ["get", "pg/a", "-w", "json", "--print-value-only"], err: notSimple, code: 128 },
      {
        args: ["get"],
        err: "Error: get command needs one argument as key and an optional argument as range_end\n",
        code: 128,
      },
      { args: ["get", "pg/", "x", "--prefix"], err: tooMany, code: 128 },
      { args: ["get", "pg/", "--prefix", "--from-key"], err: both, code: 128 },
      { args: ["get", "pg/a", "--consistency=x"], err: 'Error: unknown consistency flag "x"\n', code: 4 },
      { args: ["get", "pg/a", "--order=up"], err: "Error: bad sort order up\n", code: 4 },
      { args: ["get", "pg/a", "--sort-by=size"], err: "Error: bad sort target size\n", code: 4 },
      {
        args: ["get", "pg/a", "--rev=100000"],
        err: "Error: etcdserver: mvcc: required revision is a future revision\n",
        code: 1,
      },
    ],
  },
  {
    name: "put arguments and stdin",
    steps: [
      { args: ["put", "ps/in"], stdin: "from stdin\n", out: "OK\n" },
      { args: ["get", "ps/in", "--print-value-only"], out: "from stdin\n\n" },
      { args: ["put", "ps/dash", "--", "-v"], out: "OK\n" },
      { args: ["put", "--", "ps/dash2", "-x"], out: "OK\n" },
      { args: ["get", "ps/dash", "--prefix"], out: "ps/dash\n-v\nps/dash2\n-x\n" },
      {
        args: ["put"],
        err: "Error: put command needs 1 argument and input from stdin or 2 arguments\n",
        code: 128,
      },
      {
        args: ["put", "ps/k"],
        stdin: "",
        err: "Error: put command needs 1 argument and input from stdin or 2 arguments\n",
        code: 128,
      },
      {
        args: ["put", "ps/k", "v", "--ignore-value"],
        err: "Error: put command needs only 1 argument when 'ignore-value' is set\n",
        code: 128,
      },
      {
        args: ["put", "ps/k", "v", "--lease=zz"],
        err: 'Error: bad lease ID (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex\n',
        code: 128,
      },
      { args: ["put", "ps/nokey", "--ignore-value"], err: "Error: etcdserver: key not found\n", code: 1 },
      { args: ["put", "ps/in", "--ignore-value"], out: "OK\n" },
      {
        args: ["put", "ps/k", "v", "--lease=1234"],
        err: "Error: etcdserver: requested lease not found\n",
        code: 1,
      },
      { args: ["put", "ps/utf", "ü €"], out: "OK\n" },
      { args: ["get", "ps/utf", "-w", "fields"], out: /"Value" : "ü €"\n/ },
    ],
  },
  {
    name: "del",
    steps: [
      { args: ["put", "dl/a", "1"], out: "OK\n" },
      { args: ["put", "dl/b", "2"], out: "OK\n" },
      { args: ["put", "dl/c", "3"], out: "OK\n" },
      { args: ["del", "dl/a"], out: "1\n" },
      { args: ["del", "dl/a"], out: "0\n" },
      {
        args: ["del", "dl/b", "--prev-kv", "-w", "json"],
        out: /^\{"header":.*"deleted":1,"prev_kvs":\[\{"key":"ZGwvYg==".*\}\]\}\n$/,
      },
      { args: ["put", "dl/b", "2"], out: "OK\n" },
      { args: ["del", "dl/", "--prefix", "--prev-kv"], out: "2\ndl/b\n2\ndl/c\n3\n" },
      {
        args: ["del"],
        err: "Error: del command needs one argument as key and an optional argument as range_end\n",
        code: 128,
      },
      {
        args: ["del", "a", "b", "c"],
        err: "Error: del command needs one argument as key and an optional argument as range_end\n",
        code: 128,
      },
      { args: ["del", "dl/", "--prefix", "--from-key"], err: both, code: 128 },
      { args: ["del", "dl/", "x", "--from-key"], err: tooMany, code: 128 },
    ],
  },
  {
    name: "txn",
    steps: [
      { args: ["put", "tx/k", "v1"], out: "OK\n" },
      {
        args: ["txn"],
        stdin: 'value("tx/k") = "v1"\n\nput tx/k v2\nget tx/k\n\nput tx/k never\n\n',
        out: "SUCCESS\n\nOK\n\ntx/k\nv2\n",
      },
      {
        args: ["txn", "-i"],
        stdin: 'mod("tx/k") < "{{rev+1}}"\nver("tx/k") = "2"\n\nput tx/k no\n\ndel tx/k --prev-kv\n\n',
        out:
          "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nFAILURE\n\n1\ntx/k\nv2\n",
      },
      {
        args: ["txn", "-w", "json"],
        stdin: '\nput tx/j "a b"\n\n\n',
        out: `{${
          header(4)
        },"succeeded":true,"responses":[{"Response":{"ResponsePut":{"header":{"revision":{{rev+4}}}}}}]}\n`,
      },
      {
        args: ["txn", "-w", "fields"],
        stdin: 'c("tx/j") > "0"\n\nget tx/j\n\n\n',
        out:
          '"ClusterID" : {{cluster_id}}\n"MemberID" : {{member_id}}\n"Revision" : {{rev+4}}\n"RaftTerm" : 2\n' +
          '"Succeeded" : true\n"ClusterID" : 0\n"MemberID" : 0\n"Revision" : {{rev+4}}\n"RaftTerm" : 0\n' +
          '"Key" : "tx/j"\n"CreateRevision" : {{rev+4}}\n"ModRevision" : {{rev+4}}\n"Version" : 1\n' +
          '"Value" : "a b"\n"Lease" : 0\n"More" : false\n"Count" : 1\n',
      },
      {
        args: ["txn"],
        stdin: 'mod("tx/k") > 0\n\n',
        err: 'Error: malformed comparison: mod("tx/k") > 0; got mod("tx/k") > ""\n',
        code: 3,
      },
      {
        args: ["txn"],
        stdin: 'foo("tx/k") > "0"\n\n',
        err: 'Error: malformed comparison: foo("tx/k") > "0" (unknown target foo)\n',
        code: 3,
      },
      { args: ["txn"], stdin: "nope\n\n", err: "Error: malformed comparison: nope\n", code: 3 },
      {
        args: ["txn"],
        stdin: 'ver("tx/k") = "x"\n\n',
        err: 'Error: invalid txn compare request: ver("tx/k") = "x"\n',
        code: 3,
      },
      { args: ["txn"], stdin: "\nput tx/k v\n\n", err: "Error: EOF\n", code: 3 },
      { args: ["txn"], stdin: "\nget\n\n\n", err: "Error: invalid txn compare request: get\n", code: 3 },
      { args: ["txn"], stdin: "\nwat tx/k\n\n\n", err: "Error: invalid txn request: wat tx/k\n", code: 3 },
      {
        args: ["txn"],
        stdin: "\nput a\n\n\n",
        err: "Error: put command needs 1 argument and input from stdin or 2 arguments\n",
        code: 128,
      },
      { args: ["txn", "x"], err: "Error: txn command does not accept argument\n", code: 128 },
      {
        args: ["txn"],
        // etcdctl's argify slices single-quoted words by the number of words (3): 'bcd' → "b"
        stdin: "\nput tx/q 'bcd'\n\n\n",
        out: "SUCCESS\n\nOK\n",
      },
      { args: ["get", "tx/q"], out: "tx/q\nb\n" },
    ],
  },
  {
    name: "compaction",
    steps: [
      { args: ["put", "cp/a", "1"], out: "OK\n" },
      { args: ["put", "cp/a", "2"], out: "OK\n" },
      { args: ["compaction", "{{rev+2}}"], out: "compacted revision {{rev+2}}\n" },
      {
        args: ["get", "cp/a", "--rev={{rev+1}}"],
        err: "Error: etcdserver: mvcc: required revision has been compacted\n",
        code: 1,
      },
      { args: ["get", "cp/a", "--rev={{rev+2}}"], out: "cp/a\n2\n" },
      {
        args: ["compaction", "--physical", "{{rev+1}}"],
        err: "Error: etcdserver: mvcc: required revision has been compacted\n",
        code: 1,
      },
      { args: ["compaction"], err: "Error: compaction command needs 1 argument\n", code: 128 },
      {
        args: ["compaction", "abc"],
        err: 'Error: strconv.ParseInt: parsing "abc": invalid syntax\n',
        code: 1,
      },
    ],
  },
  {
    name: "flag parsing",
    steps: [
      { args: ["put", "fp/a", "1"], out: "OK\n" },
      { args: ["get", "--prefix=false", "fp/a"], out: "fp/a\n1\n" },
      { args: ["get", "fp/a", "--prefix", "false"], err: tooMany, code: 128 },
      { args: ["get", "fp/a", "--prefix=true", "--print-value-only=1"], out: "1\n" },
      { args: ["-w", "json", "get", "fp/none"], out: /^\{"header":\{"cluster_id":\d+/ },
      { args: ["--write-out=fields", "get", "--keys-only", "fp/a"], out: /"Key" : "fp\/a"\n/ },
      { args: ["ge", "fp/a"], out: "fp/a\n1\n" },
      { args: ["get", "fp/a", "--limit", "0x1"], out: "fp/a\n1\n" },
      {
        args: ["get", "fp/a", "--bogus"],
        out: /^NAME:\n\tget - Gets the key or a range of keys\n/,
        err: "Error: unknown flag: --bogus\n\nError: unknown flag: --bogus\n",
        code: 1,
      },
      {
        args: ["get", "fp/a", "-x"],
        out: /^NAME:/,
        err: "Error: unknown shorthand flag: 'x' in -x\n\nError: unknown shorthand flag: 'x' in -x\n",
        code: 1,
      },
      {
        args: ["get", "fp/a", "-w"],
        out: /^NAME:/,
        err: "Error: flag needs an argument: 'w' in -w\n\nError: flag needs an argument: 'w' in -w\n",
        code: 1,
      },
      {
        args: ["get", "fp/a", "--limit"],
        out: /^NAME:/,
        err: "Error: flag needs an argument: --limit\n\nError: flag needs an argument: --limit\n",
        code: 1,
      },
      {
        args: ["get", "fp/a", "--limit", "abc"],
        out: /^NAME:/,
        err:
          'Error: invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax\n\n' +
          'Error: invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax\n',
        code: 1,
      },
      {
        args: ["get", "fp/a", "--prefix=maybe"],
        out: /^NAME:/,
        err:
          'Error: invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n\n' +
          'Error: invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n',
        code: 1,
      },
      {
        args: ["get", "fp/a", "--dial-timeout=5"],
        out: /^NAME:/,
        err: 'Error: invalid argument "5" for "--dial-timeout" flag: time: missing unit in duration "5"\n\n' +
          'Error: invalid argument "5" for "--dial-timeout" flag: time: missing unit in duration "5"\n',
        code: 1,
      },
      {
        args: ["get", "fp/a", "-w", "json", "--command-timeout=1x"],
        out: /^NAME:/,
        err:
          /^Error: invalid argument "1x" for "--command-timeout" flag: time: unknown unit "?x"? in duration "1x"\n/,
        code: 1,
      },
      {
        args: ["foo"],
        err: 'Error: unknown command "foo" for "etcdctl"\nRun \'etcdctl --help\' for usage.\n' +
          'Error: unknown command "foo" for "etcdctl"\n',
        code: 1,
      },
      {
        args: ["gte", "fp/a"],
        err: 'Error: unknown command "gte" for "etcdctl"\n\nDid you mean this?\n\tget\n\n' +
          "Run 'etcdctl --help' for usage.\n" +
          'Error: unknown command "gte" for "etcdctl"\n\nDid you mean this?\n\tget\n\n',
        code: 1,
      },
      {
        args: ["--bogus", "get", "fp/a"],
        err: 'Error: unknown command "fp/a" for "etcdctl"\nRun \'etcdctl --help\' for usage.\n' +
          'Error: unknown command "fp/a" for "etcdctl"\n',
        code: 1,
      },
      {
        args: ["get", "fp/a", "--dial-timeout", "3s", "--command-timeout=4s", "--keepalive-time=30s"],
        out: "fp/a\n1\n",
      },
      { args: ["get", "fp/a", "--debug"], out: "fp/a\n1\n", err: /ETCDCTL_DIAL_TIMEOUT=2s\n/ },
      { args: ["member"], out: /^NAME:\n\tmember - Membership related commands\n/ },
      { args: ["endpoint", "nope"], out: /^NAME:\n\tendpoint - Endpoint related commands\n/ },
    ],
  },
  {
    name: "environment",
    steps: [
      { args: ["put", "ev/a", "1"], out: "OK\n" },
      { raw: true, args: ["get", "ev/a"], env: { ETCDCTL_ENDPOINTS: "{{ep}}" }, out: "ev/a\n1\n" },
      { args: ["get", "ev/a"], env: { ETCDCTL_WRITE_OUT: "fields" }, out: /"Key" : "ev\/a"/ },
      { args: ["get", "ev/a"], env: { ETCDCTL_HEX: "true" }, out: "\\x65\\x76\\x2f\\x61\n\\x31\n" },
      { args: ["get", "ev/a", "-w", "simple"], env: { ETCDCTL_WRITE_OUT: "json" }, out: "", code: 1 },
      { args: ["get", "ev/a"], env: { ETCDCTL_DIAL_TIMEOUT: "abc" }, out: "ev/a\n1\n" },
      { args: ["get", "ev/"], env: { ETCDCTL_PREFIX: "true" }, out: "" },
      { args: ["get", "ev/a"], env: { ETCDCTL_API: "3" }, out: "ev/a\n1\n" },
      { args: ["get", "ev/a"], env: { ETCDCTL_API: "4" }, err: "unsupported API version 4\n", code: 1 },
      { args: ["get", "ev/a"], env: { ETCDCTL_ENDPOINTS: "{{down}}" }, out: "", code: 1 },
    ],
  },
  {
    name: "endpoints and failover",
    steps: [
      { raw: true, args: ["--endpoints={{down}},{{ep}}", "put", "fo/a", "1"], out: "OK\n" },
      { raw: true, args: ["--endpoints", "{{down}},{{ep}}", "get", "fo/a"], out: "fo/a\n1\n" },
      { raw: true, args: ["get", "fo/a", "--endpoints={{down}}", "--endpoints={{ep}}"], out: "fo/a\n1\n" },
      {
        raw: true,
        args: ["--endpoints={{down}}", "--command-timeout=1s", "--dial-timeout=300ms", "get", "fo/a"],
        err: "Error: context deadline exceeded\n",
        code: 1,
      },
      {
        raw: true,
        args: ["--endpoints={{down}},{{ep}}", "--command-timeout=1s", "endpoint", "health"],
        err: /^(\S+ is (un)?healthy: .*\n){2}Error: unhealthy cluster\n$/,
        code: 1,
      },
      {
        raw: true,
        args: ["--endpoints={{down}}", "--command-timeout=1s", "endpoint", "status"],
        err: "Failed to get the status of endpoint {{down}} (context deadline exceeded)\n",
        code: 1,
      },
      {
        raw: true,
        args: ["--endpoints={{down}}", "--command-timeout=1s", "endpoint", "hashkv"],
        err: "Failed to get the hash of endpoint {{down}} (context deadline exceeded)\n" +
          "Error: context deadline exceeded\n",
        code: 1,
      },
    ],
  },
  {
    name: "cluster commands",
    steps: [
      // etcdctl 3.4.23's lines, then (ours only) etcdts's own release
      { args: ["version"], out: "etcdctl version: 3.4.23\nAPI version: 3.4\n{{own_version}}" },
      {
        args: ["member", "list"],
        out: /^{{member_hex}}, started, \S+, http:\/\/\S+, http:\/\/{{ep}}, false\n$/,
      },
      {
        args: ["member", "list", "-w", "json"],
        out:
          /^\{"header":\{"cluster_id":{{cluster_id}},"member_id":{{member_id}},"raft_term":2\},"members":\[\{"ID":{{member_id}},"name":"\S+","peerURLs":\["http:\/\/\S+"\],"clientURLs":\["http:\/\/{{ep}}"\]\}\]\}\n$/,
      },
      {
        args: ["endpoint", "health"],
        err: /^{{ep}} is healthy: successfully committed proposal: took = \S+\n$/,
      },
      {
        args: ["endpoint", "health", "-w", "json"],
        out: /^\[\{"endpoint":"{{ep}}","health":true,"took":"\S+"\}\]\n$/,
      },
      {
        args: ["endpoint", "status"],
        out: /^{{ep}}, {{member_hex}}, 3\.4\.\d+, \d+ kB, true, false, 2, \d+, \d+, \n$/,
      },
      { args: ["endpoint", "hashkv", "-w", "fields"], out: /"Endpoint" : "{{ep}}"\n"Hash" : \d+\n\n$/ },
      {
        args: ["endpoint", "status", "--cluster", "-w", "table"],
        out: /\| +ENDPOINT +\|[^]*\| http:\/\/{{ep}} \|/,
      },
      {
        args: ["endpoint", "health", "-w", "protobuf"],
        err: "Error: protobuf not supported as output format\n",
        code: 4,
      },
      { args: ["check", "perf", "--load=q"], err: "Error: unknown load option q\n", code: 4 },
      { args: ["check", "datascale", "--load=q"], err: "Error: unknown load option q\n", code: 4 },
    ],
  },
];
