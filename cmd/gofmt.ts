/**
 * Go's formatting rules now live in lib/gofmt.ts (the server parses Go durations too, and
 * neither side should import the other). Kept so command modules import them as before.
 */
export * from "../lib/gofmt.ts";
