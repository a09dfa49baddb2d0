/**
 * Sizes as etcdctl prints them (go-humanize's Bytes: `%.0f` or `%.1f` of the size in SI
 * units). Go's `%.0f` breaks a tie to the even integer: 20480 bytes, 20.5 kB, print as
 * "20 kB" in `endpoint status -w table`, where JS's toFixed(0) gave "21 kB". Expected values
 * from go-humanize's humanateBytes run with Go.
 */
import { expect, test } from "bun:test";
import { humanizeBytes } from "../../cmd/print/printer.ts";

test("sizes print as go-humanize prints them, ties to even", () => {
  const cases: [number, string][] = [
    [9, "9 B"],
    [10, "10 B"],
    [1500, "1.5 kB"],
    [9950, "10 kB"],
    [10500, "10 kB"],
    [11500, "12 kB"],
    [20480, "20 kB"],
    [21504, "22 kB"],
    [28672, "29 kB"],
    [45056, "45 kB"],
    [104857600, "105 MB"],
    [354824192, "355 MB"],
    [999999, "1000 kB"],
    [1000000, "1.0 MB"],
  ];
  for (const [n, want] of cases) expect(`${n} ${humanizeBytes(n)}`).toBe(`${n} ${want}`);
});
