// Bundles each of tsvmm's Node entry points (the CLI, the helper, the vCPU
// worker, the device process) into one CommonJS file under dist/bundle/
// (CommonJS: Node then needs no ES module loader at all). Node's loader pays
// per module (resolve, stat, read, compile, link): ~140 modules of ours plus
// yargs's and pino's dozens cost the CLI ~100 ms natively and seconds in a
// nested L1, before any work is done (BENCHMARKS.md, "Start-up").
//
// ES modules found from the entry are bundled (module-syntax.ts rewrites each
// into a function), and so are the CommonJS modules they import (pino) and
// those reach with a literal require() (commonjs-requires.ts), each in the
// function Node would wrap it in, with a `require` that serves the bundled
// ones and hands anything else (built-ins, JSON, native addons, computed
// names) to Node's own. ES modules are strict; CommonJS ones keep their mode.
//
// Import cycles work as far as they do in Node when what a module takes from
// one still running is a function declaration (hoisted): each module's
// exports are getters defined before its imports run. A constant or class
// taken that early throws at start-up (a TDZ ReferenceError), never silently.
//
// A few modules are deferred: run when first called, not when imported
// (DEFERRED_MODULES). Their importers get, for each export, a function that
// runs the module and calls the real one; test/build checks that every
// export of theirs is a plain function, which makes that safe.
// main.ts writes them (npm run build).

import { readFileSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { createRequire } from 'node:module';
import { asciiSource } from './ascii-source.js';
import { literalRequires } from './commonjs-requires.js';
import { parseModule, type ModuleSyntax } from './module-syntax.js';
import { isEsm, resolveImport, type Resolved } from './module-resolver.js';

interface EsModule {
  readonly kind: 'esm';
  readonly path: string;
  readonly syntax: ModuleSyntax;
  /** Per dependency, in order: a bundled module's index or an external's. */
  readonly targets: readonly Target[];
}

interface CommonJsModule {
  readonly kind: 'cjs';
  readonly path: string;
  readonly source: string;
  /** Literal require() specifiers served from the bundle → their module index. */
  readonly bundled: ReadonlyMap<string, number>;
}

type BundledModule = EsModule | CommonJsModule;

/** A bundled module (as an ES module sees it: a CommonJS one through a namespace), or an external. */
type Target = { readonly bundled: number; readonly commonJs: boolean } | { readonly external: number };

export class BundleError extends Error {}

/**
 * Modules whose loading costs more than a start can afford and which most
 * runs never call, or call only later. Every export must be a function.
 */
export const DEFERRED_MODULES: readonly RegExp[] = [
  // string-width (yargs lays out help text with it; three copies) builds an
  // Intl.Segmenter, which loads ICU's break-iteration data, and a /v regular
  // expression of every emoji sequence as it loads: ~20 ms of the CLI's ~200
  // natively, ~0.5 s of its CPU in a nested L1 (BENCHMARKS.md, "Start-up").
  /\/node_modules\/(?:.+\/node_modules\/)?string-width\/index\.js$/,
  // The frontend's fcntl, and with it koffi and the FFI declarations: the
  // helper's early start (src/cli/early-start.ts) comes before they load,
  // and needs them only when the frontend inherited a descriptor to mark.
  /\/src\/sandbox\/close-on-exec\.js$/,
  // waitpid, for the helper the launcher started (src/cli/launched-helper.ts),
  // whose listener the early start sets up.
  /\/src\/cli\/reap-child\.js$/,
];

const isDeferred = (path: string) => DEFERRED_MODULES.some((pattern) => pattern.test(path));

class ModuleGraph {
  readonly modules: BundledModule[] = [];
  /** Import specifiers of the externals, as the bundle file imports them. */
  readonly externals: string[] = [];
  private readonly indexByPath = new Map<string, number>();
  private readonly externalIndex = new Map<string, number>();

  constructor(private readonly bundleDir: string) {}

  /** Adds the module at `path` (and what it imports); returns its index. */
  add(path: string, commonJs = !isEsm(path)): number {
    const known = this.indexByPath.get(path);
    if (known !== undefined) return known;
    const index = this.indexByPath.size;
    this.indexByPath.set(path, index);
    const source = readFileSync(path, 'utf8');
    const failed = (e: unknown): never => {
      throw new BundleError(`${relative(PROJECT_ROOT, path)}: ${(e as Error).message}`);
    };
    if (commonJs) {
      let requires: string[] = [];
      try {
        requires = literalRequires(source);
      } catch (e) {
        failed(e);
      }
      const bundled = new Map<string, number>();
      const resolve = createRequire(path).resolve;
      for (const specifier of requires) {
        let target: string;
        try {
          target = resolve(specifier);
        } catch {
          continue; // an optional dependency that is not installed: Node's require says so at run time
        }
        // Built-ins, JSON and native addons stay Node's; an ES module cannot be required in Node 20.
        if (!target.includes('/') || !/\.c?js$/.test(target) || isEsm(target)) continue;
        bundled.set(specifier, this.add(target, true));
      }
      this.modules[index] = { kind: 'cjs', path, source, bundled };
      return index;
    }
    let syntax: ModuleSyntax;
    try {
      syntax = parseModule(source);
    } catch (e) {
      return failed(e);
    }
    const targets = syntax.dependencies.map((d) => this.target(resolveImport(d.specifier, path)));
    this.modules[index] = { kind: 'esm', path, syntax, targets };
    return index;
  }

  private target(resolved: Resolved): Target {
    if (resolved.kind === 'file' && /\.[cm]?js$/.test(resolved.path)) return { bundled: this.add(resolved.path, !resolved.esm), commonJs: !resolved.esm };
    const specifier = resolved.kind === 'builtin' ? resolved.specifier : relativeSpecifier(this.bundleDir, resolved.path);
    let external = this.externalIndex.get(specifier);
    if (external === undefined) {
      external = this.externals.length;
      this.externals.push(specifier);
      this.externalIndex.set(specifier, external);
    }
    return { external };
  }

  /** Every name a bundled module exports; undefined when it star-exports an external (unknown statically). */
  exportNames(index: number, seen = new Set<number>()): Set<string> | undefined {
    const m = this.modules[index];
    if (m.kind === 'cjs') return undefined;
    seen.add(index);
    const names = new Set([...m.syntax.localExports.keys()]);
    for (const [i, d] of m.syntax.dependencies.entries()) {
      for (const name of d.reexports.keys()) names.add(name);
      if (!d.star) continue;
      const t = m.targets[i];
      if (!('bundled' in t) || t.commonJs) return undefined;
      if (seen.has(t.bundled)) continue;
      const starred = this.exportNames(t.bundled, seen);
      if (!starred) return undefined;
      for (const name of starred) if (name !== 'default') names.add(name);
    }
    return names;
  }

  /** Fails when a module imports a name its (bundled) dependency does not export: Node's linker would. */
  checkImports(): void {
    for (const m of this.modules) {
      if (m.kind === 'cjs') continue;
      for (const [i, d] of m.syntax.dependencies.entries()) {
        const t = m.targets[i];
        if (!('bundled' in t) || t.commonJs) continue;
        const names = this.exportNames(t.bundled);
        if (!names) continue;
        const wanted = [...d.bindings.filter((b) => b.imported !== '*').map((b) => b.imported), ...[...d.reexports.values()].filter((n) => n !== '*')];
        for (const name of wanted) {
          if (!names.has(name)) throw new BundleError(`${relative(PROJECT_ROOT, m.path)}: '${d.specifier}' does not export '${name}'`);
        }
      }
    }
  }
}

function relativeSpecifier(fromDir: string, path: string): string {
  const r = relative(fromDir, path).split(sep).join('/');
  return r.startsWith('.') ? r : `./${r}`;
}

function dependencyExpression(graph: ModuleGraph, t: Target): string {
  if (!('bundled' in t)) return `__tsvmmExternal(${t.external})`;
  if (t.commonJs) return `__tsvmmCommonJsNamespace(${t.bundled})`;
  const m = graph.modules[t.bundled];
  if (!isDeferred(m.path)) return `__tsvmmRequire(${t.bundled})`;
  const names = graph.exportNames(t.bundled);
  if (!names) throw new BundleError(`${relative(PROJECT_ROOT, m.path)}: cannot be deferred: what it exports is not known statically`);
  return `__tsvmmDeferred(${t.bundled}, ${JSON.stringify([...names])})`;
}

function moduleFunction(graph: ModuleGraph, bundleDir: string, m: BundledModule): string {
  const header = `// ${relative(PROJECT_ROOT, m.path)}\n`;
  if (m.kind === 'cjs') {
    const bundled = JSON.stringify(Object.fromEntries(m.bundled));
    return `${header}__tsvmmCommonJs(${JSON.stringify(relativeSpecifier(bundleDir, m.path))}, ${bundled}, function (exports, require, module, __filename, __dirname) {\n${m.source}\n})`;
  }
  const lines: string[] = [`'use strict';`];
  for (const [i, d] of m.syntax.dependencies.entries()) {
    const source = dependencyExpression(graph, m.targets[i]);
    const ns = `__tsvmmDependency${i}`;
    lines.push(`const ${ns} = ${source};`);
    const named = d.bindings.filter((b) => b.imported !== '*').map((b) => (b.imported === b.local ? b.local : `${b.imported}: ${b.local}`));
    if (named.length) lines.push(`const { ${named.join(', ')} } = ${ns};`);
    for (const b of d.bindings.filter((b) => b.imported === '*')) lines.push(`const ${b.local} = ${ns};`);
    if (d.star) lines.push(`__tsvmmExportStar(__exports, ${ns});`);
  }
  const getters = [...m.syntax.localExports].map(([name, local]) => `${JSON.stringify(name)}: () => ${local}`);
  for (const [i, d] of m.syntax.dependencies.entries()) {
    for (const [name, there] of d.reexports) getters.push(`${JSON.stringify(name)}: () => __tsvmmDependency${i}${there === '*' ? '' : `[${JSON.stringify(there)}]`}`);
  }
  if (getters.length) lines.splice(1, 0, `__tsvmmExport(__exports, { ${getters.join(', ')} });`);
  const usesMeta = /\b__meta\b/.test(m.syntax.body);
  if (usesMeta) lines.splice(1, 0, `const __meta = __tsvmmMeta(${JSON.stringify(relativeSpecifier(bundleDir, m.path))});`);
  const body = m.syntax.body.replace(/^\/\/# sourceMappingURL=.*$/gm, '');
  return `${header}function (__exports) {\n${lines.join('\n')}\n${body}\n}`;
}

const RUNTIME = `
const __tsvmmExternals = [];
function __tsvmmExternal(index) {
  return (__tsvmmExternals[index] ??= __tsvmmNamespace(require(__tsvmmExternalSpecifiers[index])));
}
const __tsvmmLoaded = [];
// An ES module's namespace, or a CommonJS module's module.exports.
function __tsvmmRequire(index) {
  const loaded = __tsvmmLoaded[index];
  if (loaded !== undefined) return loaded.exports;
  const record = { exports: Object.create(null, { [Symbol.toStringTag]: { value: 'Module' } }) };
  __tsvmmLoaded[index] = record;
  const run = __tsvmmModules[index];
  if (run.commonJs) run(record);
  else run(record.exports);
  return record.exports;
}
// A deferred module's namespace: each export a function that runs the module first.
function __tsvmmDeferred(index, names) {
  const ns = Object.create(null, { [Symbol.toStringTag]: { value: 'Module' } });
  for (const name of names) ns[name] = (...args) => __tsvmmRequire(index)[name](...args);
  return ns;
}
const __tsvmmNamespaces = [];
function __tsvmmCommonJsNamespace(index) {
  return (__tsvmmNamespaces[index] ??= __tsvmmNamespace(__tsvmmRequire(index)));
}
// A CommonJS module as Node runs it: module, exports, a require that serves
// the bundled modules it names and gives the rest to Node, its own paths.
// Node's require for the module's own path is made only when first needed
// (createRequire works out every node_modules folder above it): most
// modules name only bundled ones and built-ins, which any require serves.
function __tsvmmCommonJs(path, bundled, body) {
  const run = (record) => {
    const filename = require('node:path').join(__dirname, path);
    let nodeRequire;
    const fromNode = () => (nodeRequire ??= __tsvmmCreateRequire(filename));
    const own = (specifier) =>
      Object.prototype.hasOwnProperty.call(bundled, specifier)
        ? __tsvmmRequire(bundled[specifier])
        : __tsvmmIsBuiltin(specifier)
          ? require(specifier)
          : fromNode()(specifier);
    Object.defineProperty(own, 'resolve', { get: () => fromNode().resolve, enumerable: true });
    own.cache = require.cache;
    own.main = require.main;
    const module = { id: filename, filename, path: __tsvmmDirname(filename), exports: {}, loaded: false, children: [], paths: [], require: own };
    // The record is what a cycle sees: it follows module.exports as the body reassigns it.
    Object.defineProperty(record, 'exports', { get: () => module.exports, enumerable: true });
    body.call(module.exports, module.exports, own, module, filename, module.path);
    module.loaded = true;
  };
  run.commonJs = true;
  return run;
}
function __tsvmmExport(exports, getters) {
  for (const name in getters) Object.defineProperty(exports, name, { get: getters[name], enumerable: true });
}
function __tsvmmExportStar(exports, from) {
  for (const name of Object.keys(from)) {
    if (name !== 'default' && !(name in exports)) Object.defineProperty(exports, name, { get: () => from[name], enumerable: true });
  }
}
function __tsvmmMeta(path) {
  const filename = require('node:path').join(__dirname, path);
  const url = __tsvmmPathToFileUrl(filename).href;
  return { url, filename, dirname: __tsvmmDirname(filename), resolve: (s) => __tsvmmPathToFileUrl(__tsvmmCreateRequire(url).resolve(s)).href };
}
// What \`import * as ns\` gives for a CommonJS module or a built-in: its exports' own names, and them as default.
function __tsvmmNamespace(exports) {
  const ns = Object.create(null);
  if (exports !== null && (typeof exports === 'object' || typeof exports === 'function')) {
    for (const name of Object.keys(exports)) if (name !== 'default') Object.defineProperty(ns, name, { get: () => exports[name], enumerable: true });
  }
  ns.default = exports;
  return ns;
}
`;

/** Each module the bundle of `entry` holds, with the names it exports (undefined: not known statically, or CommonJS). */
export function bundledModules(entry: string): { path: string; exports: string[] | undefined }[] {
  const graph = new ModuleGraph(dirname(entry));
  graph.add(entry);
  return graph.modules.map((m, i) => ({ path: m.path, exports: graph.exportNames(i) && [...graph.exportNames(i)!].sort() }));
}

/**
 * The modules that run, in a bundle, when `entry` is imported: it and what
 * it imports, transitively, but for deferred modules and what only they import.
 */
export function modulesRunOnImport(entry: string): string[] {
  const graph = new ModuleGraph(dirname(entry));
  const run = new Set<number>();
  const visit = (index: number) => {
    if (run.has(index)) return;
    run.add(index);
    const m = graph.modules[index];
    const deps = m.kind === 'cjs' ? [...m.bundled.values()] : m.targets.flatMap((t) => ('bundled' in t ? [t.bundled] : []));
    for (const d of deps) if (!isDeferred(graph.modules[d].path)) visit(d);
  };
  visit(graph.add(entry));
  return [...run].map((i) => graph.modules[i].path);
}

/** The bundle of one entry point, as the text of a CommonJS script to be written at `bundleFile`. */
export function bundle(entry: string, bundleFile: string): { text: string; modules: number; externals: number } {
  const bundleDir = dirname(bundleFile);
  const graph = new ModuleGraph(bundleDir);
  graph.add(entry);
  graph.checkImports();
  const out: string[] = [
    `// Generated by tools/build/bundle.ts from ${relative(PROJECT_ROOT, entry)} (${graph.modules.length} modules). Do not edit.`,
    `const { createRequire: __tsvmmCreateRequire, isBuiltin: __tsvmmIsBuiltin } = require('node:module');`,
    `const { dirname: __tsvmmDirname } = require('node:path');`,
    `const { pathToFileURL: __tsvmmPathToFileUrl } = require('node:url');`,
    // Loaded when a module first imports them, as Node would: in module order.
    `const __tsvmmExternalSpecifiers = ${JSON.stringify(graph.externals)};`,
    RUNTIME,
    `const __tsvmmModules = [\n${graph.modules.map((m) => moduleFunction(graph, bundleDir, m)).join(',\n')}\n];`,
    `__tsvmmRequire(0);`,
    '',
  ];
  const text = out.join('\n');
  return { text: asciiSource(text) ?? text, modules: graph.modules.length, externals: graph.externals.length };
}
