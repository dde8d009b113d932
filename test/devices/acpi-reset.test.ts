// The ACPI reset register resets the VM for exactly one request, the FADT's
// RESET_VALUE; any other byte a guest writes there leaves the VM running.
import { describe, expect, it } from 'vitest';
import { ACPI_RESET_VALUE } from '../../src/boot/acpi/fadt.js';
import { AcpiResetRegister } from '../../src/devices/acpi-reset.js';

function resetRegister() {
  let resets = 0;
  return { dev: new AcpiResetRegister(() => resets++), resets: () => resets };
}

describe('AcpiResetRegister', () => {
  it('resets on RESET_VALUE', () => {
    const { dev, resets } = resetRegister();
    dev.write(0, Uint8Array.of(ACPI_RESET_VALUE));
    expect(resets()).toBe(1);
  });

  it('ignores every other byte', () => {
    const { dev, resets } = resetRegister();
    for (let value = 0; value < 256; value++) if (value !== ACPI_RESET_VALUE) dev.write(0, Uint8Array.of(value));
    expect(resets()).toBe(0);
  });

  it('looks only at the low byte of a wide write', () => {
    const { dev, resets } = resetRegister();
    dev.write(0, Uint8Array.of(0x00, ACPI_RESET_VALUE, ACPI_RESET_VALUE, ACPI_RESET_VALUE));
    expect(resets()).toBe(0);
    dev.write(0, Uint8Array.of(ACPI_RESET_VALUE, 0xff));
    expect(resets()).toBe(1);
  });

  it('reads as 0 at any width', () => {
    const { dev } = resetRegister();
    for (const size of [1, 2, 4, 8]) {
      const data = new Uint8Array(size).fill(0xaa);
      dev.read(0, data);
      expect([...data]).toEqual(new Array(size).fill(0));
    }
  });
});
