/**
 * etcdctl's exit codes (etcdctl/ctlv3/command/error.go) and the error that carries one
 * up to runCli, which prints "Error: <message>" and returns the code.
 */

export const ExitCode = {
  Success: 0,
  Error: 1,
  BadConnection: 2,
  InvalidInput: 3, // txn, watch
  BadFeature: 4, // a valid flag with an unsupported value
  Interrupted: 5,
  IO: 6,
  BadArgs: 128,
} as const;

/**
 * Ends the command with etcdctl's `ExitWithError(code, err)`. Thrown rather than returned
 * because etcdctl exits from deep inside argument and response handling; runCli is the
 * one place that catches it.
 */
export class CliError extends Error {
  readonly exitCode: number;
  /** Printed as is (no "Error: " prefix) when set, for etcdctl's few other failure lines. */
  readonly raw: boolean;

  constructor(exitCode: number, message: string, opts: { raw?: boolean } = {}) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
    this.raw = opts.raw ?? false;
  }
}

/** Shorthand for `throw new CliError(code, message)` in expression position. */
export function fail(exitCode: number, message: string): never {
  throw new CliError(exitCode, message);
}
