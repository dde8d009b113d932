// Which errors the command line shows as one clear line, and which as a bug.
//
// The marker is the error's name: every error class of tsvmm's that reports
// an expected failure (bad input, a host that cannot run the VM, a guest
// image we refuse) sets a name of its own (UsageError, BootError, KvmError,
// JailError, ...), and a helper's start-up error crosses the process boundary
// by that name (HelperStartError). What keeps one of JavaScript's own names
// (a bare Error, TypeError, RangeError, ...) was not expected by anyone and
// is a bug: it shows its stack. A new error class needs no list entry here,
// only a name (test/cli/expected-error.test.ts fails for an exported error
// class without one).
const LANGUAGE_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError']);

export function isExpectedError(e: unknown): boolean {
  return e instanceof Error && !LANGUAGE_ERRORS.has(e.name);
}
