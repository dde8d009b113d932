// The host terminal as the guest console: raw mode while the guest runs
// (restored on every way out), and the Ctrl-A escape QEMU users know:
// Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A to the guest.

const CTRL_A = 0x01;

export class ConsoleTerminal {
  private rawEnabled = false;
  private escapePending = false;

  constructor(
    private readonly stdin: NodeJS.ReadStream,
    private readonly onInput: (bytes: Uint8Array) => void,
    private readonly onQuit: () => void,
  ) {}

  start(): void {
    if (this.stdin.isTTY) {
      this.stdin.setRawMode(true);
      this.rawEnabled = true;
      process.once('exit', () => this.restore());
    }
    this.stdin.on('data', this.onData);
    this.stdin.on('error', () => this.stdin.off('data', this.onData));
    this.stdin.resume();
  }

  stop(): void {
    this.stdin.off('data', this.onData);
    this.stdin.pause();
    this.restore();
  }

  private restore(): void {
    if (this.rawEnabled) {
      this.stdin.setRawMode(false);
      this.rawEnabled = false;
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.rawEnabled) {
      this.onInput(chunk);
      return;
    }
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.escapePending) {
        this.escapePending = false;
        if (byte === 0x78 /* x */) {
          this.onQuit();
          return;
        }
        if (byte === CTRL_A) out.push(CTRL_A);
        continue;
      }
      if (byte === CTRL_A) this.escapePending = true;
      else out.push(byte);
    }
    if (out.length) this.onInput(Uint8Array.from(out));
  };
}
