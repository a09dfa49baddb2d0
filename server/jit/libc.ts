/**
 * The C library calls the JIT machinery needs: execve (to restart with JSC's options) and
 * setpriority (to lower a thread's nice). Both are in glibc and in musl under these
 * names. Whichever libc Bun itself is linked against is already mapped into this process,
 * so /proc/self/maps names it on any distribution (glibc's `libc.so.6`, musl's
 * `ld-musl-<arch>.so.1`, which is its libc too); the well-known names are the fallback.
 */
import * as fs from "node:fs";

/** The two calls, with C's return conventions (0 on success, -1 on failure). */
export interface Libc {
  execve(path: string, argv: readonly string[], envp: readonly string[]): number;
  setpriority(which: number, who: number, prio: number): number;
}

/** A mapped file that is a C library: glibc's libc.so.6 or libc-2.x.so, musl's loader. */
const LIBC_FILE = /\/(libc\.so\.\d+|libc-[\d.]+\.so|ld-musl-[^/]+\.so\.\d+)$/;

/** The C library this process has mapped, from the paths /proc/self/maps lists. */
export function mappedLibc(maps: string): string | null {
  for (const line of maps.split("\n")) {
    const at = line.indexOf("/"); // the path column, the only one with a slash
    if (at >= 0 && LIBC_FILE.test(line.slice(at))) return line.slice(at);
  }
  return null;
}

/** Where to look, in order: an explicit path alone, else the mapped libc, then the usual names. */
export function libcCandidates(explicit: string | undefined, maps: string | null): string[] {
  if (explicit) return [explicit];
  const arch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch;
  const mapped = maps === null ? null : mappedLibc(maps);
  return [...(mapped ? [mapped] : []), "libc.so.6", `libc.musl-${arch}.so.1`, `ld-musl-${arch}.so.1`];
}

/**
 * Opens the first candidate that loads with both symbols; an error naming what was tried
 * when none does (not Linux, no such file, a library without them).
 */
export async function openLibc(candidates: readonly string[]): Promise<Libc | Error> {
  if (process.platform !== "linux") return new Error(`not on Linux (${process.platform})`);
  // Imported here: bun:ffi is only for the server, never the CLI.
  const { dlopen, FFIType, ptr } = await import("bun:ffi");
  const failures: string[] = [];
  for (const file of candidates) {
    try {
      const lib = dlopen(file, {
        execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
        setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
      });
      // NUL-terminated strings and NULL-terminated pointer arrays, as execve wants them;
      // the buffers stay referenced until the call returns.
      const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
      const table = (strings: readonly string[]) => {
        const bufs = strings.map(cstr);
        const ptrs = new BigUint64Array(bufs.length + 1);
        bufs.forEach((b, i) => ptrs[i] = BigInt(ptr(b)));
        return { bufs, ptrs };
      };
      return {
        execve(path, argv, envp) {
          const [p, a, e] = [cstr(path), table(argv), table(envp)];
          return lib.symbols.execve(ptr(p), ptr(a.ptrs), ptr(e.ptrs));
        },
        setpriority: (which, who, prio) => lib.symbols.setpriority(which, who, prio),
      };
    } catch (e) {
      failures.push(`${file}: ${(e as Error).message}`);
    }
  }
  return new Error(`no usable C library (${failures.join("; ")})`);
}

/** The libc to use here: `ETCDTS_LIBC` if set, else the one this process mapped. */
export function findLibc(env: NodeJS.ProcessEnv): Promise<Libc | Error> {
  let maps: string | null = null;
  try {
    maps = fs.readFileSync("/proc/self/maps", "latin1");
  } catch {
    // not Linux, or no /proc: the usual names are tried
  }
  return openLibc(libcCandidates(env.ETCDTS_LIBC, maps));
}
