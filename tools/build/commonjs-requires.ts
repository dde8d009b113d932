// The `require('literal')` calls of a CommonJS module, found from its tokens
// (js-tokens.ts): what a bundle can resolve ahead of time. Any other call
// (a computed name, require.resolve) is left to Node at run time.
import { stringLiteralValue, tokenize } from './js-tokens.js';

/** The distinct specifiers of the module's literal require() calls, in order of first appearance. */
export function literalRequires(source: string): string[] {
  const tokens = tokenize(source);
  const found = new Set<string>();
  for (let i = 0; i + 3 < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind !== 'name' || t.text !== 'require' || tokens[i - 1]?.text === '.') continue;
    if (tokens[i + 1].text !== '(' || tokens[i + 2].kind !== 'string' || tokens[i + 3].text !== ')') continue;
    found.add(stringLiteralValue(tokens[i + 2].text));
  }
  return [...found];
}
