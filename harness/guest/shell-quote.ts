// Quoting for the guest's /bin/sh (busybox ash): single quotes, with each
// embedded quote closed, escaped and reopened.
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./:=@%+-]+$/.test(word)) return word;
  return "'" + word.replace(/'/g, `'\\''`) + "'";
}

export const shellJoin = (words: readonly string[]) => words.map(shellQuote).join(' ');
