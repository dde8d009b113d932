import { describe, expect, it } from 'vitest';
import { NetSpecError, parseNetSpec } from '../../src/net/net-spec.js';
import { passtArguments } from '../../src/net/passt.js';

describe('--net', () => {
  it('reads user networking with forwards, a MAC and a process choice', () => {
    expect(parseNetSpec('user,hostfwd=tcp:8080-:80,hostfwd=udp:127.0.0.1:5353-10.0.2.15:53,mac=52:54:00:AA:bb:01,process=separate')).toEqual({
      backend: {
        kind: 'user',
        forwards: [
          { protocol: 'tcp', hostPort: 8080, guestPort: 80 },
          { protocol: 'udp', hostAddress: '127.0.0.1', hostPort: 5353, guestPort: 53 },
        ],
      },
      mac: '52:54:00:aa:bb:01',
      separateProcess: true,
    });
    expect(parseNetSpec('user')).toEqual({ backend: { kind: 'user', forwards: [] } });
    expect(parseNetSpec('user,hostfwd=tcp::2222-:22').backend).toEqual({ kind: 'user', forwards: [{ protocol: 'tcp', hostPort: 2222, guestPort: 22 }] });
  });

  it('reads a tap device', () => {
    expect(parseNetSpec('tap=tap0,mac=02:00:00:00:00:01')).toEqual({ backend: { kind: 'tap', ifname: 'tap0' }, mac: '02:00:00:00:00:01' });
  });

  it('reads a stream socket', () => {
    expect(parseNetSpec('stream=/run/user/1000/passt.sock,process=separate')).toEqual({ backend: { kind: 'stream', path: '/run/user/1000/passt.sock' }, separateProcess: true });
  });

  it.each([
    ['stream', /stream needs the path of a Unix socket/],
    ['stream=', /stream needs the path of a Unix socket/],
    [`stream=/${'x'.repeat(107)}`, /longer than 107 bytes/],
    ['stream=/s,hostfwd=tcp:1-:2', /hostfwd is for user networking/],
    ['slirp', /unknown network kind "slirp"/],
    ['user=x', /user takes no value/],
    ['tap', /tap needs an interface name/],
    ['tap=a-name-that-is-too-long', /tap needs an interface name of 1 to 15/],
    ['tap=tap0,hostfwd=tcp:1-:2', /hostfwd is for user networking/],
    ['user,hostfwd=tcp:80', /expected tcp\|udp/],
    ['user,hostfwd=sctp:1-:2', /expected tcp\|udp/],
    ['user,hostfwd=tcp:70000-:80', /port 70000 is not in 1\.\.65535/],
    ['user,hostfwd=tcp:999.1.1.1:80-:80', /not an IPv4 address/],
    ['user,mac=52:54:00:00:00', /expected six hex bytes/],
    ['user,mac=01:00:5e:00:00:01', /multicast/],
    ['user,mac=52:54:00:00:00:01,mac=52:54:00:00:00:02', /mac given twice/],
    ['user,process=elsewhere', /process must be inline or separate/],
    ['user,speed=fast', /unknown option "speed"/],
  ])('refuses %s with a clear message', (text, message) => {
    expect(() => parseNetSpec(text)).toThrow(NetSpecError);
    expect(() => parseNetSpec(text)).toThrow(message);
  });

  it('turns forwards into passt options', () => {
    const { backend } = parseNetSpec('user,hostfwd=tcp:8080-:80,hostfwd=udp:127.0.0.1:5353-:53');
    expect(passtArguments((backend as Extract<typeof backend, { kind: 'user' }>).forwards)).toEqual(['-t', '8080:80', '-u', '127.0.0.1/5353:53']);
  });
});
