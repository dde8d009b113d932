// What the guest's ACPI tables describe (src/boot/acpi), read off the device
// plan: the in-kernel interrupt controllers, the console UART, every
// virtio-mmio transport that holds a device, the sleep register that
// powers the VM off and the reset register, if the machine has one. A
// machine without an `acpi-sleep` device gets no ACPI tables: a
// hardware-reduced guest could not power off there.
import type { AcpiPlatform } from '../boot/acpi/acpi-tables.js';
import { IOAPIC_ADDR, ioapicIdFor } from '../boot/mp-table.js';
import type { DeviceDefinition } from '../devices/catalog.js';
import type { AcpiResetDefinition } from '../devices/kinds/acpi-reset-kind.js';
import type { AcpiSleepDefinition } from '../devices/kinds/acpi-sleep-kind.js';
import type { UartDefinition } from '../devices/kinds/uart16550-kind.js';
import type { DevicePlan } from '../machine/device-plan.js';

/** KVM's default GSI routing (no KVM_SET_GSI_ROUTING) sends the in-kernel PIT's GSI 0 to IOAPIC pin 0, not the PC's pin 2. */
const PIT_ROUTING = { isaIrq: 0, gsi: 0 };

export function acpiPlatformFor(plan: DevicePlan, cpus: number): AcpiPlatform | undefined {
  const configs = plan.devices.map((d) => d.config as DeviceDefinition);
  const sleep = configs.find((c): c is AcpiSleepDefinition => c.type === 'acpi-sleep');
  if (!sleep) return undefined;
  const reset = configs.find((c): c is AcpiResetDefinition => c.type === 'acpi-reset');
  const uarts = configs.filter((c): c is UartDefinition => c.type === 'uart16550');
  const uart = uarts.find((c) => c.console) ?? uarts[0];
  return {
    cpus,
    ioapic: { id: ioapicIdFor(cpus), address: IOAPIC_ADDR, gsiBase: 0 },
    ...(uart ? { serial: { port: uart.port, irq: uart.irq } } : {}),
    virtioMmio: plan.devices.flatMap((d) => (d.virtio ? [{ base: d.windows[0].base, size: d.windows[0].size, irq: d.virtio.irq }] : [])),
    sleepControlPort: sleep.port,
    ...(reset ? { resetPort: reset.port } : {}),
    interruptOverrides: [PIT_ROUTING],
  };
}
