// npm run fuzz -- [--target NAME]... [--seconds N | --iterations N] [--seed S] [--case C]
//
// Runs each fuzz target for N seconds (default 10) or N inputs, prints the
// inputs tried per second, and prints every failure with the case seed that
// regenerates its input: `--target NAME --case C` runs that one input again.
// Exit status 1 when anything failed. See docs/fuzzing.md.
import { formatFailure, runCase, runTarget, type FuzzFailure } from './harness.js';
import { TARGET_NAMES, createTarget } from './targets.js';

interface Args {
  targets: string[];
  seconds?: number;
  iterations?: number;
  seed: number;
  caseSeed?: number;
}

const USAGE = `usage: npm run fuzz -- [--target NAME]... [--seconds N | --iterations N] [--seed S] [--case C]
targets: ${TARGET_NAMES.join(', ')}`;

function parseArgs(argv: string[]): Args {
  const a: Args = { targets: [], seed: (Date.now() ^ (process.pid << 16)) >>> 0 };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const [name, inline] = flag.includes('=') ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)] : [flag, undefined];
    const value = () => inline ?? argv[++i];
    switch (name) {
      case '--target':
      case '-t':
        a.targets.push(...String(value()).split(','));
        break;
      case '--seconds':
        a.seconds = num(name, value());
        break;
      case '--iterations':
        a.iterations = Math.floor(num(name, value()));
        break;
      case '--seed':
        a.seed = num(name, value()) >>> 0;
        break;
      case '--case':
        a.caseSeed = num(name, value()) >>> 0;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  for (const t of a.targets) if (!TARGET_NAMES.includes(t)) throw new Error(`unknown target ${t}\n${USAGE}`);
  if (a.caseSeed !== undefined && a.targets.length !== 1) throw new Error(`--case needs exactly one --target\n${USAGE}`);
  return a;
}

function main(): number {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const names = args.targets.length > 0 ? args.targets : TARGET_NAMES;
  if (args.caseSeed !== undefined) {
    const target = createTarget(names[0]);
    const f = runCase(target, args.caseSeed);
    target.close?.();
    if (f === null) {
      console.log(`${names[0]} case ${args.caseSeed}: passed`);
      return 0;
    }
    console.log(formatFailure(f));
    return 1;
  }
  const seconds = args.iterations === undefined ? (args.seconds ?? 10) : undefined;
  console.log(`fuzzing ${names.join(', ')} with seed ${args.seed}, ${seconds !== undefined ? `${seconds} s` : `${args.iterations} inputs`} per target`);
  const all: FuzzFailure[] = [];
  const rows: string[] = [];
  for (const name of names) {
    const target = createTarget(name);
    const r = runTarget(target, { seed: args.seed, iterations: args.iterations, seconds, onFailure: (f) => console.log(formatFailure(f)) });
    target.close?.();
    all.push(...r.failures);
    const row = `${name.padEnd(14)} ${String(r.iterations).padStart(9)} inputs in ${r.seconds.toFixed(1).padStart(5)} s = ${Math.round(r.iterations / r.seconds).toString().padStart(7)}/s   failures: ${r.failures.length}`;
    rows.push(row);
    console.log(row);
    if (target.outcomes) console.log(`  outcomes: ${target.outcomes}`);
  }
  console.log(`\nsummary (seed ${args.seed}):\n${rows.join('\n')}`);
  return all.length === 0 ? 0 : 1;
}

process.exitCode = main();
