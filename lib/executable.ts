/**
 * Whether this process runs as the compiled executable (`bun build --compile`), whose
 * modules live in Bun's embedded file system, or as source under `bun main.ts`: the two
 * name their own files differently (a child process, a worker's entry point).
 */
export function isCompiledExecutable(): boolean {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
}
