// The vCPU's kvm_run page, mmap'd once and read through one DataView. Views
// for the exit data are built once here so that handling an exit allocates
// nothing (docs/architecture.md, "Hot-path rules").
import { KvmRun } from '../../ffi/kvm-abi.js';
import { viewAt } from '../../ffi/libc.js';

const o = KvmRun.offsets;

export class KvmRunView {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** mmio.data as 1..8-byte windows, indexed by access length. */
  private readonly mmioData: Uint8Array[] = [];
  private ioDataOffset = -1;
  private readonly ioData: Uint8Array[] = [];

  constructor(
    readonly address: number,
    readonly size: number,
  ) {
    const buffer = viewAt(address, size);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    for (let len = 0; len <= 8; len++) this.mmioData.push(this.bytes.subarray(o['mmio.data'], o['mmio.data'] + len));
  }

  get exitReason(): number {
    return this.view.getUint32(o.exit_reason, true);
  }

  set immediateExit(on: boolean) {
    this.bytes[o.immediate_exit] = on ? 1 : 0;
  }

  get ioDirection(): number {
    return this.bytes[o['io.direction']];
  }
  get ioSize(): number {
    return this.bytes[o['io.size']];
  }
  get ioPort(): number {
    return this.view.getUint16(o['io.port'], true);
  }
  get ioCount(): number {
    return this.view.getUint32(o['io.count'], true);
  }

  /**
   * The data window of element `i` of a (possibly `rep`) port access. The
   * window for element 0 of each size is cached: data_offset never changes
   * for a vCPU in practice, so the common case allocates nothing.
   */
  ioDataWindow(i: number, size: number): Uint8Array {
    // data_offset is a u64 but always inside the small vCPU mapping: reading the
    // low half avoids a BigInt allocation per exit.
    const offset = this.view.getUint32(o['io.data_offset'], true);
    if (offset !== this.ioDataOffset) {
      this.ioDataOffset = offset;
      this.ioData.length = 0;
      for (let len = 0; len <= 4; len++) this.ioData.push(this.bytes.subarray(offset, Math.min(offset + len, this.size)));
    }
    if (i === 0 && size <= 4) return this.ioData[size];
    const start = offset + i * size;
    if (start + size > this.size) return this.bytes.subarray(0, 0);
    return this.bytes.subarray(start, start + size);
  }

  get mmioAddress(): number {
    const v = this.view;
    return v.getUint32(o['mmio.phys_addr'] + 4, true) * 0x1_0000_0000 + v.getUint32(o['mmio.phys_addr'], true);
  }
  get mmioIsWrite(): boolean {
    return this.bytes[o['mmio.is_write']] !== 0;
  }
  mmioDataWindow(): Uint8Array {
    const len = this.view.getUint32(o['mmio.len'], true);
    return this.mmioData[len <= 8 ? len : 8];
  }

  get internalSuberror(): number {
    return this.view.getUint32(o['internal.suberror'], true);
  }
  internalData(): bigint[] {
    const n = Math.min(this.view.getUint32(o['internal.ndata'], true), 16);
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.view.getBigUint64(o['internal.data'] + 8 * i, true));
    return out;
  }
  get failEntryReason(): bigint {
    return this.view.getBigUint64(o['fail_entry.hardware_entry_failure_reason'], true);
  }
  get systemEventType(): number {
    return this.view.getUint32(o['system_event.type'], true);
  }
}
