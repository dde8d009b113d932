// An ES module's import and export statements, found from its tokens, and
// the module rewritten as the body of a function that gets its imports from
// the bundle's registry (bundle.ts) instead of from Node's loader.
//
// The rewrite keeps what tsvmm relies on and refuses what it cannot keep:
// imports become constants bound once the dependency has run (so an
// exported `let` is refused; cycles: bundle.ts); exports become getters, so they are live and hoisted functions are
// visible at once; `import.meta` keeps the original file's URL. Dynamic
// `import()`, top-level destructuring exports and import attributes are refused.

import { stringLiteralValue, tokenize, type Token } from './js-tokens.js';

export interface ImportBinding {
  /** The name in the dependency ('default', or '*' for the namespace). */
  readonly imported: string;
  readonly local: string;
}

export interface Dependency {
  readonly specifier: string;
  /** Bindings this module imports from it (none for `import 'x'` and `export ... from`). */
  readonly bindings: readonly ImportBinding[];
  /** `export * from` it. */
  readonly star: boolean;
  /** Names re-exported from it: exported name → its name there ('*' for `export * as`). */
  readonly reexports: ReadonlyMap<string, string>;
}

export interface ModuleSyntax {
  /** In source order: the order their modules run in. */
  readonly dependencies: readonly Dependency[];
  /** Exported name → the local expression a getter returns. */
  readonly localExports: ReadonlyMap<string, string>;
  /** The module's source with its import and export syntax taken out. */
  readonly body: string;
}

export class ModuleSyntaxError extends Error {}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

const STATEMENT_KEYWORDS = new Set(['export', 'import', 'const', 'let', 'var', 'function', 'class', 'if', 'for', 'while', 'do', 'return', 'throw', 'try', 'switch', 'async']);
const CONTINUING_NAMES = new Set(['in', 'instanceof', 'of', 'as']);

/** Parses `source` (an ES module). Throws ModuleSyntaxError naming the line of what it cannot handle. */
export function parseModule(source: string): ModuleSyntax {
  const tokens = tokenize(source);
  const edits: Edit[] = [];
  const dependencies: Dependency[] = [];
  const localExports = new Map<string, string>();
  let defaults = 0;

  const lineOf = (t: Token) => source.slice(0, t.start).split('\n').length;
  const fail = (t: Token, what: string): never => {
    throw new ModuleSyntaxError(`${what} (line ${lineOf(t)}: ${source.slice(t.start, t.start + 60).split('\n')[0]})`);
  };
  const at = (i: number): Token => tokens[i] ?? fail(tokens[tokens.length - 1], 'unexpected end of module');
  const expect = (i: number, text: string) => {
    if (at(i).text !== text) fail(at(i), `expected '${text}'`);
  };
  const stringValue = (t: Token): string => {
    if (t.kind !== 'string') fail(t, 'expected a module specifier string');
    return stringLiteralValue(t.text);
  };
  // A name in an export list or after `as`: an identifier, or a string ('module.exports').
  const exportName = (t: Token): string => (t.kind === 'name' ? t.text : stringValue(t));
  // The end of a statement that ended at token i: a following ';' belongs to it.
  const statementEnd = (i: number): { next: number; end: number } => {
    if (tokens[i + 1]?.text === ';') return { next: i + 2, end: tokens[i + 1].end };
    if (tokens[i + 1]?.text === 'with' || tokens[i + 1]?.text === 'assert') fail(tokens[i + 1], 'import attributes are not supported');
    return { next: i + 1, end: at(i).end };
  };
  // `{ a, b as c, default as d }` from token i (the '{'); returns pairs and the index after '}'.
  const specifierList = (i: number): { pairs: [string, string][]; next: number } => {
    expect(i, '{');
    const pairs: [string, string][] = [];
    let j = i + 1;
    while (at(j).text !== '}') {
      const first = exportName(at(j));
      let second = first;
      j++;
      if (at(j).text === 'as') {
        second = exportName(at(j + 1));
        j += 2;
      }
      pairs.push([first, second]);
      if (at(j).text === ',') j++;
      else if (at(j).text !== '}') fail(at(j), "expected ',' or '}'");
    }
    return { pairs, next: j + 1 };
  };
  const addDependency = (specifier: string, part: Partial<Dependency>) =>
    dependencies.push({ specifier, bindings: [], star: false, reexports: new Map(), ...part });

  // import 'x' | import D from 'x' | import * as N from 'x' | import D, { a } from 'x' | import { a as b } from 'x'
  const parseImport = (i: number): number => {
    const first = at(i);
    let j = i + 1;
    const bindings: ImportBinding[] = [];
    if (at(j).kind === 'string') {
      const { next, end } = statementEnd(j);
      addDependency(stringValue(at(j)), {});
      edits.push({ start: first.start, end, text: '' });
      return next;
    }
    if (at(j).kind === 'name' && at(j).text !== 'from') {
      bindings.push({ imported: 'default', local: at(j).text });
      j++;
      if (at(j).text === ',') j++;
    }
    if (at(j).text === '*') {
      expect(j + 1, 'as');
      bindings.push({ imported: '*', local: at(j + 2).text });
      j += 3;
    } else if (at(j).text === '{') {
      const list = specifierList(j);
      for (const [imported, local] of list.pairs) bindings.push({ imported, local });
      j = list.next;
    }
    expect(j, 'from');
    const { next, end } = statementEnd(j + 1);
    addDependency(stringValue(at(j + 1)), { bindings });
    edits.push({ start: first.start, end, text: '' });
    return next;
  };

  // The names a `const a = 1, b = f(x);` declares, from the token after the keyword.
  const declaratorNames = (i: number): string[] => {
    const depth = at(i).depth;
    const names: string[] = [];
    let j = i;
    for (;;) {
      const name = at(j);
      if (name.kind !== 'name') fail(name, 'destructuring in an exported declaration is not supported');
      names.push(name.text);
      j++;
      for (;; j++) {
        const t = tokens[j];
        if (!t || (t.depth === depth && t.text === ';')) return names;
        if (t.depth !== depth) continue;
        if (t.text === ',') break;
        const prev = tokens[j - 1];
        const prevEndsExpression = prev.kind !== 'punct' || prev.text === ')' || prev.text === ']' || prev.text === '}';
        if (t.newlineBefore && prevEndsExpression && (STATEMENT_KEYWORDS.has(t.text) || (t.kind === 'name' && !CONTINUING_NAMES.has(t.text)))) return names;
      }
      j++;
    }
  };

  const parseExport = (i: number): number => {
    const first = at(i);
    const t = at(i + 1);
    const removeKeyword = () => edits.push({ start: first.start, end: t.start, text: '' });
    if (t.text === '*') {
      let j = i + 2;
      const reexports = new Map<string, string>();
      if (at(j).text === 'as') {
        reexports.set(exportName(at(j + 1)), '*');
        j += 2;
      }
      expect(j, 'from');
      const { next, end } = statementEnd(j + 1);
      addDependency(stringValue(at(j + 1)), { star: reexports.size === 0, reexports });
      edits.push({ start: first.start, end, text: '' });
      return next;
    }
    if (t.text === '{') {
      const list = specifierList(i + 1);
      if (tokens[list.next]?.text === 'from') {
        const { next, end } = statementEnd(list.next + 1);
        addDependency(stringValue(at(list.next + 1)), { reexports: new Map(list.pairs.map(([there, here]) => [here, there])) });
        edits.push({ start: first.start, end, text: '' });
        return next;
      }
      for (const [local, exported] of list.pairs) localExports.set(exported, local);
      const { next, end } = statementEnd(list.next - 1);
      edits.push({ start: first.start, end, text: '' });
      return next;
    }
    if (t.text === 'default') {
      const d = at(i + 2);
      const isAsyncFunction = d.text === 'async' && at(i + 3).text === 'function';
      const declaration = d.text === 'class' || d.text === 'function' || isAsyncFunction;
      if (declaration) {
        let n = i + 3 + (isAsyncFunction ? 1 : 0);
        if (at(n).text === '*') n++;
        if (at(n).kind === 'name' && at(n).text !== 'extends') {
          // A named declaration: it keeps its name (and a function its hoisting).
          edits.push({ start: first.start, end: d.start, text: '' });
          localExports.set('default', at(n).text);
          return i + 2;
        }
      }
      const local = `__default${defaults++}`;
      edits.push({ start: first.start, end: d.start, text: `const ${local} = ` });
      localExports.set('default', local);
      return i + 2;
    }
    if (t.text === 'function' || t.text === 'class' || (t.text === 'async' && at(i + 2).text === 'function')) {
      let n = i + 2 + (t.text === 'async' ? 1 : 0);
      if (at(n).text === '*') n++;
      localExports.set(exportName(at(n)), at(n).text);
      removeKeyword();
      return i + 1;
    }
    // An importer's binding is a copy taken once the module has run: a `let`
    // the module reassigns later would go stale there. (`var` is how tsc
    // emits enums, assigned while the module runs: allowed.)
    if (t.text === 'let') fail(t, 'export let is not supported: imports from a bundle are not live bindings');
    if (t.text === 'const' || t.text === 'var') {
      for (const name of declaratorNames(i + 2)) localExports.set(name, name);
      removeKeyword();
      return i + 1;
    }
    return fail(t, 'unsupported export');
  };

  for (let i = 0; i < tokens.length; ) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (t.kind === 'name' && t.text === 'import') {
      if (next?.text === '.') {
        if (tokens[i + 2]?.text !== 'meta') fail(t, "unexpected 'import.'");
        edits.push({ start: t.start, end: tokens[i + 2].end, text: '__meta' });
        i += 3;
        continue;
      }
      if (next?.text === '(') fail(t, 'dynamic import() is not supported in a bundle');
      if (t.depth === 0 && tokens[i - 1]?.text !== '.') {
        i = parseImport(i);
        continue;
      }
    }
    if (t.kind === 'name' && t.text === 'export' && t.depth === 0 && tokens[i - 1]?.text !== '.') {
      i = parseExport(i);
      continue;
    }
    i++;
  }

  let body = '';
  let from = 0;
  for (const edit of edits.sort((a, b) => a.start - b.start)) {
    body += source.slice(from, edit.start) + edit.text;
    from = edit.end;
  }
  body += source.slice(from);
  return { dependencies, localExports, body };
}
