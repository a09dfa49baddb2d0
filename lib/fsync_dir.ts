/**
 * Makes a directory's entries durable (a file created, renamed or removed in it): without
 * it, a crash can lose the name even when the file's contents were fsynced.
 */
import * as fs from "node:fs";

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
