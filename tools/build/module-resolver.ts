// Where an import specifier leads, as Node's ES module loader decides it
// (relative paths, packages with or without an "exports" map, built-ins),
// and whether the file there is an ES module (bundled) or CommonJS (left to
// Node). Only what tsvmm's own code and its dependencies use is supported;
// anything else is an error naming the import.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';

export type Resolved = { readonly kind: 'builtin'; readonly specifier: string } | { readonly kind: 'file'; readonly path: string; readonly esm: boolean };

// The conditions Node's ES module loader matches, in the order it accepts them.
const CONDITIONS = new Set(['node', 'import', 'default']);

export class ResolveError extends Error {}

interface PackageJson {
  readonly type?: string;
  readonly main?: string;
  readonly exports?: unknown;
}

const packageJsons = new Map<string, PackageJson | undefined>();

function readPackageJson(dir: string): PackageJson | undefined {
  if (!packageJsons.has(dir)) {
    const file = join(dir, 'package.json');
    packageJsons.set(dir, existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PackageJson) : undefined);
  }
  return packageJsons.get(dir);
}

/** An ES module by its extension, or by the "type" of the nearest package.json. */
export function isEsm(path: string): boolean {
  if (path.endsWith('.mjs')) return true;
  if (path.endsWith('.cjs')) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const pkg = readPackageJson(dir);
    if (pkg) return pkg.type === 'module';
    if (dirname(dir) === dir) return false;
  }
}

function file(path: string, what: string): Resolved {
  if (!existsSync(path) || !statSync(path).isFile()) throw new ResolveError(`${what}: no file ${path}`);
  return { kind: 'file', path, esm: isEsm(path) };
}

/** The target of an "exports" entry under Node's conditions, or undefined when none matches. */
function exportTarget(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) {
    for (const e of entry) {
      const t = exportTarget(e);
      if (t) return t;
    }
    return undefined;
  }
  if (entry && typeof entry === 'object') {
    for (const [condition, value] of Object.entries(entry)) {
      if (!CONDITIONS.has(condition)) continue;
      const t = exportTarget(value);
      if (t) return t;
    }
  }
  return undefined;
}

function packageEntry(packageDir: string, subpath: string, what: string): Resolved {
  const pkg = readPackageJson(packageDir) ?? {};
  if (pkg.exports !== undefined) {
    const map = pkg.exports;
    const isSubpathMap = map !== null && typeof map === 'object' && !Array.isArray(map) && Object.keys(map).some((k) => k.startsWith('.'));
    const entry = isSubpathMap ? (map as Record<string, unknown>)[subpath] : subpath === '.' ? map : undefined;
    const target = exportTarget(entry);
    if (!target) throw new ResolveError(`${what}: the package's "exports" has no entry for ${subpath} under the conditions node/import/default (patterns are not supported)`);
    return file(join(packageDir, target), what);
  }
  if (subpath !== '.') return file(join(packageDir, subpath), what);
  return file(join(packageDir, pkg.main ?? 'index.js'), what);
}

/** Resolves `specifier` as imported by the file `importer`. */
export function resolveImport(specifier: string, importer: string): Resolved {
  const what = `import '${specifier}' in ${importer}`;
  if (specifier.startsWith('node:') || isBuiltin(specifier)) return { kind: 'builtin', specifier };
  if (specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('/')) return file(resolve(dirname(importer), specifier), what);
  const parts = specifier.split('/');
  const nameLength = specifier.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameLength).join('/');
  const subpath = parts.length > nameLength ? `./${parts.slice(nameLength).join('/')}` : '.';
  for (let dir = dirname(importer); ; dir = dirname(dir)) {
    const packageDir = join(dir, 'node_modules', name);
    if (existsSync(join(packageDir, 'package.json'))) return packageEntry(packageDir, subpath, what);
    if (dirname(dir) === dir) throw new ResolveError(`${what}: package ${name} not found`);
  }
}
