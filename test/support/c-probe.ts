// Asks the C compiler what the kernel's headers say: compiles a program that
// prints each expression (offsetof, sizeof, a #define) and returns the values
// by name. Used to check layouts written in TypeScript against the headers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** [name, C expression, the value TypeScript has] */
export type CCheck = [name: string, expression: string, expected: number];

/** `prelude`: lines before any #include (feature macros such as _GNU_SOURCE); `includeDirs`: searched for headers (-I). */
export function probeC(cc: string, headers: string[], checks: readonly CCheck[], prelude: string[] = [], includeDirs: string[] = []): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-c-probe-'));
  try {
    const lines = [
      ...prelude,
      '#include <stdio.h>',
      '#include <stddef.h>',
      ...headers.map((h) => `#include <${h}>`),
      'int main(void) {',
      ...checks.map(([name, expr]) => `printf("%s %lu\\n", "${name}", (unsigned long)(${expr}));`),
      'return 0; }',
    ];
    writeFileSync(join(dir, 'probe.c'), lines.join('\n'));
    execFileSync(cc, [...includeDirs.map((d) => `-I${d}`), '-o', join(dir, 'probe'), join(dir, 'probe.c')]);
    const values = new Map<string, number>();
    for (const line of execFileSync(join(dir, 'probe'), { encoding: 'utf8' }).trim().split('\n')) {
      const at = line.lastIndexOf(' ');
      values.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return values;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
