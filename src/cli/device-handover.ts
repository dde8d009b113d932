// The frontend's half of the device plan: it creates every descriptor the
// plan names, with the user's rights, before any process that will hold one
// starts: images opened and locked, NIC backends (passt started, taps
// attached), ioregionfd socket pairs, eventfds, the guest RAM memfd. The helper and the device processes get them by the
// plan's names; the frontend closes its own copies once they have started.
// Console ports are pipes: the helper gets the write end, the frontend keeps
// the read end and copies it to its own stdout or stderr (console-outputs.ts).
import { closeSync } from 'node:fs';
import { EFD_CLOEXEC, EFD_NONBLOCK, O_CLOEXEC, O_NONBLOCK, check, eventfd, pipe2 } from '../../ffi/libc.js';
import { DiskImage } from '../block/disk-image.js';
import { createRegionSockets } from '../bus/ioregion-socket.js';
import type { OpenedFile, OutputStream } from '../devices/device-kind.js';
import { createInterruptStatusPage } from '../devices/virtio/interrupt-status-page.js';
import type { DevicePlan } from '../machine/device-plan.js';
import type { Logger } from '../log.js';
import type { SharedRamFile } from '../memory/shared-ram-file.js';
import { connectUnixStream } from '../net/unix-socket.js';
import { startPasst } from '../net/passt.js';
import { openTap } from '../net/tap-backend.js';

export interface DeviceHandover {
  /** Named descriptors for the helper. */
  readonly helper: Readonly<Record<string, number>>;
  /** Named descriptors for the device process serving `device`. */
  forDeviceProcess(device: string): Readonly<Record<string, number>>;
  /** Read ends of the console ports' pipes: the frontend's to copy to `stream` (and close). */
  readonly outputs: readonly { stream: OutputStream; fd: number }[];
  /** Guest RAM's shared file, if the plan has one, gets 2 MiB pages (a tmpfs of its own, not a memfd: shared-ram-file.ts). */
  readonly sharedRamOnHugePages: boolean;
  /** Closes the frontend's copies (once the processes that need them have started, or on failure). */
  release(): void;
}

/** The files the plan asks the frontend to open (to check them before anything is opened). */
export function plannedFiles(plan: DevicePlan): OpenedFile[] {
  return plan.devices.flatMap((d) => d.descriptors.flatMap((x) => (x.source.kind === 'file' ? [x.source.file] : [])));
}

/**
 * Opens and creates what the plan names. Guest RAM's shared file, where the
 * plan has one (plan.sharedRam), is the caller's to make beforehand
 * (GuestMemory.createSharedRamForAnyUser: for an ordinary user that takes a
 * child process) and is the handover's from here on: released with the rest.
 */
export function openDeviceHandover(plan: DevicePlan, log: Logger, sharedRam?: SharedRamFile): DeviceHandover {
  const opened: number[] = [];
  const keep = (fd: number) => {
    opened.push(fd);
    return fd;
  };
  if (sharedRam) {
    keep(sharedRam.fd);
    log.debug({ backing: sharedRam.backing }, 'guest RAM shared with device processes');
  }
  const helper: Record<string, number> = {};
  const outputs: { stream: OutputStream; fd: number }[] = [];
  const byDevice = new Map<string, Record<string, number>>();
  try {
    for (const device of plan.devices) {
      const own: Record<string, number> = {};
      for (const x of device.descriptors) {
        let forHelper: number;
        let forDevice: number;
        switch (x.source.kind) {
          case 'file':
            if (x.source.file.kind === 'output-pipe') {
              const [readEnd, writeEnd] = openPipe();
              outputs.push({ stream: x.source.file.stream, fd: readEnd });
              forHelper = forDevice = keep(writeEnd);
            } else {
              forHelper = forDevice = keep(openFile(x.source.file, log));
            }
            break;
          case 'region-socket': {
            const { vmmEnd, deviceEnd } = createRegionSockets();
            forHelper = keep(vmmEnd);
            forDevice = keep(deviceEnd);
            break;
          }
          case 'eventfd':
            forHelper = forDevice = keep(check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd'));
            break;
          case 'shared-ram':
            if (!sharedRam) throw new Error(`${device.name}: the plan shares guest RAM, and no file was made for it`);
            forHelper = forDevice = sharedRam.fd;
            break;
          case 'interrupt-status':
            forHelper = forDevice = keep(createInterruptStatusPage());
            break;
        }
        if (x.helper) helper[x.name] = forHelper;
        if (x.deviceProcess) own[x.name] = forDevice;
      }
      byDevice.set(device.name, own);
    }
  } catch (e) {
    [...opened, ...outputs.map((o) => o.fd)].forEach((fd) => closeSync(fd));
    throw e;
  }
  return {
    helper,
    outputs,
    sharedRamOnHugePages: sharedRam?.backing.kind === 'huge-tmpfs',
    forDeviceProcess: (device) => byDevice.get(device) ?? {},
    // closeSync, not DiskImage.close(): an image's lock belongs to the open file, which the receivers share.
    release: () => opened.splice(0).forEach((fd) => closeSync(fd)),
  };
}

/**
 * A pipe for a console port, both ends non-blocking: the device must never
 * block the helper's main thread on a slow reader (it waits for the write
 * end to drain instead), and the frontend reads its end on its event loop.
 */
function openPipe(): [readEnd: number, writeEnd: number] {
  const fds = [-1, -1];
  check(pipe2(fds, O_CLOEXEC | O_NONBLOCK) as number, 'pipe2');
  return [fds[0], fds[1]];
}

function openFile(file: Exclude<OpenedFile, { kind: 'output-pipe' }>, log: Logger): number {
  switch (file.kind) {
    case 'disk-image':
      return DiskImage.open(file.path, { readOnly: file.readOnly, cache: file.cache }).fd;
    case 'passt':
      // passt outlives this descriptor's copy here: it quits when the NIC's end closes.
      return startPasst(file.nic, file.forwards, log).fd;
    case 'tap':
      return openTap(file.ifname);
    case 'unix-stream':
      return connectUnixStream(file.path);
  }
}
