// Places in a clause's rich text that must survive other people's edits — a caret sent as
// presence, the words a comment is anchored to — are automerge cursors; the editor works in
// ProseMirror positions. These convert between the two, through the binding's own traversal
// of the text's spans (blocks count as one character in automerge, as an open/close pair in
// ProseMirror).
import { Automerge } from "@automerge/react/slim";
import { basicSchemaAdapter } from "@automerge/prosemirror";
import { amSpliceIdxToPmIdx, pmRangeToAmRange } from "@automerge/prosemirror/dist/traversal.js";

export type Path = (string | number)[];
type Doc = Automerge.Doc<unknown>;

/** The text's length in automerge's indexing (each block marker counts one). */
function length(doc: Doc, path: Path): number {
  return Automerge.spans(doc, path).reduce((n, s) => n + (s.type === "text" ? s.value.length : 1), 0);
}

/** A cursor at an automerge index of the text. automerge has no cursor at the index past the
 * last character (where a caret at the end is): that place is `"end"`. */
export function cursorAt(doc: Doc, path: Path, index: number): string {
  return Automerge.getCursor(doc, path, index >= length(doc, path) ? "end" : index);
}

/** The cursors of a ProseMirror range (start and end), or null if it does not map. */
export function rangeToCursors(doc: Doc, path: Path, range: { from: number; to: number }): { start: string; end: string } | null {
  const am = pmRangeToAmRange(basicSchemaAdapter, Automerge.spans(doc, path), range);
  return am ? { start: cursorAt(doc, path, am.start), end: cursorAt(doc, path, am.end) } : null;
}

/** The cursor of a ProseMirror position. */
export function pointToCursor(doc: Doc, path: Path, pm: number): string {
  return rangeToCursors(doc, path, { from: pm, to: pm })?.start ?? cursorAt(doc, path, 0);
}

/** Where a cursor is now, as a ProseMirror position, or null if it cannot be placed. */
export function cursorToPm(doc: Doc, path: Path, cursor: string): number | null {
  try {
    const index = Automerge.getCursorPosition(doc, path, cursor);
    return amSpliceIdxToPmIdx(basicSchemaAdapter, Automerge.spans(doc, path), index);
  } catch {
    return null;
  }
}

/** The words between two cursors as they read now (block markers as spaces). */
export function textBetween(doc: Doc, path: Path, start: string, end: string): string {
  try {
    const [s, e] = [Automerge.getCursorPosition(doc, path, start), Automerge.getCursorPosition(doc, path, end)];
    return Automerge.spans(doc, path)
      .map((span) => (span.type === "text" ? span.value : "\ufffc"))
      .join("")
      .slice(s, e)
      .replace(/\ufffc/g, " ")
      .trim();
  } catch {
    return "";
  }
}
