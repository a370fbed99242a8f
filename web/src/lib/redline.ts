// A redline between two versions of a text: the words kept, removed and added, in order. Word
// by word (whitespace kept with the words), by the longest common run; a pair of texts too long
// to compare word by word is shown as the whole old text removed and the new one added.

export type Piece = { op: "same" | "del" | "ins"; text: string };

const MAX_CELLS = 4_000_000;

function words(s: string): string[] {
  return s.match(/\s+|[^\s]+/g) ?? [];
}

/** The pieces that turn `before` into `after`. */
export function redline(before: string, after: string): Piece[] {
  if (before === after) return before ? [{ op: "same", text: before }] : [];
  const a = words(before);
  const b = words(after);
  if (a.length * b.length > MAX_CELLS) {
    return [
      ...(before ? [{ op: "del" as const, text: before }] : []),
      ...(after ? [{ op: "ins" as const, text: after }] : []),
    ];
  }
  // lcs[i][j]: the longest common run of a[i..] and b[j..].
  const lcs: Uint32Array[] = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: Piece[] = [];
  const push = (op: Piece["op"], text: string) => {
    const last = out[out.length - 1];
    if (last && last.op === op) last.text += text;
    else out.push({ op, text });
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      push("same", a[i]);
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) push("del", a[i++]);
    else push("ins", b[j++]);
  }
  while (i < a.length) push("del", a[i++]);
  while (j < b.length) push("ins", b[j++]);
  return out;
}

/** Whether anything changed. */
export const changed = (pieces: Piece[]) => pieces.some((p) => p.op !== "same");
