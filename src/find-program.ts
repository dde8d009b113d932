// Where an executable is: the first of `dirs` (the PATH's, by default) that
// holds it, for the programs tsvmm starts by name (passt; env and setpriv in
// the launcher's start of the helper, tools/build/helper-launch-script.ts).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The PATH's directories, or the usual system ones when it is unset. */
function pathDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.PATH ?? '/usr/bin:/bin:/usr/sbin:/sbin').split(delimiter);
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findProgram(program: string, dirs: readonly string[] = pathDirs()): string | undefined {
  return dirs.map((dir) => join(dir, program)).find(isExecutable);
}
