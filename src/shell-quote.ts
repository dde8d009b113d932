// A word for sh: as it is when only characters sh never interprets are in
// it, else single-quoted (a `'` in it closed, escaped and reopened). For the
// guest's init command (cli/run-command.ts), the launcher's generated
// start of the helper (tools/build/helper-launch-script.ts) and the nested
// L1's command script (tools/nested/l1.ts).
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
