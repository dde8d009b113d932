// Checks ffi/kvm-abi.ts against <linux/kvm.h> by compiling a probe that prints
// sizeof/offsetof for every declared layout and every ioctl request number.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KVM_IOCTL, checkedStructs } from '../../ffi/kvm-abi.js';
import { findCCompiler } from '../support/c-compiler.js';
import { describeNeeding } from '../support/host-requirements.js';

const cc = findCCompiler();
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-abi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function probe(): Map<string, number> {
  const lines: string[] = ['#include <stdio.h>', '#include <stddef.h>', '#include <linux/kvm.h>', 'int main(void) {'];
  for (const [type, layout] of Object.entries(checkedStructs)) {
    lines.push(`printf("%s sizeof %zu\\n", "${type}", sizeof(${type}));`);
    for (const field of Object.keys(layout.offsets))
      lines.push(`printf("%s %s %zu\\n", "${type}", "${field}", offsetof(${type}, ${field}));`);
  }
  for (const name of Object.keys(KVM_IOCTL)) lines.push(`printf("ioctl ${name} %lu\\n", (unsigned long)${name});`);
  lines.push('return 0; }');
  writeFileSync(join(dir, 'probe.c'), lines.join('\n'));
  execFileSync(cc!, ['-o', join(dir, 'probe'), join(dir, 'probe.c')]);
  const out = execFileSync(join(dir, 'probe'), { encoding: 'utf8' });
  const facts = new Map<string, number>();
  for (const line of out.trim().split('\n')) {
    const at = line.lastIndexOf(' ');
    facts.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return facts;
}

describeNeeding(cc ? undefined : 'no C compiler on PATH', 'KVM ABI matches <linux/kvm.h>', () => {
  const facts = cc ? probe() : new Map<string, number>();
  for (const [type, layout] of Object.entries(checkedStructs)) {
    it(`${type} size and offsets`, () => {
      // kvm_cpuid2 / kvm_msrs end in flexible arrays: sizeof is the header.
      expect(facts.get(`${type} sizeof`)).toBe(layout.size);
      for (const [field, offset] of Object.entries(layout.offsets)) expect([field, facts.get(`${type} ${field}`)]).toEqual([field, offset]);
    });
  }
  it('ioctl request numbers', () => {
    for (const [name, value] of Object.entries(KVM_IOCTL)) expect([name, facts.get(`ioctl ${name}`)]).toEqual([name, value]);
  });
});
