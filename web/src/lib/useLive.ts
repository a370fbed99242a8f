// A live document: its handle from the repo, its current state as plain JSON, and a change
// function.
//
// The state is a plain copy: text people type is automerge text (a JS string), other strings
// the server wrote (ids, enumerations, dates) are scalar strings, which the JS library hands out
// as `ImmutableString` objects. The screens should not care which; JSON (every automerge value
// has a toJSON) flattens both.
import { useEffect, useState } from "react";
import type { AutomergeUrl, DocHandle, Repo } from "@automerge/react/slim";

export function useLive<T>(repo: Repo | null, url: string | null) {
  const [handle, setHandle] = useState<DocHandle<T> | null>(null);
  const [doc, setDoc] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    if (!repo || !url) return;
    let live = true;
    let off = () => {};
    let attempts = 0;
    const attempt = () =>
      repo
        .find<T>(url as AutomergeUrl)
        .then((h) => {
        if (!live) return;
        setHandle(h);
        setDoc(plain(h.doc()));
        const onChange = () => setDoc(plain(h.doc()));
        h.on("change", onChange);
        off = () => h.off("change", onChange);
      })
        .catch((e: unknown) => {
          // Unavailable while the connection is (re)opening: try again for a while.
          if (live && attempts++ < 20) setTimeout(() => live && attempt(), 1000);
          else if (live) setError(String(e));
        });
    attempt();
    return () => {
      live = false;
      off();
    };
  }, [repo, url, generation]);

  /** Throws away the local copy and fetches the document again (after a refused change). */
  const reload = async () => {
    if (repo && url) {
      repo.delete(url as AutomergeUrl);
      setHandle(null);
      setDoc(undefined);
      setGeneration((g) => g + 1);
    }
  };

  const change = (f: (d: T) => void) => handle?.change(f);
  return { handle, doc, change, error, reload };
}

function plain<T>(doc: T | undefined): T | undefined {
  return doc === undefined
    ? undefined
    : (JSON.parse(JSON.stringify(doc, (_, v) => (typeof v === "bigint" ? Number(v) : v))) as T);
}
