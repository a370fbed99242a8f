/** Where a caret at `pos` in `old` belongs in `now`: before the changed stretch it stays,
 * after it moves with the text, inside it goes to the end of the new stretch. */
export function transformCaret(old: string, now: string, pos: number): number {
  let p = 0;
  const max = Math.min(old.length, now.length);
  while (p < max && old[p] === now[p]) p++;
  let s = 0;
  while (s < max - p && old[old.length - 1 - s] === now[now.length - 1 - s]) s++;
  if (pos <= p) return pos;
  if (pos >= old.length - s) return pos + (now.length - old.length);
  return now.length - s;
}
