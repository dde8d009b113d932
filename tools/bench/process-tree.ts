// A measured VMM as a tree of processes (tsvmm: frontend → unshare → helper,
// device processes; QEMU: one process), read from /proc.
import { readFileSync } from 'node:fs';
import { entryPointScript } from '../../src/entry-points.js';
import { childPids } from '../../src/sandbox/jail-launch.js';

/** `root` and every process below it. */
export function processTree(root: number): number[] {
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...childPids(tree[i]));
  return tree;
}

/** A /proc file's text, or undefined when the process or thread has ended meanwhile. */
export function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The tsvmm helper below a frontend: the node process running the helper's script (unshare's command line names it too). */
export function helperBelow(frontend: number): number | undefined {
  const script = entryPointScript('helper');
  return processTree(frontend).find((pid) => readProc(`/proc/${pid}/comm`)?.trim() === 'node' && readProc(`/proc/${pid}/cmdline`)?.includes(script));
}
