// A JavaScript tokenizer just precise enough to find a module's import and
// export statements: it knows where strings, template literals, regular
// expressions and comments begin and end, so braces and keywords inside them
// are never mistaken for code. It does not build a syntax tree.

export type TokenKind = 'name' | 'string' | 'number' | 'punct' | 'template' | 'regex';

export interface Token {
  readonly kind: TokenKind;
  /** Source text of the token (for strings and templates: with their quotes). */
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** Brace/bracket/paren nesting depth before this token (0: module top level). */
  readonly depth: number;
  /** A line break came between the previous token and this one. */
  readonly newlineBefore: boolean;
}

// After these keywords an expression starts, so a '/' begins a regular expression.
const EXPRESSION_KEYWORDS = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await', 'extends']);

const PUNCTUATORS = ['>>>=', '...', '===', '!==', '**=', '<<=', '>>=', '>>>', '&&=', '||=', '??=', '=>', '==', '!=', '<=', '>=', '&&', '||', '??', '?.', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<', '>>', '**'];

const isNameStart = (c: string) => /[A-Za-z_$\u0080-\uffff]/.test(c);
const isNamePart = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

export class TokenizeError extends Error {}

/** Splits `source` into tokens, comments and white space dropped. Throws TokenizeError on an unterminated literal. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let newline = false;
  // The open brackets, innermost last; '${' for a template literal's substitution.
  const open: string[] = [];

  const push = (kind: TokenKind, start: number, end: number) => {
    tokens.push({ kind, text: source.slice(start, end), start, end, depth: open.length, newlineBefore: newline });
    newline = false;
  };
  const fail = (what: string, at: number): never => {
    const line = source.slice(0, at).split('\n').length;
    throw new TokenizeError(`${what} at line ${line}`);
  };
  const regexAllowed = (): boolean => {
    const last = tokens[tokens.length - 1];
    if (!last) return true;
    if (last.kind === 'name') return EXPRESSION_KEYWORDS.has(last.text);
    if (last.kind === 'punct') return !(last.text === ')' || last.text === ']' || last.text === '}');
    return false;
  };
  // Reads a template from just after its opening backtick or closing `}` to its
  // end or its next `${`; returns true when it stopped at a `${`.
  const templateRest = (from: number): boolean => {
    let j = from;
    for (;;) {
      if (j >= source.length) fail('unterminated template literal', from);
      const c = source[j];
      if (c === '\\') j += 2;
      else if (c === '`') {
        i = j + 1;
        return false;
      } else if (c === '$' && source[j + 1] === '{') {
        i = j + 2;
        return true;
      } else j++;
    }
  };

  while (i < source.length) {
    const c = source[i];
    if (c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029') {
      newline = true;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\f' || c === '\v' || c === '\ufeff' || c === '\u00a0') i++;
    else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      if (end < 0) fail('unterminated comment', i);
      if (/[\n\r\u2028\u2029]/.test(source.slice(i, end))) newline = true;
      i = end + 2;
    } else if (c === '#' && i === 0 && source[1] === '!') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const start = i++;
      while (source[i] !== c) {
        if (i >= source.length || source[i] === '\n') fail('unterminated string', start);
        i += source[i] === '\\' ? 2 : 1;
      }
      i++;
      push('string', start, i);
    } else if (c === '`') {
      const start = i;
      const substitution = templateRest(i + 1);
      push('template', start, i);
      if (substitution) open.push('${');
    } else if (c === '/' && regexAllowed()) {
      const start = i++;
      let inClass = false;
      for (;;) {
        const d = source[i];
        if (i >= source.length || d === '\n') fail('unterminated regular expression', start);
        if (d === '\\') i += 2;
        else {
          if (d === '[') inClass = true;
          else if (d === ']') inClass = false;
          else if (d === '/' && !inClass) break;
          i++;
        }
      }
      i++;
      while (i < source.length && isNamePart(source[i])) i++; // flags
      push('regex', start, i);
    } else if (isNameStart(c) || c === '\\' || (c === '#' && isNameStart(source[i + 1] ?? ''))) {
      const start = i++;
      while (i < source.length && (isNamePart(source[i]) || source[i] === '\\')) i++;
      push('name', start, i);
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const start = i++;
      while (i < source.length && /[0-9A-Za-z_.]/.test(source[i])) {
        // An exponent's sign belongs to the number: 1e-7
        if ((source[i] === 'e' || source[i] === 'E') && (source[i + 1] === '-' || source[i + 1] === '+') && !/^0[xX]/.test(source.slice(start, i))) i++;
        i++;
      }
      push('number', start, i);
    } else if (c === '{' || c === '(' || c === '[') {
      push('punct', i, i + 1);
      open.push(c);
      i++;
    } else if (c === '}' || c === ')' || c === ']') {
      const opener = open.pop();
      if (opener === '${' && c === '}') {
        // The end of a substitution: the template goes on.
        const start = i;
        const substitution = templateRest(i + 1);
        push('template', start, i);
        if (substitution) open.push('${');
      } else {
        if (opener !== { '}': '{', ')': '(', ']': '[' }[c]) fail(`unbalanced '${c}'`, i);
        push('punct', i, i + 1);
        i++;
      }
    } else {
      const p = PUNCTUATORS.find((q) => source.startsWith(q, i)) ?? c;
      push('punct', i, i + p.length);
      i += p.length;
    }
  }
  if (open.length) fail(`unclosed '${open[open.length - 1]}'`, source.length);
  return tokens;
}

/** The value of a string token's text ('single' or "double" quoted, with escapes). */
export function stringLiteralValue(text: string): string {
  const doubleQuoted = text[0] === "'" ? `"${text.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"` : text;
  return JSON.parse(doubleQuoted) as string;
}
