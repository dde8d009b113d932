// tsvmm's command line.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommand, runOptions, type RunArgs } from './run-command.js';

const KNOWN_ERRORS = new Set(['HelperError', 'ControlSocketError', 'DeviceProcessError', 'DiskSpecError', 'DiskImageError', 'BlockEngineError', 'VirtioSlotError', 'UsageError', 'MachineError', 'BootError', 'PayloadError', 'MemorySizeError', 'KvmError', 'ErrnoError', 'GuestMemoryError']);

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('tsvmm')
    .command<RunArgs>('run', 'boot a guest; the exit status is the guest\'s', runOptions, async (args) => {
      process.exitCode = await runCommand(args);
    })
    .demandCommand(1, 'name a command, e.g. `tsvmm run`')
    .strict()
    .help()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`tsvmm: ${msg}\n`);
      process.exit(2);
    })
    .parseAsync();
}

main().catch((e: Error) => {
  // Expected failures get one clear line; anything else is a bug and shows its stack.
  process.stderr.write(KNOWN_ERRORS.has(e.name) ? `tsvmm: ${e.message}\n` : `tsvmm: internal error: ${e.stack ?? e}\n`);
  process.exitCode = 2;
});
