import { expect, test } from "bun:test";
import { logStoreMismatch } from "../../server/log_store_check.ts";

test("a store within the log's span continues it", () => {
  expect(logStoreMismatch({ snapshotIndex: 0n, lastIndex: 0n }, 0n)).toBeNull();
  expect(logStoreMismatch({ snapshotIndex: 100n, lastIndex: 300n }, 100n)).toBeNull();
  expect(logStoreMismatch({ snapshotIndex: 100n, lastIndex: 300n }, 300n)).toBeNull();
});

test("a store ahead of the log's last index is a gap", () => {
  expect(logStoreMismatch({ snapshotIndex: 0n, lastIndex: 158n }, 300n)?.message).toStartWith(
    "the store's applied index 300 is beyond the last log index 158 and no snapshot covers it: " +
      "the log lost entries 159..300; restore the member from a snapshot",
  );
});

test("a store behind the log's snapshot misses entries that exist nowhere", () => {
  expect(logStoreMismatch({ snapshotIndex: 200n, lastIndex: 300n }, 150n)?.message).toStartWith(
    "the store's applied index 150 is behind the log's snapshot at 200: entries 151..200 are in neither",
  );
});
