// What a device model offers the buses. Accesses carry the offset inside the
// device's range and a small byte buffer (1, 2, 4 or 8 bytes) that the device
// reads (on writes) or fills (on reads). The buffer is reused between exits:
// a device must not keep a reference to it.

export interface BusDevice {
  /** Short name for logs and statistics, e.g. "uart0". */
  readonly name: string;
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

/** A level- or edge-triggered interrupt line a device raises. */
export interface InterruptLine {
  /** Edge: pulse the line (irqfd write or KVM_IRQ_LINE 1 then 0). */
  trigger(): void;
  /** Level: hold the line at `level`. */
  setLevel(level: boolean): void;
}
