// A clause's rich text, edited together: a ProseMirror editor bound to an automerge text
// object through @automerge/prosemirror (marks and paragraphs/lists are automerge marks and
// block markers, so concurrent edits merge character by character). Positions that must
// survive other people's edits — where someone's caret is, what a comment is anchored to — are
// automerge cursors, turned into editor positions whenever they are drawn.
import { useEffect, useRef, useState } from "react";
import { colourOf } from "./colour";
import { Automerge, type DocHandle } from "@automerge/react/slim";
import { init } from "@automerge/prosemirror";
import { cursorToPm, pointToCursor, rangeToCursors } from "./cursors";
import { EditorState, Plugin, PluginKey, type Command } from "prosemirror-state";
import { Decoration, DecorationSet, EditorView } from "prosemirror-view";
import { baseKeymap, toggleMark } from "prosemirror-commands";
import { history, redo, undo } from "prosemirror-history";
import { keymap } from "prosemirror-keymap";
import { wrapInList } from "prosemirror-schema-list";

import type { Path } from "./cursors";

/** Someone else's caret or selection in this text (automerge cursors). */
export interface RemoteCaret {
  name: string;
  anchor: string;
  head: string;
}

/** A stretch of the text a comment is anchored to (automerge cursors). */
export interface TextAnchor {
  id: string;
  start: string;
  end: string;
  label: string;
}

/** The local selection, as automerge cursors and the text it covers. */
export interface Selected {
  anchor: string;
  head: string;
  start: string;
  end: string;
  quote: string;
}

const decorationsKey = new PluginKey<DecorationSet>("concordat-decorations");


export function RichText({
  handle,
  path,
  id,
  label,
  editable,
  carets = [],
  anchors = [],
  onSelect,
  onFocus,
  onBlur,
}: {
  handle: DocHandle<unknown>;
  path: Path;
  id: string;
  label: string;
  editable: boolean;
  carets?: RemoteCaret[];
  anchors?: TextAnchor[];
  onSelect?: (s: Selected | null) => void;
  onFocus?: () => void;
  onBlur?: () => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const viewRef = useRef<EditorView | null>(null);
  const drawnRef = useRef("");
  const [failed, setFailed] = useState<string | null>(null);
  const editableRef = useRef(editable);
  editableRef.current = editable;
  const props = useRef({ carets, anchors, onSelect, onFocus, onBlur });
  props.current = { carets, anchors, onSelect, onFocus, onBlur };
  const pathKey = JSON.stringify(path);

  /** Draws the others' carets and the comments' anchors where they are now. */
  const redraw = () => {
    const view = viewRef.current;
    if (!view) return;
    const doc = handle.doc();
    const size = view.state.doc.content.size;
    const clamp = (n: number) => Math.max(0, Math.min(size, n));
    const decorations: Decoration[] = [];
    const drawn: unknown[] = [];
    for (const a of props.current.anchors) {
      const [from, to] = [cursorToPm(doc, path, a.start), cursorToPm(doc, path, a.end)];
      if (from === null || to === null || to <= from) continue;
      decorations.push(Decoration.inline(clamp(from), clamp(to), { class: "anchored", title: a.label, "data-comment": a.id }));
      drawn.push(["anchor", clamp(from), clamp(to), a.id, a.label]);
    }
    for (const c of props.current.carets) {
      const [anchor, head] = [cursorToPm(doc, path, c.anchor), cursorToPm(doc, path, c.head)];
      if (anchor === null || head === null) continue;
      const colour = colourOf(c.name);
      if (anchor !== head) {
        const [from, to] = [clamp(Math.min(anchor, head)), clamp(Math.max(anchor, head))];
        decorations.push(Decoration.inline(from, to, { class: "remote-selection", style: `background: ${colour}33` }));
        drawn.push(["selection", from, to, c.name]);
      }
      decorations.push(
        Decoration.widget(
          clamp(head),
          () => {
            const caret = document.createElement("span");
            caret.className = "remote-caret";
            // Drawn over the text, not part of it: hidden from screen readers (presence names
            // the people on the document) and not editable.
            caret.setAttribute("aria-hidden", "true");
            caret.contentEditable = "false";
            caret.style.borderColor = colour;
            caret.setAttribute("data-name", c.name);
            const tag = document.createElement("span");
            tag.className = "remote-name";
            tag.style.background = colour;
            tag.textContent = c.name;
            caret.appendChild(tag);
            return caret;
          },
          { key: `caret-${c.name}-${head}`, side: 1, ignoreSelection: true },
        ),
      );
      drawn.push(["caret", clamp(head), c.name]);
    }
    // Nothing moved: leave the view alone (every redraw rewrites the DOM selection).
    const signature = JSON.stringify(drawn);
    if (signature === drawnRef.current) return;
    drawnRef.current = signature;
    // Read a selection change the browser has made but the editor has not yet seen (a
    // Shift+Arrow a moment ago) before redrawing; otherwise the redraw puts the old selection
    // back and the keypress is lost. ProseMirror does the same before handling a key.
    (view as unknown as { domObserver?: { flush?: () => void } }).domObserver?.flush?.();
    view.dispatch(view.state.tr.setMeta(decorationsKey, DecorationSet.create(view.state.doc, decorations)).setMeta("addToHistory", false));
  };

  /** The local selection as automerge cursors, for presence and for anchoring a comment. Only
   * while this editor has focus: a remote edit also moves the selection of an editor nobody
   * is in, and that is not where this user is. */
  const reportSelection = (view: EditorView) => {
    const report = props.current.onSelect;
    if (!report || !view.hasFocus()) return;
    const { from, to, anchor, head } = view.state.selection;
    try {
      const doc = handle.doc() as Automerge.Doc<unknown>;
      const range = rangeToCursors(doc, path, { from, to });
      if (!range) return report(null);
      report({
        anchor: pointToCursor(doc, path, anchor),
        head: pointToCursor(doc, path, head),
        start: range.start,
        end: range.end,
        quote: view.state.doc.textBetween(from, to, " "),
      });
    } catch {
      report(null);
    }
  };

  useEffect(() => {
    if (!host.current) return;
    let view: EditorView;
    let applying = false;
    try {
      const { schema, pmDoc, plugin } = init(handle as never, path);
      const decorations = new Plugin<DecorationSet>({
        key: decorationsKey,
        state: {
          init: () => DecorationSet.empty,
          apply: (tr, old) => tr.getMeta(decorationsKey) ?? old.map(tr.mapping, tr.doc),
        },
        props: { decorations: (s) => decorationsKey.getState(s) },
      });
      const when = (c: Command): Command => (s, d, v) => editableRef.current && c(s, d, v);
      const state = EditorState.create({
        schema,
        doc: pmDoc,
        plugins: [
          keymap({
            "Mod-b": when(toggleMark(schema.marks.strong)),
            "Mod-i": when(toggleMark(schema.marks.em)),
            "Mod-z": when(undo),
            "Mod-y": when(redo),
            "Mod-Shift-z": when(redo),
          }),
          keymap(baseKeymap),
          history(),
          plugin,
          decorations,
        ],
      });
      view = new EditorView(host.current, {
        state,
        editable: () => editableRef.current,
        attributes: () => ({
          id,
          role: "textbox",
          "aria-multiline": "true",
          "aria-label": label,
          "aria-readonly": editableRef.current ? "false" : "true",
          // Reachable by Tab when read-only too, so it can be read.
          tabindex: "0",
          class: "rich",
        }),
        dispatchTransaction(tr) {
          // Anything the handle reports while this runs is this editor's own change.
          applying = true;
          try {
            view.updateState(view.state.apply(tr));
          } finally {
            applying = false;
          }
          if (tr.selectionSet || tr.docChanged) reportSelection(view);
        },
        handleDOMEvents: {
          focus: () => {
            props.current.onFocus?.();
            return false;
          },
          blur: () => {
            props.current.onBlur?.();
            return false;
          },
        },
      });
      viewRef.current = view;
    } catch (e) {
      setFailed(String(e));
      return;
    }
    // Others' changes move the text under the carets and anchors: place them again.
    let pending = 0;
    const onChange = (p: { patches?: Automerge.Patch[] }) => {
      window.clearTimeout(pending);
      pending = window.setTimeout(redraw, 0);
      // Someone else's edit to this text: highlight it briefly, as other fields do.
      const here = (p.patches ?? []).some((x) => path.every((k, i) => x.path[i] === k));
      if (here && !applying) {
        view.dom.classList.remove("remote-change");
        void view.dom.offsetWidth;
        view.dom.classList.add("remote-change");
      }
    };
    handle.on("change", onChange);
    redraw();
    return () => {
      window.clearTimeout(pending);
      handle.off("change", onChange);
      view.destroy();
      viewRef.current = null;
      drawnRef.current = "";
    };
    // The editor is made once per handle and text; props are read through refs.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [handle, pathKey]);

  // Edit rights changed (a grant revoked, a reload): tell the view to ask again.
  useEffect(() => {
    viewRef.current?.setProps({});
  }, [editable]);

  // New carets or anchors: draw them.
  const drawn = JSON.stringify([carets, anchors]);
  useEffect(redraw, [drawn]);

  const run = (command: (schema: EditorView["state"]["schema"]) => Command) => {
    const view = viewRef.current;
    if (!view || !editable) return;
    command(view.state.schema)(view.state, view.dispatch, view);
    view.focus();
  };

  if (failed) return <p className="error" role="alert">This clause's text could not be opened: {failed}</p>;
  return (
    <div className="rich-text">
      {editable && (
        <div className="toolbar" role="toolbar" aria-label={`Formatting for ${label}`}>
          <button type="button" className="secondary" onMouseDown={(e) => e.preventDefault()} onClick={() => run((s) => toggleMark(s.marks.strong))}>
            <strong>B</strong><span className="sr-only"> Bold</span>
          </button>
          <button type="button" className="secondary" onMouseDown={(e) => e.preventDefault()} onClick={() => run((s) => toggleMark(s.marks.em))}>
            <em>I</em><span className="sr-only"> Italic</span>
          </button>
          <button type="button" className="secondary" onMouseDown={(e) => e.preventDefault()} onClick={() => run((s) => wrapInList(s.nodes.bullet_list))}>
            • List<span className="sr-only"> (bulleted)</span>
          </button>
        </div>
      )}
      <div ref={host} className="rich-host" />
    </div>
  );
}
