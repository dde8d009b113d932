// A vitest reporter for the nested half of `npm test` (tools/test/main.ts):
// one JSON line per test file as it starts and as it ends, appended to the
// file named by TSVMM_TEST_PROGRESS (on a folder the L1 mounts read-write, so
// it reaches the host at once). vitest's own JSON report is written only at
// the end of the run; when the L1 freezes (tools/nested/l1.ts), these lines
// say which files finished, with their results, and which one was running.
import { appendFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

export interface FileProgress {
  event: 'start' | 'end';
  file: string;
  /** On 'end': vitest's state of the file ('failed' also when it failed to load). */
  state?: string;
  tests?: { name: string; state: string; errors?: string[] }[];
}

export const PROGRESS_ENV = 'TSVMM_TEST_PROGRESS';

export default class FileProgressReporter implements Reporter {
  private readonly path = process.env[PROGRESS_ENV];

  onTestModuleStart(module: TestModule): void {
    this.write({ event: 'start', file: module.moduleId });
  }

  onTestModuleEnd(module: TestModule): void {
    const tests = [...module.children.allTests()].map((test) => {
      const result = test.result();
      const errors = result.errors?.map((e) => (e.stack ?? e.message ?? String(e)).split('\n').slice(0, 12).join('\n'));
      return { name: test.fullName, state: result.state, ...(errors?.length ? { errors } : {}) };
    });
    this.write({ event: 'end', file: module.moduleId, state: module.state(), tests });
  }

  private write(line: FileProgress): void {
    if (this.path) appendFileSync(this.path, `${JSON.stringify(line)}\n`);
  }
}
