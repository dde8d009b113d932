// `tsvmm exec -- CMD`: the default guest runs a command in the host's tree
// (read-only, under a tmpfs overlay) with the working directory shared
// writable at its own path; the command's stdout and stderr come back apart
// (virtio-console ports), byte for byte, and tsvmm exits with its status. An
// init that cannot run the command ends the VM at once with status 125 and
// says why. Run as root, the shares are served as nobody (share-9p test), so
// the working directory is open to all.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { defaultGuestOrMissing } from '../support/default-guest.js';
import { describeKvm } from '../support/host-requirements.js';
import { deadline } from '../support/deadline.js';
import { TSVMM_BIN, runTsvmm } from '../support/run-tsvmm.js';
import { TSVMM_CLI_SCRIPT } from '../../src/entry-points.js';

const BOOT_TIMEOUT_MS = 300_000;
/** nobody's uid (and group), an ordinary user on any Debian. */
const NOBODY = 65534;
const cwd = mkdtempSync(join(tmpdir(), 'tsvmm-exec-'));
const emptyRoot = mkdtempSync(join(tmpdir(), 'tsvmm-exec-root-'));
chmodSync(cwd, 0o777);
chmodSync(emptyRoot, 0o755);
afterAll(() => {
  rmSync(cwd, { recursive: true, force: true });
  rmSync(emptyRoot, { recursive: true, force: true });
});

describeKvm('tsvmm exec', () => {
  const guest = defaultGuestOrMissing();
  if (!guest) return;

  it(
    'runs from a working directory below one only its owner may enter (a 0700 /root), where the shares are served as nobody when tsvmm runs as root',
    async () => {
      const closed = mkdtempSync(join(tmpdir(), 'tsvmm-exec-closed-')); // 0700
      const inner = join(closed, 'work');
      mkdirSync(inner, { mode: 0o777 });
      chmodSync(inner, 0o777);
      try {
        const r = await runTsvmm(['exec', '--', 'sh', '-c', 'pwd; echo made > made.txt'], { cwd: inner, timeoutMs: BOOT_TIMEOUT_MS });
        expect(r.timedOut, r.stderr).toBe(false);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe(`${inner}\n`);
        expect(readFileSync(join(inner, 'made.txt'), 'utf8')).toBe('made\n');
      } finally {
        rmSync(closed, { recursive: true, force: true });
      }
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    "runs a command in the host's tree: its stdout and stderr apart and exact, its status, its files in the working directory",
    async () => {
      const data = randomBytes(300 * 1024 + 17);
      writeFileSync(join(cwd, 'data.bin'), data);
      const marker = `/etc/tsvmm-exec-${randomBytes(4).toString('hex')}`;
      // Host binaries (cat, sha256sum, sh) from the shared root; the guest may
      // write anywhere, but only the working directory reaches the host.
      const script = [
        'cat data.bin',
        'sha256sum data.bin >&2',
        `echo overlay > ${marker} && cat ${marker} >&2`,
        'pwd > where.txt; id -u >> where.txt',
        // One write of the whole file: a Twrite far above Linux's default msize (the guest mounts 512000).
        'dd if=data.bin of=copy.bin bs=1M 2>/dev/null',
        'exit 7',
      ].join('; ');
      const r = await runTsvmm(['exec', '--', 'sh', '-c', script], { cwd, timeoutMs: BOOT_TIMEOUT_MS });
      const log = r.stderr.slice(-3000);
      expect(r.timedOut, log).toBe(false);
      expect(r.status, log).toBe(7);
      expect(Buffer.from(r.stdout, 'latin1').equals(data), `stdout: ${r.stdout.length} bytes; ${log}`).toBe(true);
      expect(r.stderr).toBe(`${createHash('sha256').update(data).digest('hex')}  data.bin\noverlay\n`);
      expect(readFileSync(join(cwd, 'where.txt'), 'utf8')).toBe(`${cwd}\n${process.getuid!()}\n`);
      expect(readFileSync(join(cwd, 'copy.bin')).equals(data)).toBe(true);
      expect(existsSync(marker)).toBe(false);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    "runs the host's Node: `npm --version` in the checkout prints npm's version",
    async () => {
      const r = await runTsvmm(['exec', '--', 'npm', '--version'], { cwd: PROJECT_ROOT, timeoutMs: BOOT_TIMEOUT_MS });
      expect(r.timedOut, r.stderr).toBe(false);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(execFileSync('npm', ['--version'], { cwd: PROJECT_ROOT, encoding: 'utf8' }));
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'gives the command a network with --net user (an address and a default route by DHCP)',
    async () => {
      const r = await runTsvmm(['exec', '--net', 'user', '--', 'sh', '-c', "grep -c '^eth0[[:space:]]00000000' /proc/net/route"], { cwd, timeoutMs: BOOT_TIMEOUT_MS });
      expect(r.timedOut, r.stderr).toBe(false);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe('1\n');
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'ends like a local program on SIGPIPE (141) when the reader of its stdout goes away: `tsvmm exec -- yes | head -1`',
    async () => {
      const child = spawn(TSVMM_BIN, ['exec', '--', 'yes'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      const killer = setTimeout(() => child.kill('SIGKILL'), deadline(BOOT_TIMEOUT_MS));
      try {
        const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
        expect(first.startsWith('y\n')).toBe(true);
        child.stdout.destroy(); // the reader is gone, as `head -1` after its line
        const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
        expect(status, err).toBe(141);
      } finally {
        clearTimeout(killer);
        child.kill('SIGKILL');
      }
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'an init that cannot run the command ends the VM at once with status 125 and the reason',
    async () => {
      const r = await runTsvmm(['exec', '--rootfs', emptyRoot, '--', 'true'], { cwd, timeoutMs: BOOT_TIMEOUT_MS });
      expect(r.timedOut, r.stderr).toBe(false);
      expect(r.status, r.stderr).toBe(125);
      expect(r.stderr).toMatch(/the guest kernel panicked before the command finished \(tsvmm exec: the root the command runs in has no \/bin\/sh\)/);
      expect(r.stdout).toBe('');
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    "runs as an ordinary user: the command gets the caller's uid and gid, and its files belong to them; guest RAM is on huge pages all the same",
    async () => {
      // The test runs as root (CI, the nested L1); tsvmm runs as nobody, with
      // /dev/kvm's group when only its group may open it (as on distributions
      // whose udev makes it 0660 root:kvm), and a copy of the default guest
      // that nobody can read (the root's cache is under /root, mode 0700).
      // The checkout may be in a directory only root may enter (a CI clone in
      // a private temporary directory): nobody runs it through a bind mount,
      // made in a mount namespace of its own, at a path anyone can reach.
      if (process.getuid!() !== 0) throw new Error('this test runs tsvmm as another user, which needs root');
      const kvm = statSync('/dev/kvm');
      const gid = (kvm.mode & 0o006) === 0o006 ? NOBODY : (kvm.mode & 0o060) === 0o060 ? kvm.gid : undefined;
      if (gid === undefined) throw new Error(`only root may open this host's /dev/kvm (mode ${(kvm.mode & 0o777).toString(8)}): no ordinary user can run a VM here`);
      const cache = mkdtempSync(join(tmpdir(), 'tsvmm-exec-cache-'));
      const home = mkdtempSync(join(tmpdir(), 'tsvmm-exec-user-'));
      const checkout = mkdtempSync(join(tmpdir(), 'tsvmm-exec-checkout-'));
      // runTsvmm appends the CLI's path (replaced by the bind mount's script, run by this node) and tsvmm's arguments.
      // Found at another path, the build's startup snapshots are not used (entry-points.ts).
      const asNobody = [
        'unshare', '--mount', '--', 'sh', '-c',
        `mount --bind "$0" "$1" && checkout=$1 && shift 2 && exec setpriv --reuid=${NOBODY} --regid=${gid} --clear-groups -- "${process.execPath}" "$checkout/${relative(PROJECT_ROOT, TSVMM_CLI_SCRIPT)}" "$@"`,
        PROJECT_ROOT, checkout,
      ];
      try {
        chmodSync(cache, 0o755);
        mkdirSync(join(cache, 'guest'), { mode: 0o755 });
        const copy = (path: string) => {
          const to = join(cache, 'guest', basename(path));
          copyFileSync(path, to);
          chmodSync(to, 0o644);
          return to;
        };
        writeFileSync(join(cache, 'guest', 'guest.json'), JSON.stringify({ ...guest, vmlinux: copy(guest.vmlinux), bzImage: copy(guest.bzImage), initrd: copy(guest.initrd), initrdGzip: undefined, initrdUncompressed: undefined }), { mode: 0o644 });
        chownSync(home, NOBODY, gid);
        const log = join(home, 'tsvmm.log');
        const r = await runTsvmm(['exec', '--log-level', 'debug', '--log-file', log, '--', 'sh', '-c', 'id -u; id -g; echo made > mine.txt'], {
          cwd: home,
          wrapper: asNobody,
          env: { TSVMM_CACHE: cache, HOME: home },
          timeoutMs: BOOT_TIMEOUT_MS,
        });
        expect(r.timedOut, r.stderr).toBe(false);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe(`${NOBODY}\n${gid}\n`);
        const made = statSync(join(home, 'mine.txt'));
        expect([made.uid, made.gid]).toEqual([NOBODY, gid]);
        expect(readFileSync(join(home, 'mine.txt'), 'utf8')).toBe('made\n');
        // Not root, yet on a huge-page tmpfs: made in a user namespace of a child's (src/memory/user-namespace-tmpfs.ts).
        const shared = readFileSync(log, 'utf8').split('\n').find((l) => l.includes('guest RAM shared with device processes'));
        expect(JSON.parse(shared!).backing).toEqual({ kind: 'huge-tmpfs', inUserNamespace: true });
      } finally {
        rmSync(cache, { recursive: true, force: true });
        rmSync(home, { recursive: true, force: true });
        // The bind mount went with its namespace; never a recursive removal here, in case it did not.
        rmdirSync(checkout);
      }
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});
