/**
 * The README's flag table is generated from the server's flag list (server/config.ts) and
 * must stay equal to it; every etcd 3.4 flag is in it, and no flag is accepted without
 * effect, or refused, without a reason a user can act on.
 */
import { expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { flagFates, flagTable } from "../../server/config.ts";
import { ETCD_FLAGS_HELP } from "../../server/etcd_help.ts";
import { ROOT } from "../harness.ts";

const TABLE = /(<!-- flag-table-start -->\n)([^]*?)(<!-- flag-table-end -->)/;

test("the README's flag table is the one server/config.ts generates", () => {
  const file = path.join(ROOT, "README.md");
  // After changing a flag: UPDATE_FLAG_TABLE=1 bun test tests/server/flag_table.test.ts
  if (process.env.UPDATE_FLAG_TABLE === "1") {
    const readme = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, readme.replace(TABLE, (_all, start, _old, end) => start + flagTable() + end));
  }
  expect(fs.readFileSync(file, "utf8").match(TABLE)?.[2]).toBe(flagTable());
});

test("every flag of etcd 3.4's help is known", () => {
  const etcdFlags = [...ETCD_FLAGS_HELP.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => m[1]);
  expect(etcdFlags.length).toBeGreaterThan(70);
  expect(etcdFlags.filter((f) => !flagFates().has(f))).toEqual([]);
});

test("an accepted flag says why it has no effect; a refused one why it is refused", () => {
  const unexplained = [...flagFates()]
    .filter(([, f]) => (f.fate === "accepted" && !f.note) || (f.fate === "not-yet" && !f.later))
    .map(([name]) => name);
  expect(unexplained).toEqual([]);
});
