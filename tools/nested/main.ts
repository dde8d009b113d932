// `npm run nested -- [options] -- CMD ARGS...`: runs CMD inside the L1
// (tools/nested/l1.ts) in the current folder, with its stdout, stderr and exit
// status. Status 124: the time limit ran out; 125: the L1 could not run it
// (or froze: no heartbeat for --frozen-after seconds, default 240).
import { consoleEnding, nestedKvmProblem, runInL1 } from './l1.js';

const USAGE = 'usage: npm run nested -- [--timeout SECONDS] [--frozen-after SECONDS] [--cpus N] [--memory SIZE] [--writable DIR]... -- CMD [ARGS...]';

function parse(argv: string[]): { command: string[]; timeoutMs?: number; frozenAfterMs?: number; cpus?: number; memory?: string; writable: string[] } {
  const dashes = argv.indexOf('--');
  const flags = dashes < 0 ? [] : argv.slice(0, dashes);
  const command = dashes < 0 ? argv : argv.slice(dashes + 1);
  const out: ReturnType<typeof parse> = { command, writable: [] };
  for (let i = 0; i < flags.length; i += 2) {
    const value = flags[i + 1];
    if (value === undefined) throw new Error(`${flags[i]} needs a value`);
    switch (flags[i]) {
      case '--timeout': out.timeoutMs = positive(flags[i], value) * 1000; break;
      case '--frozen-after': out.frozenAfterMs = positive(flags[i], value) * 1000; break;
      case '--cpus': out.cpus = positive(flags[i], value); break;
      case '--memory': out.memory = value; break;
      case '--writable': out.writable.push(value); break;
      default: throw new Error(`unknown option ${flags[i]}`);
    }
  }
  if (command.length === 0) throw new Error('no command given');
  return out;
}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} wants a positive whole number, not '${value}'`);
  return n;
}

async function main(): Promise<number> {
  let options;
  try {
    options = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`nested: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const problem = nestedKvmProblem();
  if (problem) {
    console.error(`nested: cannot run KVM nested here: ${problem}`);
    return 125;
  }
  const result = await runInL1(options);
  if (result.status !== undefined) return result.status;
  console.error(`nested: ${result.problem}\n${consoleEnding(result)}`);
  return result.timedOut ? 124 : 125;
}

process.exitCode = await main();
