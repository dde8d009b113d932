// The seccomp policy of a device process (src/device-process/main.ts): the
// base every jailed Node process gets (policy-base.ts), block I/O for the disk
// it serves, and nothing of the helper's own list. It holds no /dev/kvm and no
// terminal, so no KVM ioctl and no tty ioctl is allowed: a compromised device
// process that got hold of a KVM or tty descriptor still could not use it.
//
// Its data path after the jail: the region socket (read/write, watched by
// the data-path loop's epoll, fcntl O_NONBLOCK), the doorbell and interrupt
// eventfds (read/write), guest RAM already mapped from the shared memfd, the
// disk through its block engine, Node IPC with the VMM (sendmsg/recvmsg) and
// logs on its stderr pipe. All of these are in the base or the block part.
import { blockIoEntries, composePolicy, fileServerEntries, type PolicyOptions } from './policy-base.js';
import type { SeccompPolicy } from './seccomp-policy.js';

export function deviceProcessPolicy(options: PolicyOptions = {}): SeccompPolicy {
  const jit = options.jit ?? true;
  return composePolicy(
    jit ? 'device-process' : 'device-process-jitless',
    {
      ioctls: [],
      ioctlReason: 'no request of its own (no KVM descriptor, no terminal)',
      entries: [
        {
          syscall: 'ioctl',
          action: 'errno:ENOTTY',
          reason: 'isatty() on stdio (stdin/stdout are /dev/null, stderr a pipe) when Node first touches process.stderr: answer "not a terminal", as the kernel would, without allowing any tty ioctl',
          when: [{ arg: 1, width: 32, in: ['TCGETS'] }],
        },
        ...blockIoEntries(options),
        ...fileServerEntries(options),
      ],
    },
    options,
  );
}
