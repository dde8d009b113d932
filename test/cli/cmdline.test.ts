import { describe, expect, it } from 'vitest';
import { ACPI_REBOOT_WORD, rebootWords, UsageError, withInitCommand, withKernelWords } from '../../src/cli/run-command.js';

describe('withKernelWords', () => {
  it('appends when there are no init arguments', () => {
    expect(withKernelWords('console=ttyS0', 'virtio_mmio.device=4K@0xd0000000:5')).toBe('console=ttyS0 virtio_mmio.device=4K@0xd0000000:5');
  });
  it('inserts before -- so init does not get them', () => {
    expect(withKernelWords('console=ttyS0 -- /bin/sh -c "a -- b"', 'x=1')).toBe('console=ttyS0 x=1 -- /bin/sh -c "a -- b"');
    expect(withKernelWords('-- /init', 'x=1')).toBe('x=1 -- /init');
  });
  it('leaves the line alone when there is nothing to add', () => {
    expect(withKernelWords('a -- b', '')).toBe('a -- b');
  });
  it('does not mistake an option with dashes for --', () => {
    expect(withKernelWords('foo--bar', 'x=1')).toBe('foo--bar x=1');
  });
});

describe('withInitCommand (tsvmm run -- CMD ARGS...)', () => {
  it('quotes each word for the shell and makes the command one kernel word', () => {
    expect(withInitCommand('console=ttyS0', ['sh', '-c', "echo it's; exit 3"])).toBe(`console=ttyS0 -- "sh -c 'echo it'\\0134''s; exit 3'"`);
    expect(withInitCommand('console=ttyS0', ['wget', '-O-', 'http://10.0.2.2:80/'])).toBe('console=ttyS0 -- "wget -O- http://10.0.2.2:80/"');
  });

  it('sends double quotes, backslashes and newlines as octal escapes (the kernel has none inside quotes)', () => {
    expect(withInitCommand('c', ['echo', 'say "hi"\\n'])).toBe(`c -- "echo 'say \\0042hi\\0042\\0134n'"`);
    expect(withInitCommand('c', ['echo', 'a\nb'])).toBe(`c -- "echo 'a\\0012b'"`);
  });

  it('leaves the command line alone without a command, and refuses a command given twice', () => {
    expect(withInitCommand('console=ttyS0', [])).toBe('console=ttyS0');
    expect(() => withInitCommand('console=ttyS0 -- ls', ['ls'])).toThrow(UsageError);
  });
});

describe('rebootWords', () => {
  it('asks a guest with an ACPI reset register to reboot through it (its default would be a BIOS that is not there)', () => {
    expect(ACPI_REBOOT_WORD).toBe('reboot=acpi');
    expect(rebootWords(['console=ttyS0 panic=-1', 'virtio_mmio.device=4K@0xd0000000:5'], true)).toBe('reboot=acpi');
    expect(rebootWords(['console=ttyS0 -- reboot=k', ''], true)).toBe('reboot=acpi'); // words after -- are init's
  });

  it("leaves the guest's own choice, and machines without the register, alone", () => {
    expect(rebootWords(['console=ttyS0 reboot=k', ''], true)).toBe('');
    expect(rebootWords(['reboot=t,warm console=ttyS0', ''], true)).toBe('');
    expect(rebootWords(['console=ttyS0', 'reboot=k'], true)).toBe(''); // the machine file's words
    expect(rebootWords(['console=ttyS0', ''], false)).toBe('');
  });
});
