// Small helpers for editing live documents.

/** The element of a live list with this id. Inside a change, an id the server wrote is an
 * immutable string object, not a JS string: `x.id === id` would never hold. */
export function byId<T extends { id: unknown }>(list: T[] | undefined, id: string): T | undefined {
  return list?.find((x) => String(x.id) === id);
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

