// Running ACPICA's iasl (Debian package acpica-tools) on generated tables:
// an independent reader of ACPI. `iasl -d` disassembles a table file and
// warns about bad checksums and AML it cannot parse; `iasl` compiles the
// disassembly back, which shows that nothing was lost or misread.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Why iasl cannot run here (undefined: it can). .ci/run installs it. */
export function iaslProblem(): string | undefined {
  const r = spawnSync('iasl', ['-v'], { stdio: 'ignore' });
  return r.error || r.status !== 0 ? 'the iasl CLI is not installed (Debian package acpica-tools)' : undefined;
}

/** Lines of iasl's output or of a disassembly that say something is wrong. */
const COMPLAINT = /warning|error|incorrect|invalid|unresolved|failure|exception|\*\*\*\*/i;

/** The lines of `text` in which iasl complains. */
export function complaints(text: string): string[] {
  return text.split('\n').filter((line) => COMPLAINT.test(line));
}

export interface IaslRun {
  status: number | null;
  /** stdout and stderr. */
  output: string;
}

/** Runs iasl with `args` in `dir`. */
export function iasl(dir: string, args: string[]): IaslRun {
  const r = spawnSync('iasl', args, { cwd: dir, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export interface Disassembly extends IaslRun {
  /** The .dsl iasl wrote. */
  dsl: string;
}

/** Writes `table` to `dir/name.dat` and disassembles it to `dir/name.dsl`. */
export function disassemble(dir: string, name: string, table: Uint8Array): Disassembly {
  writeFileSync(join(dir, `${name}.dat`), table);
  const run = iasl(dir, ['-d', `${name}.dat`]);
  if (run.status !== 0) throw new Error(`iasl -d ${name}.dat failed (${run.status}):\n${run.output}`);
  return { ...run, dsl: readFileSync(join(dir, `${name}.dsl`), 'utf8') };
}

/** Compiles `dir/source` (ASL or data-table language) to `dir/output.aml`; returns iasl's output and the bytes. */
export function compile(dir: string, source: string, output: string, extraArgs: string[] = []): IaslRun & { aml: Uint8Array } {
  const run = iasl(dir, [...extraArgs, '-p', output, source]);
  if (run.status !== 0) throw new Error(`iasl ${source} failed (${run.status}):\n${run.output}`);
  return { ...run, aml: new Uint8Array(readFileSync(join(dir, `${output}.aml`))) };
}

/** Offsets where `a` and `b` differ (and every offset past the shorter one). */
export function differences(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(i);
  return out;
}
