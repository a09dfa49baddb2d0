/**
 * Bundles the console's browser code (app/main.ts and what it imports) into one script.
 * Imported as a macro, it runs while the binary is built, so the page carries the script
 * inline: nothing is fetched at runtime and nothing is built at startup. (Bun.build cannot
 * run inside a macro, hence the `bun build` child.)
 */
import * as path from "node:path";

/** The minified console script, safe to put inside a <script> element. */
export function consoleScript(): string {
  const entry = path.join(import.meta.dir, "app", "main.ts");
  const r = Bun.spawnSync([process.execPath, "build", entry, "--minify", "--target=browser", "--format=esm"]);
  if (r.exitCode !== 0) throw new Error(`bundling the console failed:\n${r.stderr.toString()}`);
  return r.stdout.toString().replaceAll("</script", "<\\/script");
}
