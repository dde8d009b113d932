// Bundles in ASCII only (tools/build/ascii-source.ts): escapes that keep every
// literal's value, and the source left alone where an escape would not.
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { asciiSource } from '../../tools/build/ascii-source.js';
import { bundleCodeFile } from '../../src/entry-points.js';

const evaluate = (source: string): unknown => runInNewContext(source);

describe('asciiSource', () => {
  it('escapes strings, regular expressions, untagged templates, names and comments, meaning the same', () => {
    const source = "// a comment → here\nconst größe = 'virtio §5.2 — ok'; const re = /[→≤]+/u; const t = `${größe} ≥ ${'x'}…`; /* × */ [größe, re.test('≤→'), t]";
    const ascii = asciiSource(source)!;
    expect(ascii).toMatch(/^[\x00-\x7f]*$/);
    expect(evaluate(ascii)).toEqual(evaluate(source));
  });

  it('leaves the source alone where an escape would change it', () => {
    for (const source of ["String.raw`→`", "tag`a ${1} →`", "'\\→'", 'const\u00a0x = 1;', "const 𝑥 = 1;"]) expect(asciiSource(source)).toBeUndefined();
    expect(asciiSource("return `→`")).toBe('return `\\u2192`');
  });
});

describe('the bundles npm run build made', () => {
  it('are ASCII, so that V8 keeps their source as one-byte strings', () => {
    for (const name of ['tsvmm', 'helper', 'vcpu-worker', 'device-process'] as const) {
      expect(/[^\x00-\x7f]/.exec(readFileSync(bundleCodeFile(name), 'utf8'))?.index, name).toBeUndefined();
    }
  });
});
