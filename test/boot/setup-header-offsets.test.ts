// The setup header and boot_params offsets this loader uses, checked against
// the kernel's own struct layout: a C probe compiled against the uapi
// <asm/bootparam.h> (linux-libc-dev) prints offsetof() for every field.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { E820_ENTRY_BYTES, BootParamsField, ZERO_PAGE_BYTES } from '../../src/boot/zero-page.js';
import { SETUP_HEADER_END, SETUP_HEADER_START, SetupHeaderField } from '../../src/boot/setup-header.js';
import { findCCompiler } from '../support/c-compiler.js';
import { itNeeding } from '../support/host-requirements.js';

const BOOTPARAM_H = ['/usr/include/x86_64-linux-gnu/asm/bootparam.h', '/usr/include/asm/bootparam.h'].find((p) => existsSync(p));
const cc = findCCompiler();
const skipReason = !cc ? 'no C compiler on PATH' : !BOOTPARAM_H ? 'no <asm/bootparam.h> (install linux-libc-dev)' : undefined;

describe('setup header offsets', () => {
  test('documented offsets (Documentation/x86/boot.rst)', () => {
    // A handful straight from the protocol document's table.
    expect(SetupHeaderField.setup_sects.offset).toBe(0x1f1);
    expect(SetupHeaderField.boot_flag.offset).toBe(0x1fe);
    expect(SetupHeaderField.header.offset).toBe(0x202);
    expect(SetupHeaderField.version.offset).toBe(0x206);
    expect(SetupHeaderField.type_of_loader.offset).toBe(0x210);
    expect(SetupHeaderField.loadflags.offset).toBe(0x211);
    expect(SetupHeaderField.ramdisk_image.offset).toBe(0x218);
    expect(SetupHeaderField.cmd_line_ptr.offset).toBe(0x228);
    expect(SetupHeaderField.initrd_addr_max.offset).toBe(0x22c);
    expect(SetupHeaderField.xloadflags.offset).toBe(0x236);
    expect(SetupHeaderField.cmdline_size.offset).toBe(0x238);
    expect(SetupHeaderField.payload_offset.offset).toBe(0x248);
    expect(SetupHeaderField.payload_length.offset).toBe(0x24c);
    expect(SetupHeaderField.pref_address.offset).toBe(0x258);
    expect(SetupHeaderField.init_size.offset).toBe(0x260);
    expect(SetupHeaderField.kernel_info_offset.offset).toBe(0x268);
    expect(BootParamsField.e820_entries).toBe(0x1e8);
    expect(BootParamsField.e820_table).toBe(0x2d0);
  });

  test('fields are contiguous and end where struct setup_header ends', () => {
    const fields = Object.values(SetupHeaderField).sort((a, b) => a.offset - b.offset);
    expect(fields[0].offset).toBe(SETUP_HEADER_START);
    for (let i = 1; i < fields.length; i++) expect(fields[i].offset).toBe(fields[i - 1].offset + fields[i - 1].size);
    const last = fields[fields.length - 1];
    expect(last.offset + last.size).toBe(SETUP_HEADER_END);
  });

  itNeeding(skipReason, 'match <asm/bootparam.h> compiled with a C probe', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bootparam-'));
    try {
      const names = Object.keys(SetupHeaderField);
      const src = [
        '#include <stdio.h>',
        '#include <stddef.h>',
        '#include <asm/bootparam.h>',
        'int main(void) {',
        '  printf("{");',
        ...names.map(
          (n) =>
            `  printf("\\"hdr.${n}\\": [%zu, %zu],", offsetof(struct boot_params, hdr.${n}), sizeof(((struct boot_params *)0)->hdr.${n}));`,
        ),
        ...Object.keys(BootParamsField)
          .filter((n) => n !== 'hdr')
          .map((n) => `  printf("\\"${n}\\": [%zu, 0],", offsetof(struct boot_params, ${n}));`),
        '  printf("\\"hdr\\": [%zu, %zu],", offsetof(struct boot_params, hdr), sizeof(struct setup_header));',
        '  printf("\\"e820_entry\\": [%zu, 0],", sizeof(struct boot_e820_entry));',
        '  printf("\\"boot_params\\": [%zu, 0]}", sizeof(struct boot_params));',
        '  return 0;',
        '}',
      ].join('\n');
      writeFileSync(join(dir, 'probe.c'), src);
      execFileSync(cc!, ['-o', join(dir, 'probe'), join(dir, 'probe.c')]);
      const probed = JSON.parse(execFileSync(join(dir, 'probe')).toString()) as Record<string, [number, number]>;
      for (const [name, { offset, size }] of Object.entries(SetupHeaderField)) expect([name, probed[`hdr.${name}`]]).toEqual([name, [offset, size]]);
      for (const [name, offset] of Object.entries(BootParamsField)) expect([name, probed[name][0]]).toEqual([name, offset]);
      expect(probed.hdr[1]).toBe(SETUP_HEADER_END - SETUP_HEADER_START);
      expect(probed.e820_entry[0]).toBe(E820_ENTRY_BYTES);
      expect(probed.boot_params[0]).toBe(ZERO_PAGE_BYTES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
