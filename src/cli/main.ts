// tsvmm's command line.
// First: for run and exec, the helper (and exec's share process) start loading while this process does (early-start.ts).
import './early-start.js';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { execCommand, execOptions, type ExecArgs } from './exec-command.js';
import { isExpectedError } from './expected-error.js';
import { runCommand, runOptions, type RunArgs } from './run-command.js';
import { markStartup } from '../startup-marks.js';
import { endProcess } from '../process-end.js';
import { isBuildingSnapshot, runMain } from '../startup-snapshot.js';
import { planDevices } from '../machine/device-plan.js';
import { DEFAULT_MACHINE, loadMachine } from '../machine/machine-definition.js';

async function main(): Promise<void> {
  markStartup('codeLoaded');
  await commandLine(hideBin(process.argv), {
    run: async (args) => {
      process.exitCode = await runCommand(args);
    },
    exec: async (args) => {
      process.exitCode = await execCommand(args);
    },
  }).parseAsync();
  // The command is done and its output written: end now, not once Node has
  // closed every handle and torn itself down (~0.1 s later in a nested L1).
  endProcess(Number(process.exitCode ?? 0));
}

interface CommandHandlers {
  run(args: RunArgs): Promise<void> | void;
  exec(args: ExecArgs): Promise<void> | void;
}

function commandLine(argv: string[], handlers: CommandHandlers) {
  const cli = yargs(argv);
  skipHelpLayoutAfterCommands(cli);
  return cli
    .scriptName('tsvmm')
    .command<RunArgs>('run', 'boot a guest; the exit status is the guest\'s', runOptions, (args) => handlers.run(args))
    .command<ExecArgs>('exec', 'run one command in a VM with the host\'s files; its output and exit status come back', execOptions, (args) => handlers.exec(args))
    .demandCommand(1, 'name a command, e.g. `tsvmm run`')
    // `tsvmm run|exec [options] -- CMD ARGS...`: the words after -- are the guest's command.
    .parserConfiguration({ 'populate--': true })
    .strict()
    .help()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`tsvmm: ${msg}\n`);
      process.exit(2);
    });
}

/**
 * While the CLI's startup snapshot is written: command lines like users'
 * parsed, their commands not run, and the default machine read and planned.
 * V8 compiles a function when it first runs and the snapshot keeps what was
 * compiled, so a process started from it parses its command line and plans
 * its machine at once instead of compiling yargs's parser and the machine
 * file's reader first: natively 177 -> 169 ms for `run` up to opening
 * /dev/kvm with the parser alone, in the nested L1 the parse ~290 -> ~150 ms
 * (BENCHMARKS.md, "Start-up").
 */
function compileTheCommonPaths(): void {
  const ignore = () => {};
  for (const argv of [
    ['run', '--mem', '256M', '--', 'true'],
    ['run', '--kernel', 'vmlinux', '--disk', 'disk.img,ro', '--net', 'user', '--no-sandbox', '--stats'],
    ['exec', '--log-level', 'debug', '--', 'sh', '-c', 'true'],
  ])
    commandLine(argv, { run: ignore, exec: ignore }).parseSync();
  planDevices(loadMachine(DEFAULT_MACHINE), []);
}

/**
 * yargs lays out the whole help text after running any command, in case it
 * fails later and the help is to be shown (34 ms of a 200 ms start natively,
 * more than a second in a nested L1). tsvmm never shows help on failure
 * (see .fail above), so the layout is skipped. Through yargs's internal
 * methods: where they differ, nothing is patched and only time is lost.
 */
function skipHelpLayoutAfterCommands(cli: object): void {
  type Usage = { cacheHelpMessage?: () => void };
  const internal = (cli as { getInternalMethods?: () => { getUsageInstance?: () => Usage } }).getInternalMethods?.();
  const usage = internal?.getUsageInstance?.();
  if (typeof usage?.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

if (isBuildingSnapshot()) compileTheCommonPaths();

// Run as the process starts (from the CLI's startup snapshot, or after loading every module: src/startup-snapshot.ts).
runMain(() =>
  void main().catch((e: Error) => {
    // Expected failures get one clear line; anything else is a bug and shows its stack (expected-error.ts).
    process.stderr.write(isExpectedError(e) ? `tsvmm: ${e.message}\n` : `tsvmm: internal error: ${e.stack ?? e}\n`);
    process.exitCode = 2;
  }),
);
