// A text field bound to a live string that other people edit at the same time.
//
// Each keystroke becomes one automerge splice at the place it was made (`spliceOf`, with the
// caret to tell repeated letters apart). The place is worked out against the text the field
// showed — which may be behind the document if someone else's edit has arrived but not been
// drawn yet — and carried to the document as it is now through automerge cursors, so two people
// typing into one field at once each keep their own insertion, in their own place. Rewriting
// the whole value (what a plain assignment, or a diff against the document rather than against
// what was shown, does) would move or swallow the other person's letters.
//
// The field is uncontrolled: a controlled React input puts the caret at the end whenever its
// value changes underneath the user. When the live value changes it is written into the field
// and the caret (and selection) is carried across the change, so typing carries on where it was.
import { useLayoutEffect, useRef, type InputHTMLAttributes, type TextareaHTMLAttributes } from "react";
import { Automerge, type DocHandle } from "@automerge/react/slim";
import { transformCaret } from "./caret";
import { spliceOf, type Splice } from "./splice";

export type Path = (string | number)[];

type Common = {
  /** The live document, and where the text is in it. */
  handle: DocHandle<unknown> | null;
  path: Path;
  /** The text as last rendered (from the document's plain copy): a change redraws the field. */
  value: string;
  multiline?: boolean;
  /** Who else is editing this field right now (shown, and announced to screen readers). */
  editedBy?: string[];
};
type Props = Common &
  Omit<InputHTMLAttributes<HTMLInputElement> & TextareaHTMLAttributes<HTMLTextAreaElement>, "value" | "onChange" | "defaultValue">;

type Doc = Automerge.Doc<unknown>;

/** The value at `path`: a JS string for collaborative text, an object for an immutable
 * (server-written, last-writer-wins) string, undefined if absent. */
function at(doc: Doc, path: Path): unknown {
  let v: unknown = doc;
  for (const key of path) v = (v as Record<string | number, unknown> | undefined)?.[key];
  return v;
}

function textOf(doc: Doc | undefined, path: Path): string | undefined {
  if (!doc) return undefined;
  const v = at(doc, path);
  return v === undefined || v === null ? undefined : String(v);
}

/** Where a splice made against the text as it stood at `heads` falls in the text as it is in
 * `doc` now: the person's edit lands among the characters they were looking at, wherever others'
 * edits have moved them. Null if the field is not collaborative text (an older server wrote it
 * as a plain string): then it is replaced whole, which makes it text from then on. */
export function placeSplice(doc: Doc, path: Path, heads: Automerge.Heads, edit: Splice): { pos: number; del: number } | null {
  if (typeof at(doc, path) !== "string") return null;
  const now = Automerge.getHeads(doc);
  if (now.length === heads.length && now.every((h, i) => h === heads[i])) return { pos: edit.pos, del: edit.del };
  // Someone else's edit arrived after the field was drawn: place ours by cursors taken in the
  // text the person was looking at.
  const then = Automerge.view(doc, heads);
  const length = (textOf(then, path) ?? "").length;
  const cursor = (i: number) => Automerge.getCursor(then, path, i >= length ? "end" : i);
  const [start, end] = [cursor(edit.pos), cursor(edit.pos + edit.del)];
  const pos = Automerge.getCursorPosition(doc, path, start);
  return { pos, del: Math.max(0, Automerge.getCursorPosition(doc, path, end) - pos) };
}

/** Applies one keystroke's splice (see [`placeSplice`]); `whole` is the field's new value. */
function applyAt(handle: DocHandle<unknown>, path: Path, heads: Automerge.Heads, edit: Splice, whole: string) {
  const doc = handle.doc() as Doc | undefined;
  if (!doc) return;
  const place = placeSplice(doc, path, heads, edit);
  handle.change((d) => {
    if (place) {
      Automerge.splice(d as Doc, path, place.pos, place.del, edit.ins);
    } else {
      let obj = d as Record<string | number, unknown>;
      for (const key of path.slice(0, -1)) obj = obj[key] as Record<string | number, unknown>;
      obj[path[path.length - 1]] = whole;
    }
  });
}

export function CollabText({ handle, path, value, multiline, editedBy = [], className, ...rest }: Props) {
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  /** What the field shows and the document heads it was read at. */
  const shown = useRef<{ text: string; heads: Automerge.Heads } | null>(null);

  /** Draws the document's text into the field, carrying the caret, unless it is already there. */
  const redraw = (highlight: boolean) => {
    const el = ref.current;
    const doc = handle?.doc() as Doc | undefined;
    if (!el || !doc) return;
    const text = textOf(doc, path) ?? value;
    shown.current = { text, heads: Automerge.getHeads(doc) };
    if (el.value === text) return;
    const old = el.value;
    const focused = document.activeElement === el;
    const [start, end] = [el.selectionStart ?? 0, el.selectionEnd ?? 0];
    el.value = text;
    if (focused) el.setSelectionRange(transformCaret(old, text, start), transformCaret(old, text, end));
    if (highlight) {
      // Someone else's change: highlight the field briefly.
      el.classList.remove("remote-change");
      void el.offsetWidth;
      el.classList.add("remote-change");
    }
  };

  const where = path.join("\u0000");
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useLayoutEffect(() => redraw(true), [value, handle, where]);

  const onInput = (e: { currentTarget: HTMLInputElement | HTMLTextAreaElement }) => {
    const el = e.currentTarget;
    const base = shown.current;
    if (!handle || !base) return;
    const edit = spliceOf(base.text, el.value, el.selectionEnd ?? el.value.length);
    if (!edit) return;
    applyAt(handle, path, base.heads, edit, el.value);
    // Whatever arrived in between is drawn now, around the caret.
    redraw(false);
  };

  const others = editedBy.length > 0 ? `${editedBy.join(", ")} editing` : undefined;
  const props = {
    ...rest,
    ref,
    defaultValue: value,
    className: [className, others ? "edited-by-other" : ""].filter(Boolean).join(" ") || undefined,
    title: others,
    "aria-description": others,
    onInput,
  };
  return multiline ? <textarea {...props} /> : <input {...props} />;
}
