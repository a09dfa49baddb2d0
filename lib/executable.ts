/**
 * Whether this process runs as the compiled executable (`bun build --compile`), whose
 * modules live in Bun's embedded file system, or as source under `bun main.ts`: the two
 * name their own files differently (a child process, a worker's entry point).
 */
export function isCompiledExecutable(): boolean {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
}

/**
 * A worker's entry point: in the compiled executable an entry point of its own (package.json's
 * build names it), found under its path from the project's root (`fromRoot`); from source,
 * the module at `source` (a URL relative to the module starting the worker).
 */
export function workerEntry(fromRoot: string, source: URL): string {
  return isCompiledExecutable() ? `./${fromRoot}` : source.href;
}
