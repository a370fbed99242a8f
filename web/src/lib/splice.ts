// What one keystroke (or paste, or cut) did to a text field, as a single splice: where, how
// many characters went, what came in. The caret after the edit settles what a plain
// prefix/suffix comparison cannot: typing "a" into "aa" could be at any of three places, and
// the caret says which.

export interface Splice {
  pos: number;
  del: number;
  ins: string;
}

/** The splice that turns `old` into `now`, given the caret (selection end) after the edit;
 * null if nothing changed. */
export function spliceOf(old: string, now: string, caret: number): Splice | null {
  if (old === now) return null;
  const max = Math.min(old.length, now.length);
  // What follows the caret was not typed: the common suffix may not reach before it.
  const suffixRoom = Math.max(0, Math.min(max, now.length - Math.min(caret, now.length)));
  let s = 0;
  while (s < suffixRoom && old[old.length - 1 - s] === now[now.length - 1 - s]) s++;
  let p = 0;
  while (p < max - s && old[p] === now[p]) p++;
  return { pos: p, del: old.length - p - s, ins: now.slice(p, now.length - s) };
}

/** Applies a splice to a string (what automerge will do to the text). */
export function applySplice(text: string, { pos, del, ins }: Splice): string {
  return text.slice(0, pos) + ins + text.slice(pos + del);
}
