// Small helpers for editing live documents.
import { Automerge } from "@automerge/react/slim";
import { api } from "../api/client";

/** Sets a string field: a character-level update when it is collaborative text (so two
 * people typing in one field merge), a plain assignment otherwise. */
export function setText(doc: unknown, path: (string | number)[], value: string) {
  try {
    Automerge.updateText(doc as Automerge.Doc<unknown>, path, value);
  } catch {
    let obj = doc as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) obj = obj[key] as Record<string | number, unknown>;
    obj[path[path.length - 1]] = value;
  }
}

/** Downloads or opens an authenticated API resource (links cannot carry the bearer token). */
export async function openResource(path: string, filename?: string) {
  const resp = await fetch(path, { headers: { authorization: `Bearer ${tokenOf()}` } });
  if (!resp.ok) throw new Error(`${resp.status}`);
  const url = URL.createObjectURL(await resp.blob());
  if (filename) {
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    a.click();
  } else {
    window.open(url, "_blank", "noopener");
  }
}

function tokenOf(): string {
  try {
    return JSON.parse(sessionStorage.getItem("concordat.session") ?? "{}").access_token ?? "";
  } catch {
    return "";
  }
}

export { api };
