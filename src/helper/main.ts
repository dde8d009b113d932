// The helper: the VMM proper. It opens nothing by path; everything arrives as
// a file descriptor from the frontend (see helper-protocol.ts). It builds the
// VM, jails itself, then runs the guest and reports how it ended.
import { readFileSync } from 'node:fs';
import { loadRealModePayload } from '../boot/real-mode-payload.js';
import { KvmSystem } from '../kvm/kvm-system.js';
import { EXIT_STATUS } from '../kvm/vm-exit.js';
import { createLogger, type Logger } from '../log.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { VirtualMachine } from '../vmm/virtual-machine.js';
import { loadKernel } from '../vmm/kernel-loading.js';
import { HELPER_FD, type FrontendMessage, type HelperConfig, type HelperMessage } from './helper-protocol.js';

function send(message: HelperMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) resolve();
    else process.send!(message, undefined, {}, () => resolve());
  });
}

class Helper {
  private vm: VirtualMachine | undefined;
  private stopRequested = false;
  private readonly pendingInput: Uint8Array[] = [];

  async start(config: HelperConfig): Promise<void> {
    const log = createLogger({ level: config.logLevel as never, pretty: Boolean(process.env.TSVMM_PRETTY_LOGS) });
    let vm: VirtualMachine;
    let kvm: KvmSystem;
    try {
      kvm = KvmSystem.open(HELPER_FD.kvm);
      const image = readFileSync(HELPER_FD.kernel);
      const initrd = config.hasInitrd ? readFileSync(HELPER_FD.initrd) : undefined;
      const load =
        config.bootKind === 'real-mode'
          ? (m: GuestMemory) => loadRealModePayload(m, image)
          : (m: GuestMemory) => loadKernel(m, { kernel: image, initrd, cmdline: config.cmdline, log });
      vm = VirtualMachine.create({
        kvm,
        machine: config.machine,
        memorySize: config.memorySize,
        cpuTemplate: config.cpuTemplate,
        coalesced: config.coalesced,
        load,
        consoleFd: HELPER_FD.consoleOut,
        log,
      });
    } catch (e) {
      const err = e as Error;
      await send({ type: 'failed', error: { name: err.name, message: err.name === 'Error' ? err.stack ?? err.message : err.message } });
      process.exit(1);
    }
    this.vm = vm;
    if (this.stopRequested) vm.stop();
    this.relayInput(log);
    await send({ type: 'running' });
    const result = await vm.run();
    await send({ type: 'exit', exit: { kind: result.kind, status: result.status, message: result.message }, stats: result.stats });
    await vm.destroy();
    kvm.close();
    process.exit(0);
  }

  stop(): void {
    this.stopRequested = true;
    this.vm?.stop();
  }

  private relayInput(log: Logger): void {
    const pump = () => {
      while (this.pendingInput.length && this.vm) {
        const chunk = this.pendingInput[0];
        const n = this.vm.sendInput(chunk);
        if (n === chunk.length) this.pendingInput.shift();
        else {
          this.pendingInput[0] = chunk.subarray(n);
          break;
        }
      }
    };
    setInterval(pump, 5).unref();
    process.stdin.on('data', (chunk: Buffer) => {
      this.pendingInput.push(chunk);
      pump();
    });
    process.stdin.on('error', (e) => log.debug({ err: e.message }, 'console input closed'));
  }
}

const helper = new Helper();
process.on('message', (m: FrontendMessage) => {
  if (m.type === 'start') void helper.start(m.config);
  else if (m.type === 'stop') helper.stop();
});
// The frontend is gone: nobody can see the guest or collect its status. Stop.
process.on('disconnect', () => {
  helper.stop();
  setTimeout(() => process.exit(EXIT_STATUS.stopped), 2000).unref();
});
process.on('SIGINT', () => helper.stop());
process.on('SIGTERM', () => helper.stop());
