// The shell function bin/tsvmm starts the helper with
// (tools/build/helper-launch-script.ts): it must start the helper exactly as
// the frontend's spawn would (the jail's unshare command, the Node
// arguments, only the environment the helper may have), and only for the
// command lines the frontend's early start would. A stand-in for setpriv,
// the command it runs, records what it was given: its arguments, its
// environment (but for the PWD its own shell adds) and its open descriptors.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helperEnvironment, helperNodeArgs } from '../../src/cli/process-launch.js';
import { entryPointArgs } from '../../src/entry-points.js';
import { buildJailLaunch, isRoot } from '../../src/sandbox/jail-launch.js';
import { helperLaunchScript } from '../../tools/build/helper-launch-script.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-helper-launch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const record = join(dir, 'record');
const runtimeDir = join(dir, 'run');
mkdirSync(runtimeDir);
const setpriv = join(dir, 'setpriv');
// It writes its arguments and environment (but for the PWD its own shell
// adds), then waits while the test reads its descriptors from /proc.
writeFileSync(
  setpriv,
  `#!/bin/sh
exec 9>'${record}.part'
printf '%s\\n' "$@" --- >&9
env | grep -v '^PWD=' | sort >&9
exec 9>&-
mv '${record}.part' '${record}'
exec sleep 60
`,
  { mode: 0o755 },
);
const script = join(dir, 'helper-launch.sh');
writeFileSync(script, helperLaunchScript({ setpriv }));

interface Launch {
  /** TSVMM_LAUNCHED_HELPER as the function left it for the frontend. */
  told: string;
  args: string[];
  env: Record<string, string>;
  /** What its descriptors 0-5 and 7 are ('' for none). */
  fds: Record<number, string>;
}

/** Runs the function for `words` in `env`, with fd 7 open as a shell's descriptor would be; undefined when it started nothing. */
function launch(words: string[], env: Record<string, string> = {}, prefix: string[] = []): Launch | undefined {
  rmSync(record, { force: true });
  const r = spawnSync(
    prefix[0] ?? 'sh',
    [...prefix.slice(1), ...(prefix.length ? ['sh'] : []), '-c', '. "$0"; exec 7</dev/null; tsvmm_launch_helper "$@"; echo "${TSVMM_LAUNCHED_HELPER-}"', script, ...words],
    { encoding: 'utf8', env: { HOME: process.env.HOME!, XDG_RUNTIME_DIR: runtimeDir, ...env }, timeout: 30_000 },
  );
  expect(r.stderr).toBe('');
  const told = r.stdout.trim();
  if (told === '') return undefined;
  const pid = Number(told.split(':')[0]);
  try {
    for (const end = Date.now() + 20_000; !existsSync(record); ) {
      if (Date.now() > end) throw new Error('the stand-in for setpriv never wrote its record');
      spawnSync('sleep', ['0.05']);
    }
    const [args, envLines] = readFileSync(record, 'utf8').split('---\n').map((part) => part.split('\n').filter(Boolean));
    const fd = (n: number) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${n}`);
      } catch {
        return '';
      }
    };
    return {
      told,
      args,
      env: Object.fromEntries(envLines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])),
      fds: Object.fromEntries([0, 1, 2, 3, 4, 5, 7].map((n) => [n, fd(n)])),
    };
  } finally {
    process.kill(pid, 'SIGKILL');
  }
}

const nodeArgs = entryPointArgs('helper', helperNodeArgs({}));
const jailed = buildJailLaunch({ nodePath: process.execPath, nodeArgs, userNamespace: !isRoot() });

describe("the launcher's start of the helper", () => {
  it("runs the frontend's jail command, with the helper's environment alone and /dev/null where its connections will go", () => {
    const l = launch(['run', '--mem', '64', '--', '--no-sandbox'], { TSVMM_TEST_HOOK: 'probe', SECRET: 'not for the helper' })!;
    expect(l.args).toEqual(['--pdeathsig', 'KILL', jailed.command, ...jailed.args]);
    const socket = l.env.TSVMM_FRONTEND_SOCKET;
    expect(l.env).toEqual({ ...helperEnvironment({ TSVMM_TEST_HOOK: 'probe' }), TSVMM_FRONTEND_SOCKET: socket });
    expect(socket).toMatch(new RegExp(`^${runtimeDir}/tsvmm-helper-[0-9]+/socket$`));
    expect(l.told).toMatch(new RegExp(`^[0-9]+:1:${socket}$`));
    expect(l.fds).toEqual({ 0: '/dev/null', 1: '/dev/null', 2: '/dev/null', 3: '/dev/null', 4: '/dev/null', 5: '', 7: '/dev/null' });
    // The shell's own descriptor went along (the helper closes it: frontend-connection.ts).
  });

  it('starts it unjailed for --no-sandbox, and for exec, whatever the guest command says', () => {
    const unjailed = launch(['run', '--no-sandbox'])!;
    expect(unjailed.args).toEqual(['--pdeathsig', 'KILL', process.execPath, ...nodeArgs]);
    expect(unjailed.told).toMatch(/^[0-9]+:0:\//);
    expect(launch(['exec', '--', 'ls', '--help'])?.args[2]).toBe(jailed.command);
  });

  it('keeps the user cache where the frontend would, and MALLOC_TRIM_THRESHOLD_ as the user set it', () => {
    const l = launch(['run'], { TSVMM_CACHE: join(dir, 'cache'), MALLOC_TRIM_THRESHOLD_: '4096' })!;
    expect(l.env.TSVMM_CODE_CACHE_DIR).toBe(join(dir, 'cache', 'code-cache'));
    expect(l.env.MALLOC_TRIM_THRESHOLD_).toBe('4096');
  });

  it('starts nothing where the early start would not, or where the frontend must check the flags', () => {
    expect(launch(['--version'])).toBeUndefined();
    expect(launch(['run', '--help'])).toBeUndefined();
    expect(launch(['exec', '-h', '--', 'true'])).toBeUndefined();
    expect(launch(['run'], { TSVMM_EARLY_HELPER: '0' })).toBeUndefined();
    expect(launch(['run'], { TSVMM_HELPER_NODE_ARGS: '--cpu-prof' })).toBeUndefined();
    // One CPU: the helper's start would compete with the frontend's (unless forced, as a test on a 1-CPU L1 does).
    expect(launch(['run'], {}, ['taskset', '-c', '0'])).toBeUndefined();
    expect(launch(['run'], { TSVMM_EARLY_HELPER: '1' }, ['taskset', '-c', '0'])?.args[2]).toBe(jailed.command);
  });
});
