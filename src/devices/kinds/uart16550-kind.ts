// Catalog entry of the 16550A UART (src/devices/uart16550.ts): eight ports,
// one IRQ line, optionally the console; its transmit register may be
// coalesced (see Uart16550.coalescable for why that is safe).
import type { PlatformDeviceKind } from '../device-kind.js';
import { Uart16550 } from '../uart16550.js';

export interface UartDefinition {
  type: 'uart16550';
  name: string;
  port: number;
  irq: number;
  /** Connected to the VMM's console (stdin/stdout). */
  console: boolean;
  /** Let KVM coalesce writes to the transmit register (see machines/README.md). */
  coalesced: boolean;
}

/** RBR/THR .. SCR. */
const UART_PORTS = 8;

export const uart16550Kind: PlatformDeviceKind<UartDefinition> = {
  type: 'uart16550',
  family: 'platform',
  hosts: ['vcpu-thread'],
  entry: {
    fields: ['port', 'irq', 'console', 'coalesced'],
    parse: (d, r, path) => ({
      port: r.port(d.port, `${path}.port`),
      irq: r.irq(d.irq, `${path}.irq`),
      console: d.console === undefined ? false : r.boolean(d.console, `${path}.console`),
      coalesced: d.coalesced === undefined ? true : r.boolean(d.coalesced, `${path}.coalesced`),
    }),
  },
  host: () => 'vcpu-thread',
  windows: (d) => [{ space: 'pio', base: d.port, size: UART_PORTS, field: 'port' }],
  coalescable: Uart16550.coalescable,
  coalesced: (d) => d.coalesced,
  build(d, env) {
    const uart = new Uart16550(d.name, env.irqLine(d.irq), d.console ? (b) => env.consoleOutput(b) : () => {});
    if (d.console) env.attachConsoleInput(uart);
    return uart;
  },
};
