// Progress lines for a benchmark section's long waits, on stderr (the
// report itself goes to stdout): "[bench NAME] HH:MM:SS what".
export type Progress = (what: string) => void;

export function sectionProgress(section: string): Progress {
  return (what) => process.stderr.write(`[bench ${section}] ${new Date().toISOString().slice(11, 19)} ${what}\n`);
}
