// User networking (`--net user`: virtio-net + passt) with real peers: the
// default guest takes an address by DHCP, fetches a page from an HTTP server
// this test runs on the host's loopback (through the gateway address, which
// passt maps to the host), and serves a port the host reaches through a
// forward (hostfwd).
import { createServer as createHttpServer } from 'node:http';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultGuestOrMissing } from '../support/default-guest.js';
import { describeKvm } from '../support/host-requirements.js';
import { runTsvmm } from '../support/run-tsvmm.js';

const BOOT_TIMEOUT_MS = 300_000;
const page = `page-${randomBytes(8).toString('hex')}`;
const reply = `reply-${randomBytes(8).toString('hex')}`;
const http = createHttpServer((_, res) => res.end(page));
let httpPort = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpPort = (http.address() as AddressInfo).port;
});
afterAll(() => http.close());

/** A TCP port nothing listens on now (for the forward). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Connects to the forward and returns what the guest sends ('' when the guest is not listening yet). */
function readForward(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const c = createConnection({ host: '127.0.0.1', port });
    c.on('data', (d) => {
      got += d.toString();
      if (got.includes(reply)) c.end();
    });
    c.on('close', () => resolve(got));
    c.on('error', () => resolve(got));
    c.setTimeout(10_000, () => c.destroy());
  });
}

describeKvm('user networking (virtio-net + passt)', () => {
  const guest = defaultGuestOrMissing();
  if (!guest) return;
  it(
    'gets an address by DHCP, fetches a page from the host, and serves a forwarded port',
    async () => {
      const forward = await freePort();
      // The gateway is passt's: whatever the host's default route says.
      const script = [
        'set -- $(ip route | grep default); gw=$3',
        'ip addr show eth0 | grep "inet "',
        `echo "fetched: $(wget -q -O- http://$gw:${httpPort}/)"`,
        // nc listens before the host is told to connect (an early connection would wait on passt).
        `(echo ${reply} | nc -l -p 7000) & sleep 2`,
        'echo listening',
        'wait',
      ].join('; ');
      let forwarded: Promise<string> | undefined;
      const r = await runTsvmm(['run', '--net', `user,hostfwd=tcp:${forward}-:7000`, '--log-level', 'warn', '--', 'sh', '-c', script], {
        timeoutMs: BOOT_TIMEOUT_MS,
        onStdout: (all) => {
          if (!forwarded && all.includes('\nlistening')) {
            // nc listens a moment after it is started.
            forwarded = (async () => {
              for (let i = 0; i < 20; i++) {
                await new Promise((res) => setTimeout(res, 500));
                const got = await readForward(forward);
                if (got.includes(reply)) return got;
              }
              return '';
            })();
          }
        },
      });
      expect(r.timedOut, r.stdout.slice(-3000) + r.stderr.slice(-2000)).toBe(false);
      expect(r.stdout).toMatch(/inet \d+\.\d+\.\d+\.\d+/);
      expect(r.stdout).toContain(`fetched: ${page}`);
      expect(await forwarded).toContain(reply);
      expect(r.status, r.stderr.slice(-2000)).toBe(0);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});
