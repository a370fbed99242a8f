// What every document screen is given, and the small types they share: kept here, not in a
// screen's own file, so that screens import from one place and never from each other.
import type { DocHandle, Repo } from "@automerge/react/slim";
import type { DocumentView, LiveDoc, User } from "../api/client";

/** May the caller change things inside this top-level list (or anywhere, for null)? */
export type CanEdit = (list: string | null) => boolean;

export function canEditFor(view: DocumentView): CanEdit {
  const e = view.editable;
  return (list) => e.kind === "everything" || (e.kind === "only" && list !== null && e.lists.includes(list));
}

/** Where someone's caret is in a text: which text (a clause id) and automerge cursors. */
export interface Caret {
  text: string;
  anchor: string;
  head: string;
}

export interface Peer {
  name: string;
  field?: string;
  caret?: Caret;
  seen: number;
}

export interface ScreenProps<T> {
  doc: LiveDoc<T>;
  change: (f: (d: LiveDoc<T>) => void) => void;
  canEdit: CanEdit;
  view: DocumentView;
  onFocusField: (f: string | undefined) => void;
  /** The names of the others editing a field (as named by `onFocusField`). */
  editing: (field: string) => string[];
  /** The live document's handle (for editors bound to it directly, like rich text). */
  handle: DocHandle<unknown>;
  /** The others on this document and where their carets are. */
  peers: Peer[];
  /** Tells the others where this user's caret is (or that it is nowhere). */
  onCaret: (c: Caret | undefined) => void;
  user: User;
  /** The repo, for screens that open a second live document (an SLA's partners' figures). */
  repo: Repo | null;
}

