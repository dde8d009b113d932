// A bundle's text in ASCII only. V8 keeps a script whose every character is
// below 0x100 as a one-byte string; a single "→" in a comment makes the whole
// ~1 MB bundle two-byte: twice the memory for the source V8 keeps for lazy
// compilation, and slower to read and scan (natively, the helper's bundle:
// read 10.4 → 7.7 ms, compile 15.8 → 13.8 ms). Characters above 0x7f become
// \uXXXX escapes, which mean the same in string literals, regular expressions,
// untagged template literals and names; in comments they are only text.
// Where an escape would change the meaning (after a backslash, in a tagged
// template, whose raw text the tag sees, in white space (which the tokenizer may
// read as part of a name), an astral character in a name), the source is returned unchanged.
import { tokenize } from './js-tokens.js';

const NON_ASCII = /[^\x00-\x7f]/g;
const HAS_NON_ASCII = /[^\x00-\x7f]/;
/** White space beyond ASCII (no-break space, line separators...): an escape there is no longer white space. */
const NON_ASCII_SPACE = /[^\S\x00-\x7f]/;
const escape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `source` with every non-ASCII character escaped, or undefined where that could change what it means. */
export function asciiSource(source: string): string | undefined {
  if (!HAS_NON_ASCII.test(source)) return source;
  const tokens = tokenize(source);
  const out: string[] = [];
  let at = 0;
  /** For each template literal being read (nested in substitutions): whether a tag sees its raw text. */
  const templates: boolean[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const gap = source.slice(at, t.start);
    // Between tokens: white space and comments. Non-ASCII white space cannot become an escape.
    if (NON_ASCII_SPACE.test(gap)) return undefined;
    out.push(gap.replace(NON_ASCII, escape));
    let tagged = false;
    if (t.kind === 'template') {
      if (t.text.startsWith('`')) {
        const before = tokens[i - 1];
        tagged = before !== undefined && ((before.kind === 'name' && !KEYWORDS_BEFORE_EXPRESSION.has(before.text)) || before.text === ')' || before.text === ']' || (before.kind === 'template' && before.text.endsWith('`')));
        if (!t.text.endsWith('`')) templates.push(tagged);
      } else {
        tagged = templates[templates.length - 1] ?? false;
        if (t.text.endsWith('`')) templates.pop();
      }
    }
    const text = t.text;
    if (HAS_NON_ASCII.test(text)) {
      if (tagged || /\\[^\x00-\x7f]/.test(text) || (t.kind === 'name' && (/[\ud800-\udfff]/.test(text) || NON_ASCII_SPACE.test(text)))) return undefined;
      out.push(text.replace(NON_ASCII, escape));
    } else out.push(text);
    at = t.end;
  }
  const tail = source.slice(at);
  if (NON_ASCII_SPACE.test(tail)) return undefined;
  out.push(tail.replace(NON_ASCII, escape));
  return out.join('');
}

/** Names after which a template literal is a value, not a tag's argument. */
const KEYWORDS_BEFORE_EXPRESSION = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await', 'extends']);
