/**
 * Go's text/tabwriter with etcdctl's help settings (minwidth 0, tabwidth 8, padding 1,
 * padchar '\t', no flags). Help output aligns its columns this way; matching it byte for
 * byte needs the same column-block algorithm, not a simple "pad to widest" rule.
 */

const tabWidth = 8;
const padding = 1;

/** Aligns tab-terminated cells of `text` as Go's tabwriter (padchar '\t') would. */
export function tabwrite(text: string): string {
  const lines = text.split("\n").map((l) => l.split("\t"));
  // A trailing newline leaves a final empty line that is not output as its own line.
  const endsWithNewline = text.endsWith("\n");
  if (endsWithNewline) lines.pop();
  const widths: number[] = [];
  const out: string[] = [];
  format(lines, 0, lines.length, widths, out);
  return out.join("\n") + (endsWithNewline ? "\n" : "");
}

function format(lines: string[][], line0: number, line1: number, widths: number[], out: string[]): void {
  const column = widths.length;
  let start = line0;
  for (let i = line0; i < line1; i++) {
    if (column >= lines[i].length - 1) continue;
    // a block of consecutive lines that have a cell in this column
    writeLines(lines, start, i, widths, out);
    start = i;
    let width = 0;
    for (; i < line1; i++) {
      const line = lines[i];
      if (column >= line.length - 1) break;
      width = Math.max(width, runeCount(line[column]) + padding);
    }
    widths.push(width);
    format(lines, start, i, widths, out);
    widths.pop();
    start = i;
    i--; // the outer loop's i++ revisits the line that ended the block
  }
  writeLines(lines, start, line1, widths, out);
}

function writeLines(lines: string[][], line0: number, line1: number, widths: number[], out: string[]): void {
  for (let i = line0; i < line1; i++) {
    const cells = lines[i];
    let s = "";
    cells.forEach((cell, j) => {
      s += cell;
      if (j < cells.length - 1 && j < widths.length) s += pad(runeCount(cell), widths[j]);
    });
    out.push(s);
  }
}

function pad(textWidth: number, cellWidth: number): string {
  const w = Math.ceil(cellWidth / tabWidth) * tabWidth;
  return "\t".repeat(Math.ceil((w - textWidth) / tabWidth));
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
