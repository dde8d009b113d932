// The ACPI sleep register powers the VM off for exactly one request, the
// guest's S5 write (SLP_TYP 5 with SLP_EN); anything else a guest writes there
// (another sleep state, SLP_EN clear, clearing WAK_STS, wide writes of junk)
// must leave the VM running.
import { describe, expect, it } from 'vitest';
import { S5_SLEEP_TYPE, sleepControlValue, SLEEP_STATUS_WAKE } from '../../src/boot/acpi/fadt.js';
import { AcpiSleepRegister } from '../../src/devices/acpi-sleep.js';

function sleepRegister() {
  let powerOffs = 0;
  return { dev: new AcpiSleepRegister(() => powerOffs++), powerOffs: () => powerOffs };
}

describe('AcpiSleepRegister', () => {
  it("powers off on the guest's S5 request (0x34, what Linux writes for poweroff)", () => {
    const { dev, powerOffs } = sleepRegister();
    expect(sleepControlValue(S5_SLEEP_TYPE)).toBe(0x34);
    dev.write(0, Uint8Array.of(0x34));
    expect(powerOffs()).toBe(1);
  });

  it('ignores other sleep states, SLP_TYP 5 without SLP_EN, and the WAK_STS clear that precedes a sleep', () => {
    const { dev, powerOffs } = sleepRegister();
    for (const type of [0, 1, 2, 3, 4, 6, 7]) dev.write(0, Uint8Array.of(sleepControlValue(type)));
    dev.write(0, Uint8Array.of(S5_SLEEP_TYPE << 2));
    dev.write(0, Uint8Array.of(SLEEP_STATUS_WAKE));
    expect(powerOffs()).toBe(0);
  });

  it('looks only at the low byte of a wide write', () => {
    const { dev, powerOffs } = sleepRegister();
    dev.write(0, Uint8Array.of(0x00, 0x34));
    dev.write(0, Uint8Array.of(0xcb, 0xff, 0xff, 0xff)); // every bit but S5's
    expect(powerOffs()).toBe(0);
    dev.write(0, Uint8Array.of(0x34, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    expect(powerOffs()).toBe(1);
  });

  it('reads as a status register with WAK_STS clear, at any width', () => {
    const { dev } = sleepRegister();
    for (const size of [1, 2, 4, 8]) {
      const data = new Uint8Array(size).fill(0xaa);
      dev.read(0, data);
      expect([...data]).toEqual(new Array(size).fill(0));
    }
  });
});
