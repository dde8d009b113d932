// Readying a device's data path while the guest boots. A fresh process
// serves its first requests several times slower than later ones: V8 has yet
// to compile the code, and in an emulated host (the nested L1) the new code
// must be translated too (docs/host-kvm.md). A device process has nothing to
// do while the guest kernel boots, so a warm-up drives a private copy of its
// device (own memory, own queue, nothing the guest can see) through the
// requests a guest will send, and the guest's first requests find compiled
// code. It gives way: a step is about one request, one step per event-loop
// turn (the guest's register accesses wait while a step runs: steps of ten
// requests held them up for up to 0.6 s in a nested L1), and it ends as soon
// as the guest uses the device. TSVMM_NO_WARM_UP=1 leaves it out (for A/B:
// src/device-process/main.ts).

/** A device's warm-up (e.g. virtio-9p-warm-up.ts). */
export interface DataPathWarmUp {
  /** What it warms, for the log. */
  readonly name: string;
  /** Serves a request of its own (its first step may set up more); false once it is done (its budget spent, or the guest has started using the device). */
  step(): boolean;
  /** Releases what it holds; how many requests it served, and how many of them its device refused. */
  close(): { requests: number; refused: number };
}

/** Runs `warmUps` one after the other, a step per event-loop turn; `done` hears of each as it ends. */
export function warmUpWhileIdle(warmUps: readonly DataPathWarmUp[], done: (w: DataPathWarmUp, outcome: { requests: number; refused: number; ms: number }) => void): void {
  let i = 0;
  let started = performance.now();
  const next = (): void => {
    while (i < warmUps.length) {
      const w = warmUps[i];
      let more: boolean;
      try {
        more = w.step();
      } catch {
        more = false; // a warm-up is an optimisation: it never takes the process down
      }
      if (more) {
        setImmediate(next);
        return;
      }
      i++;
      let outcome = { requests: 0, refused: 0 };
      try {
        outcome = w.close();
      } catch {
        // as above
      }
      done(w, { ...outcome, ms: Math.round(performance.now() - started) });
      started = performance.now();
    }
  };
  setImmediate(next);
}
