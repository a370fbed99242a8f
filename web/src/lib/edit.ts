// Small helpers for editing live documents.
import { fetchResource } from "../api/client";

/** The element of a live list with this id. Inside a change, an id the server wrote is an
 * immutable string object, not a JS string: `x.id === id` would never hold. */
export function byId<T extends { id: unknown }>(list: T[] | undefined, id: string): T | undefined {
  return list?.find((x) => String(x.id) === id);
}

/** Downloads or opens an authenticated API resource (links cannot carry the bearer token). */
export async function openResource(path: string, filename?: string) {
  const url = URL.createObjectURL(await fetchResource(path));
  if (filename) {
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    a.click();
  } else {
    window.open(url, "_blank", "noopener");
  }
}
