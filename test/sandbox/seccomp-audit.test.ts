import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainSeccompDeath, parseSeccompAuditLine, readSeccompAuditRecords } from '../../src/sandbox/seccomp-audit.js';

const KILL = '6,1234,5678,-;audit: type=1326 audit(1795700113.735:25): auid=4294967295 uid=65534 gid=65534 ses=4294967295 pid=6110 comm="node" exe="/usr/bin/node" sig=31 arch=c000003e syscall=41 compat=0 ip=0x7fd0efb1f9b3 code=0x80000000';
const LOG = 'audit: type=1326 audit(1795700120.511:27): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=6342 comm="libuv-worker" exe="/usr/bin/node" sig=0 arch=c000003e syscall=99 compat=0 ip=0x7efdf5be7ca3 code=0x7ffc0000';

describe('seccomp audit records', () => {
  it('parses kill and log records', () => {
    expect(parseSeccompAuditLine(KILL)).toEqual({
      pid: 6110, comm: 'node', syscall: 41, syscallName: 'socket', arch: 0xc000003e, action: 'kill-process', code: 0x80000000,
    });
    expect(parseSeccompAuditLine(LOG)).toMatchObject({ pid: 6342, comm: 'libuv-worker', syscallName: 'sysinfo', action: 'log' });
    expect(parseSeccompAuditLine('audit: type=1400 apparmor="DENIED"')).toBeUndefined();
  });

  it('explains a death from a kernel log, or says how to find out', () => {
    // A regular file stands in for /dev/kmsg: one record per read is not needed to parse lines.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmsg-'));
    const missing = path.join(dir, 'none');
    expect(readSeccompAuditRecords(6110, missing)).toBeUndefined();
    expect(explainSeccompDeath(6110, missing)).toMatch(/--seccomp=log/);
    const file = path.join(dir, 'kmsg');
    fs.writeFileSync(file, KILL);
    expect(readSeccompAuditRecords(6110, file)).toHaveLength(1);
    expect(readSeccompAuditRecords(7, file)).toEqual([]);
    expect(explainSeccompDeath(6110, file)).toMatch(/refused syscall 41 \(socket\) in thread "node"/);
    fs.rmSync(dir, { recursive: true });
  });
});
