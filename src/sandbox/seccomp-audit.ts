// Which syscall did the filter refuse? When the helper dies of SIGSYS its
// parent only learns the signal. The kernel, though, logs every kill and every
// log-mode hit as an audit record (type=1326, "SECCOMP") — to auditd when it
// runs, otherwise to the kernel log:
//
//   audit: type=1326 audit(…): auid=… uid=0 gid=0 ses=… pid=4242 comm="node"
//          exe="/usr/bin/node" sig=31 arch=c000003e syscall=41 compat=0 ip=0x… code=0x80000000
//
// The frontend reads those from /dev/kmsg, filtered by the helper's host pid
// (JailReport.hostPid, or childPids() of the unshare process). Reading the
// kernel log needs CAP_SYSLOG when kernel.dmesg_restrict=1 — the frontend of a
// root-run VMM has it; otherwise the answer is "rerun with --seccomp=log and
// look at `journalctl -k | grep type=1326`" (or `ausearch -m SECCOMP`).
//
// Alternatives weighed: SECCOMP_RET_TRAP would deliver SIGSYS with si_syscall,
// but only a native handler can read it and JavaScript has none in signal
// context; /proc/<pid>/syscall is gone once the process is killed; a
// SECCOMP_RET_USER_NOTIF supervisor needs fd passing and TSYNC_ESRCH — too much
// machinery for a diagnostic.
import fs from 'node:fs';
import { syscallName } from './syscall-table.js';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRAP } from './seccomp-compiler.js';

export interface SeccompAuditRecord {
  readonly pid: number;
  readonly comm: string;
  readonly syscall: number;
  readonly syscallName: string;
  readonly arch: number;
  readonly action: 'kill-process' | 'kill-thread' | 'trap' | 'errno' | 'log' | 'other';
  readonly code: number;
}

/** Parses one kernel log line; undefined when it is not a seccomp audit record. */
export function parseSeccompAuditLine(line: string): SeccompAuditRecord | undefined {
  if (!line.includes('type=1326')) return undefined;
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}=("[^"]*"|\\S+)`).exec(line)?.[1];
  const pid = Number(field('pid'));
  const syscall = Number(field('syscall'));
  const code = Number(field('code'));
  if (!Number.isInteger(pid) || !Number.isInteger(syscall) || Number.isNaN(code)) return undefined;
  const full = (code & SECCOMP_RET_ACTION_FULL) >>> 0;
  const action =
    full === SECCOMP_RET_KILL_PROCESS ? 'kill-process'
    : full === SECCOMP_RET_KILL_THREAD ? 'kill-thread'
    : full === SECCOMP_RET_TRAP ? 'trap'
    : full === SECCOMP_RET_ERRNO ? 'errno'
    : full === SECCOMP_RET_LOG ? 'log'
    : 'other';
  return {
    pid,
    comm: (field('comm') ?? '').replace(/^"|"$/g, ''),
    syscall,
    syscallName: syscallName(syscall),
    arch: parseInt(field('arch') ?? '0', 16),
    action,
    code,
  };
}

/**
 * Seccomp audit records still in the kernel log, optionally only for `pid`
 * (host pid namespace). undefined when the kernel log cannot be read.
 */
export function readSeccompAuditRecords(pid?: number, kmsgPath = '/dev/kmsg'): SeccompAuditRecord[] | undefined {
  let fd: number;
  try {
    fd = fs.openSync(kmsgPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const out: SeccompAuditRecord[] = [];
  const buf = Buffer.alloc(8192);
  try {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records overwritten while reading: go on from the next
        if (code === 'EAGAIN') break; // end of the log
        if (code === 'EPERM' || code === 'EACCES') return undefined;
        throw e;
      }
      if (n === 0) break;
      const record = parseSeccompAuditLine(buf.toString('utf8', 0, n));
      if (record && (pid === undefined || record.pid === pid)) out.push(record);
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** One line for the user after the helper died of SIGSYS. */
export function explainSeccompDeath(hostPid: number, kmsgPath = '/dev/kmsg'): string {
  const records = readSeccompAuditRecords(hostPid, kmsgPath);
  if (records === undefined) {
    return 'the helper was killed by its seccomp filter (SIGSYS); the kernel log is not readable here — rerun with --seccomp=log and check `journalctl -k | grep type=1326` for the syscall';
  }
  const kill = [...records].reverse().find((r) => r.action === 'kill-process' || r.action === 'kill-thread');
  if (!kill) return `the helper (pid ${hostPid}) was killed by SIGSYS but the kernel log has no seccomp record for it (audit disabled or rate-limited)`;
  return `the helper's seccomp filter refused syscall ${kill.syscall} (${kill.syscallName}) in thread "${kill.comm}"; if the process really needs it, add it with a reason to its kind's policy in src/sandbox/ (policy-base.ts, helper-policy.ts, device-process-policy.ts)`;
}
