// Small helpers for editing live documents.
import { api } from "../api/client";

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
