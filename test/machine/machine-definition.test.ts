import { describe, expect, it } from 'vitest';
import { loadMachine, MachineError, parseMachine } from '../../src/machine/machine-definition.js';
import { parseSize } from '../../src/machine/size.js';

const base = () => ({
  name: 't',
  memory: { defaultSize: '64M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
  devices: [{ type: 'uart16550', port: '0x3f8', irq: 4, console: true }],
});

describe('machine definitions', () => {
  it('loads the default machine', () => {
    const m = loadMachine('microvm');
    expect(m.name).toBe('microvm');
    expect(m.memory.defaultSize).toBe(256 << 20);
    expect(m.devices.find((d) => d.type === 'uart16550')).toMatchObject({ port: 0x3f8, irq: 4, console: true, coalesced: true });
  });

  it('applies defaults', () => {
    const m = parseMachine(base(), 'x.json');
    expect(m.cpu.template).toBe('auto');
    expect(m.devices[0]).toMatchObject({ name: 'uart16550', coalesced: true });
  });

  it('refuses an unknown CPU template in the parser, naming the known ones', () => {
    expect(() => parseMachine({ ...base(), cpu: { template: 'pentium' } }, 'm.json')).toThrow(/m.json: cpu.template: expected one of auto, host, nested-safe, got "pentium"/);
  });

  it.each([
    [(j: any) => (j.memory.defaultSize = 'lots'), /memory.defaultSize: expected a size/],
    [(j: any) => (j.devices[0].port = 0x10000), /devices\[0\].port: I\/O port 65536 is above 0xffff/],
    [(j: any) => (j.devices[0].irq = 99), /devices\[0\].irq: IRQ 99/],
    [(j: any) => (j.devices[0].type = 'floppy'), /devices\[0\].type: unknown device type "floppy"/],
    [(j: any) => (j.devices[0].colour = 'red'), /devices\[0\].colour: unknown field/],
    [(j: any) => (j.memory.mmioGap.end = '0x1000'), /memory.mmioGap: must be a page-aligned range/],
    [(j: any) => j.devices.push({ type: 'uart16550', port: 0x2f8, irq: 3 }), /duplicate device name "uart16550"/],
    [(j: any) => (j.devices = 'none'), /devices: expected an array/],
  ])('rejects a bad field with its path (%#)', (mutate, message) => {
    const j = base();
    mutate(j);
    expect(() => parseMachine(j, 'x.json')).toThrow(MachineError);
    expect(() => parseMachine(j, 'x.json')).toThrow(message);
  });

  it('reads disks in --disk syntax, relative to the machine file', () => {
    const m = parseMachine({ ...base(), disks: ['images/root.img,ro', '/abs/data.img,cache=none,engine=sync'] }, '/etc/tsvmm/m.json');
    expect(m.disks).toEqual([
      { path: '/etc/tsvmm/images/root.img', readOnly: true, cache: 'writeback', engine: 'async' },
      { path: '/abs/data.img', readOnly: false, cache: 'none', engine: 'sync' },
    ]);
    expect(() => parseMachine({ ...base(), disks: ['x.img,cache=sometimes'] }, 'm.json')).toThrow(/m.json: disks\[0\]: .*cache/);
  });

  it('names a missing machine', () => {
    expect(() => loadMachine('no-such-machine')).toThrow(/no machine named "no-such-machine"/);
  });
});

describe('parseSize', () => {
  it.each([
    ['256M', 256 << 20],
    ['1G', 1 << 30],
    ['512k', 512 << 10],
    ['4096', 4096],
    ['0x1000', 4096],
    ['2GiB', 2 ** 31],
  ])('%s', (text, value) => expect(parseSize(text)).toBe(value));
  it.each(['', 'M', '12Q', '-1M', '1.5G', '99999999999999T'])('rejects %j', (text) => expect(parseSize(text)).toBeUndefined());
});
