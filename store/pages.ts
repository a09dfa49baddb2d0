/**
 * Reading a whole table a page of rows at a time, in key order, without holding a read
 * transaction between pages unless the caller opened one: keyset pagination, so each page
 * costs the same however far in.
 */
import type { Database, Statement } from "bun:sqlite";

/** Rows per page by default. */
const BATCH = 512;

/**
 * Reads `select` (which may end in a WHERE clause) in the order of `keys.columns`,
 * `keys.batch` rows per step; `keys.of` gives a row's values of those columns.
 */
export function* pager<R extends unknown[]>(
  db: Database,
  select: string,
  keys: { columns: readonly string[]; of: (row: R) => unknown[]; batch?: number },
): Generator<R[]> {
  const batch = keys.batch ?? BATCH;
  const order = keys.columns.join(", ");
  const after = keys.columns.map((_, i) => `?${i + 1}`).join(", ");
  const joiner = /\bWHERE\b/i.test(select) ? "AND" : "WHERE";
  const first: Statement = db.query(`${select} ORDER BY ${order} LIMIT ${batch}`);
  const next: Statement = db.query(
    `${select} ${joiner} (${order}) > (${after}) ORDER BY ${order} LIMIT ${batch}`,
  );
  let rows = first.values() as unknown as R[];
  while (rows.length > 0) {
    yield rows;
    if (rows.length < batch) return;
    rows = next.values(...(keys.of(rows[rows.length - 1]) as never[])) as unknown as R[];
  }
}
