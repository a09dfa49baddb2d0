/**
 * A line diff for comparing two revisions of a value (Myers' O(ND) algorithm, the one git
 * uses by default). Common leading and trailing lines are cut first; past `maxEdits`
 * differences it gives up on alignment and shows the middle as removed, then added.
 */

export interface DiffLine {
  readonly op: "=" | "-" | "+";
  readonly text: string;
}

/** The lines of `b` against those of `a`: kept (=), removed (-) and added (+). */
export function diffLines(a: string, b: string, maxEdits = 4000): DiffLine[] {
  const x = a.split("\n");
  const y = b.split("\n");
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (
    tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]
  ) tail++;
  const out: DiffLine[] = x.slice(0, head).map((text) => ({ op: "=", text }));
  const mx = x.slice(head, x.length - tail);
  const my = y.slice(head, y.length - tail);
  out.push(...(myers(mx, my, maxEdits) ?? replaceAll(mx, my)));
  out.push(...x.slice(x.length - tail).map((text) => ({ op: "=" as const, text })));
  return out;
}

function replaceAll(x: readonly string[], y: readonly string[]): DiffLine[] {
  return [
    ...x.map((text) => ({ op: "-" as const, text })),
    ...y.map((text) => ({ op: "+" as const, text })),
  ];
}

/** The shortest edit script, or null when it needs more than `maxEdits` edits. */
function myers(x: readonly string[], y: readonly string[], maxEdits: number): DiffLine[] | null {
  const n = x.length;
  const m = y.length;
  const max = Math.min(n + m, maxEdits);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let i = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let j = i - k;
      while (i < n && j < m && x[i] === y[j]) {
        i++;
        j++;
      }
      v[off + k] = i;
      if (i >= n && j >= m) return backtrack(trace, x, y, off, d);
    }
  }
  return null;
}

/** Walks the saved frontiers back from (n, m) to (0, 0). */
function backtrack(
  trace: readonly Int32Array[],
  x: readonly string[],
  y: readonly string[],
  off: number,
  depth: number,
): DiffLine[] {
  const out: DiffLine[] = [];
  let i = x.length;
  let j = y.length;
  for (let d = depth; d > 0; d--) {
    const v = trace[d];
    const k = i - j;
    const down = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]);
    const pk = down ? k + 1 : k - 1;
    const pi = v[off + pk];
    const pj = pi - pk;
    while (i > pi && j > pj && i > (down ? pi : pi + 1) && j > (down ? pj + 1 : pj)) {
      out.push({ op: "=", text: x[--i] });
      j--;
    }
    if (down) out.push({ op: "+", text: y[--j] });
    else out.push({ op: "-", text: x[--i] });
  }
  while (i > 0 && j > 0) {
    out.push({ op: "=", text: x[--i] });
    j--;
  }
  return out.reverse();
}
