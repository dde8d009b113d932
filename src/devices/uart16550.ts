// A 16550A UART (the PC's COM1): enough for Linux's 8250 driver, with a
// 64-byte receive FIFO (UART_RX_FIFO_SIZE; the chip's is 16 bytes, but the
// driver drains until LSR.DR clears, so a deeper one only means fewer receive
// interrupts per burst of input), instant transmission, loopback, and the IIR
// interrupt-priority scheme. Registers per the National PC16550D data sheet.
import type { AwaitsQueuedWrites } from '../bus/coalesced-ring.js';
import type { InterruptLine } from '../bus/device.js';
import { NOT_MIRRORED, type MirrorsRegisters, type RegisterMirror } from '../bus/register-mirror.js';

const RBR_THR = 0; // DLL when DLAB
const IER = 1; // DLM when DLAB
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const IER_RDI = 0x01;
const IER_THRI = 0x02;
const IER_RLSI = 0x04;
const IER_MSI = 0x08;

const IIR_NONE = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_FIFO_ENABLED = 0xc0;

const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;

const LCR_DLAB = 0x80;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_DCD = 0x80;

export const UART_RX_FIFO_SIZE = 64;

export class Uart16550 implements MirrorsRegisters, AwaitsQueuedWrites {
  private ier = 0;
  private lcr = 0x03; // 8N1
  private mcr = MCR_OUT2;
  private lsr = LSR_THRE | LSR_TEMT;
  private scr = 0;
  private dll = 0x0c; // 9600 baud
  private dlm = 0;
  private fifoEnabled = false;
  private thrEmptyPending = false;
  private irqAsserted = false;
  private readonly rx = new Uint8Array(UART_RX_FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  private mirror: RegisterMirror | undefined;

  /**
   * THR (offset 0) may be coalesced: queued bytes are replayed in order before
   * the guest's next UART read or any other exit, so it cannot tell. (DLL
   * shares the offset; a delayed divisor write is equally invisible.) With
   * the transmit interrupt on, a queued THR write also delays the THRE
   * interrupt the driver waits for until the ring is drained: the vCPU is
   * swept out of the guest every 2 ms while that goes on (ring-sweep.ts;
   * with several vCPUs the main thread drains). Switching the
   * zone off while THRI is on would avoid that wait, but unregistering a zone
   * costs an SRCU synchronisation in KVM: measured here, it made console
   * output 30 % slower than no zone at all (docs/host-kvm.md).
   */
  static readonly coalescable = [{ offset: RBR_THR, size: 1 }] as const;

  constructor(
    readonly name: string,
    private readonly irq: InterruptLine,
    /** Receives each transmitted byte. */
    private readonly transmit: (byte: number) => void,
  ) {}

  /**
   * With the transmit interrupt on, the driver waits for it after filling the
   * FIFO, and THRE comes only once its bytes queued in the coalesced ring are
   * replayed here.
   */
  get awaitsQueuedWrites(): boolean {
    return (this.ier & IER_THRI) !== 0;
  }

  /** Free space in the receive FIFO: how many input bytes to offer now. */
  get rxSpace(): number {
    return UART_RX_FIFO_SIZE - this.rxCount;
  }

  /** Bytes typed on the host side. Returns how many were accepted (the rest must be offered again). */
  receive(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, this.rxSpace);
    for (let i = 0; i < n; i++) this.pushRx(bytes[i]);
    if (n > 0) this.updateInterrupt();
    this.publishMirror();
    return n;
  }

  /**
   * With several vCPUs: keeps LSR and MSR in `mirror` for the vCPU threads
   * to read without asking (register-mirror.ts). Linux's console reads LSR
   * before every byte it prints.
   */
  mirrorRegisters(mirror: RegisterMirror): void {
    this.mirror = mirror;
    this.publishMirror();
  }

  private publishMirror(): void {
    const mirror = this.mirror;
    if (!mirror) return;
    // Reading LSR clears OE; in loopback, transmit writes still queued in the
    // coalesced ring would set DR once replayed. Either way the UART must answer.
    const quiet = (this.lsr & LSR_OE) === 0 && (this.mcr & MCR_LOOP) === 0;
    mirror.publish(LSR, quiet ? this.lineStatus() : NOT_MIRRORED);
    mirror.publish(MSR, this.modemStatus());
  }

  private lineStatus(): number {
    return this.lsr | (this.rxCount > 0 ? LSR_DR : 0);
  }

  private modemStatus(): number {
    if (this.mcr & MCR_LOOP) {
      // Loopback: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD
      const m = this.mcr;
      return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
    }
    return MSR_DCD | MSR_DSR | MSR_CTS;
  }

  private pushRx(byte: number): void {
    if (this.rxCount === UART_RX_FIFO_SIZE) {
      this.lsr |= LSR_OE;
      return;
    }
    this.rx[(this.rxHead + this.rxCount) % UART_RX_FIFO_SIZE] = byte;
    this.rxCount++;
  }

  read(offset: number, data: Uint8Array): void {
    data[0] = this.readRegister(offset);
    for (let i = 1; i < data.length; i++) data[i] = 0;
    this.publishMirror();
  }

  write(offset: number, data: Uint8Array): void {
    this.writeRegister(offset, data[0]);
    this.publishMirror();
  }

  private readRegister(offset: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR: {
        if (dlab) return this.dll;
        if (this.rxCount === 0) return 0;
        const byte = this.rx[this.rxHead];
        this.rxHead = (this.rxHead + 1) % UART_RX_FIFO_SIZE;
        this.rxCount--;
        this.updateInterrupt();
        return byte;
      }
      case IER:
        return dlab ? this.dlm : this.ier;
      case IIR_FCR: {
        const iir = this.pendingInterrupt();
        // Reading IIR while it reports THRE acknowledges that interrupt.
        if (iir === IIR_THRI) {
          this.thrEmptyPending = false;
          this.updateInterrupt();
        }
        return iir | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
      }
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        const lsr = this.lineStatus();
        this.lsr &= ~LSR_OE; // overrun is cleared by reading LSR
        return lsr;
      }
      case MSR:
        return this.modemStatus();
      case SCR:
        return this.scr;
      default:
        return 0xff;
    }
  }

  private writeRegister(offset: number, value: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR:
        if (dlab) {
          this.dll = value;
          return;
        }
        if (this.mcr & MCR_LOOP) this.pushRx(value);
        else this.transmit(value);
        // Transmission is instantaneous: THR is empty again at once.
        this.thrEmptyPending = true;
        this.updateInterrupt();
        return;
      case IER:
        if (dlab) {
          this.dlm = value;
          return;
        }
        {
          const enablingThri = (value & IER_THRI) !== 0 && (this.ier & IER_THRI) === 0;
          this.ier = value & (IER_RDI | IER_THRI | IER_RLSI | IER_MSI);
          if (enablingThri) this.thrEmptyPending = true;
        }
        this.updateInterrupt();
        return;
      case IIR_FCR:
        this.fifoEnabled = (value & FCR_ENABLE) !== 0;
        if (value & FCR_CLEAR_RX) {
          this.rxHead = 0;
          this.rxCount = 0;
        }
        this.updateInterrupt();
        return;
      case LCR:
        this.lcr = value;
        return;
      case MCR:
        this.mcr = value & 0x1f;
        this.updateInterrupt();
        return;
      case SCR:
        this.scr = value;
        return;
      default:
        return; // LSR and MSR are read-only
    }
  }

  private pendingInterrupt(): number {
    if (this.ier & IER_RDI && this.rxCount > 0) return IIR_RDI;
    if (this.ier & IER_THRI && this.thrEmptyPending) return IIR_THRI;
    if (this.ier & IER_MSI && this.mcr & MCR_LOOP) return IIR_MSI;
    return IIR_NONE;
  }

  private updateInterrupt(): void {
    const asserted = this.pendingInterrupt() !== IIR_NONE;
    if (asserted === this.irqAsserted) return;
    this.irqAsserted = asserted;
    this.irq.setLevel(asserted);
  }
}
