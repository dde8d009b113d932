// tsvmm's command line.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { execCommand, execOptions, type ExecArgs } from './exec-command.js';
import { isExpectedError } from './expected-error.js';
import { runCommand, runOptions, type RunArgs } from './run-command.js';

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('tsvmm')
    .command<RunArgs>('run', 'boot a guest; the exit status is the guest\'s', runOptions, async (args) => {
      process.exitCode = await runCommand(args);
    })
    .command<ExecArgs>('exec', 'run one command in a VM with the host\'s files; its output and exit status come back', execOptions, async (args) => {
      process.exitCode = await execCommand(args);
    })
    .demandCommand(1, 'name a command, e.g. `tsvmm run`')
    // `tsvmm run|exec [options] -- CMD ARGS...`: the words after -- are the guest's command.
    .parserConfiguration({ 'populate--': true })
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
  // Expected failures get one clear line; anything else is a bug and shows its stack (expected-error.ts).
  process.stderr.write(isExpectedError(e) ? `tsvmm: ${e.message}\n` : `tsvmm: internal error: ${e.stack ?? e}\n`);
  process.exitCode = 2;
});
