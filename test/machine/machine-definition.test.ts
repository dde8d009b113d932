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
    expect(m.cpu.count).toBe(1);
    expect(m.devices[0]).toMatchObject({ name: 'uart16550', coalesced: true });
  });

  it('reads cpu.count, refusing what cannot be a vCPU count', () => {
    expect(parseMachine({ ...base(), cpu: { count: 4 } }, 'm.json').cpu.count).toBe(4);
    for (const bad of [0, 255, 1.5, -1, 'two', null])
      expect(() => parseMachine({ ...base(), cpu: { count: bad } }, 'm.json')).toThrow(/m.json: cpu.count: expected a whole number of vCPUs from 1 to 254/);
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

  describe('device placement', () => {
    const virtio = (extra: object = {}) => ({ type: 'virtio-mmio', name: 'virtio', base: '0xd0000000', slotSize: '0x1000', irqs: [5, 6], ...extra });
    const testdev = (base: string) => ({ type: 'test-device', name: 'testdev', base });

    it('accepts the shipped layout: devices side by side, MMIO in the gap', () => {
      const j = base();
      j.devices.push({ type: 'i8042', port: '0x60' } as any, { type: 'exit-device', port: '0x501' } as any, virtio() as any, testdev('0xd0002000') as any);
      expect(parseMachine(j, 'x.json').devices).toHaveLength(5);
    });

    it.each([
      [[{ type: 'exit-device', name: 'exit', port: '0x3fa' }], /devices\[1\]\.port: ports 0x3fa\.\.0x3fa overlap devices\[0\] \("uart16550"\) at ports 0x3f8\.\.0x3ff/],
      [[{ type: 'i8042', port: '0x5e' }, { type: 'uart16550', name: 'com2', port: '0x62', irq: 3 }], /devices\[2\]\.port: ports 0x62\.\.0x69 overlap devices\[1\] \("i8042"\)/],
      [[{ type: 'uart16550', name: 'com2', port: '0xfffc', irq: 3 }], /devices\[1\]\.port: ports 0xfffc\.\.0x10003 run past port 0xffff/],
      [[virtio(), testdev('0xd0001000')], /devices\[2\]\.base: MMIO 0xd0001000\.\.0xd0001fff overlap devices\[1\] \("virtio"\) at MMIO 0xd0000000\.\.0xd0001fff/],
      [[virtio({ slotSize: '0x200' })], /devices\[1\]\.slotSize: 512 bytes is smaller than a virtio-mmio window \(4096 bytes\)/],
      [[virtio({ base: '0x1000000' })], /devices\[1\]\.base: MMIO 0x1000000\.\.0x1001fff is not inside memory\.mmioGap 0xc0000000\.\.0xffffffff \(outside it is guest RAM\)/],
      [[virtio({ base: '0xfffff000' })], /devices\[1\]\.base: MMIO 0xfffff000\.\.0x100000fff is not inside memory\.mmioGap/],
      [[testdev('0x100000000')], /devices\[1\]\.base: MMIO 0x100000000\.\.0x100000fff is not inside memory\.mmioGap/],
    ])('refuses a bad placement with the field at fault (%#)', (extra, message) => {
      const j = base();
      j.devices.push(...(extra as any[]));
      expect(() => parseMachine(j, 'x.json')).toThrow(MachineError);
      expect(() => parseMachine(j, 'x.json')).toThrow(message);
    });
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
