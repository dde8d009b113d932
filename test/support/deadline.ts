// Deadlines stop a hung test; they never assert on speed. Inside the nested L1
// (tools/nested) everything runs ~25x slower than natively, tsvmm's own
// start-up included (10–14 s for a tiny guest), so there they stretch.
// vitest.config.ts stretches the kvm project's test timeouts the same way.
export const DEADLINE_SCALE = process.env.TSVMM_IN_L1 === '1' ? 4 : 1;

export function deadline(ms: number): number {
  return ms * DEADLINE_SCALE;
}
