import { describe, expect, it } from 'vitest';
import { tokenize, TokenizeError } from '../../tools/build/js-tokens.js';
import { parseModule, ModuleSyntaxError } from '../../tools/build/module-syntax.js';

const depthZeroNames = (source: string) =>
  tokenize(source)
    .filter((t) => t.depth === 0 && t.kind === 'name')
    .map((t) => t.text);

describe('tokenize', () => {
  it('does not see keywords or braces inside strings, comments, regular expressions and templates', () => {
    const source = [
      `const a = "export { x }"; // import y from 'z'`,
      `/* export default 1 { */ const b = /[/{]export/g.test(a) ? 1 / 2 / 3 : 0;`,
      'const c = `${a + `${"}"}`} export { ${b} }`;',
      `export { a };`,
    ].join('\n');
    expect(depthZeroNames(source)).toEqual(['const', 'a', 'const', 'b', 'test', 'const', 'c', 'export']);
  });

  it('tells division from a regular expression by what comes before', () => {
    const kinds = tokenize('x = a / b / c; y = f(/=/); return /a/;').map((t) => t.kind);
    expect(kinds.filter((k) => k === 'regex')).toHaveLength(2);
    expect(tokenize('if (x) y = (a) / 2 / (b)').some((t) => t.kind === 'regex')).toBe(false);
  });

  it('tracks nesting depth', () => {
    const tokens = tokenize('function f() { return { export: 1 }; }\nexport const x = [f()];');
    expect(tokens.find((t) => t.text === 'export')!.depth).toBe(2);
    expect(tokens.filter((t) => t.text === 'export')[1].depth).toBe(0);
  });

  it('fails on an unterminated literal instead of guessing', () => {
    expect(() => tokenize('const a = "abc')).toThrow(TokenizeError);
    expect(() => tokenize('const a = `abc ${x}')).toThrow(TokenizeError);
    expect(() => tokenize('/* never ends')).toThrow(TokenizeError);
    expect(() => tokenize('f(}')).toThrow(TokenizeError);
    expect(() => tokenize('f(')).toThrow(TokenizeError);
  });
});

describe('parseModule', () => {
  it('finds every import form, in source order', () => {
    const m = parseModule(
      [
        `import 'side-effect';`,
        `import D from "./d.js";`,
        `import * as ns from 'node:fs';`,
        `import E, { a, b as c, 'string name' as s } from './e.js'`,
        `import { default as F } from './f.js';`,
        `f(a, c);`,
      ].join('\n'),
    );
    expect(m.dependencies.map((d) => d.specifier)).toEqual(['side-effect', './d.js', 'node:fs', './e.js', './f.js']);
    expect(m.dependencies.map((d) => d.bindings)).toEqual([
      [],
      [{ imported: 'default', local: 'D' }],
      [{ imported: '*', local: 'ns' }],
      [
        { imported: 'default', local: 'E' },
        { imported: 'a', local: 'a' },
        { imported: 'b', local: 'c' },
        { imported: 'string name', local: 's' },
      ],
      [{ imported: 'default', local: 'F' }],
    ]);
    expect(m.body.trim()).toBe('f(a, c);');
  });

  it('finds every export form and leaves the declarations in place', () => {
    const m = parseModule(
      [
        `export function f() {}`,
        `export async function g() {}`,
        `export function* h() {}`,
        `export class C extends Base {}`,
        `export const x = { a: 1 }, y = [1, 2], z = (1, 2);`,
        `export var w = 1`,
        `const hidden = 2;`,
        `export { hidden as visible, hidden as 'module.exports' };`,
        `export * from './star.js';`,
        `export * as space from './space.js';`,
        `export { p, q as r } from './re.js';`,
        `export default class K {}`,
      ].join('\n'),
    );
    expect([...m.localExports]).toEqual([
      ['f', 'f'],
      ['g', 'g'],
      ['h', 'h'],
      ['C', 'C'],
      ['x', 'x'],
      ['y', 'y'],
      ['z', 'z'],
      ['w', 'w'],
      ['visible', 'hidden'],
      ['module.exports', 'hidden'],
      ['default', 'K'],
    ]);
    expect(m.dependencies.map((d) => [d.specifier, d.star, [...d.reexports]])).toEqual([
      ['./star.js', true, []],
      ['./space.js', false, [['space', '*']]],
      ['./re.js', false, [['p', 'p'], ['r', 'q']]],
    ]);
    expect(m.body).not.toMatch(/\bexport\b/);
    expect(m.body).toContain('function* h() {}');
    expect(m.body).toContain('class K {}');
  });

  it('ends an exported declaration at a line break where JavaScript inserts a semicolon', () => {
    const m = parseModule('export const a = 1\nconst b = a\nexport const c = b\n  , d = 2\n');
    expect([...m.localExports.keys()]).toEqual(['a', 'c', 'd']);
  });

  it('turns an anonymous default export into a constant', () => {
    const m = parseModule('export default { a: 1 };\n');
    expect([...m.localExports]).toEqual([['default', '__default0']]);
    expect(m.body).toContain('const __default0 = { a: 1 };');
  });

  it('keeps the original import.meta through a name the bundle provides', () => {
    expect(parseModule('const u = new URL("./x", import.meta.url);').body).toBe('const u = new URL("./x", __meta.url);');
  });

  it('refuses what a bundle cannot keep', () => {
    expect(() => parseModule(`const m = await import('./x.js');`)).toThrow(ModuleSyntaxError);
    expect(() => parseModule(`export const { a, b } = obj;`)).toThrow(/destructuring/);
    expect(() => parseModule(`import data from './d.json' with { type: 'json' };`)).toThrow(/attributes/);
    expect(() => parseModule(`export let count = 0;`)).toThrow(/not live/);
  });

  it('ignores import and export used as property names', () => {
    const m = parseModule('const o = { x: 1 };\no.export = 1;\nmodule.import = 2;\n');
    expect(m.dependencies).toEqual([]);
    expect(m.localExports.size).toBe(0);
  });
});
