import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import { Automerge, initializeWasm } from "@automerge/react/slim";
import { placeSplice } from "./CollabText";
import { spliceOf } from "./splice";

type Register = { risks: { owner: string }[] };
const path = ["risks", 0, "owner"];

beforeAll(async () => {
  await initializeWasm(readFileSync(createRequire(import.meta.url).resolve("@automerge/automerge/automerge.wasm")));
});

/** One keystroke run made against `shown` (drawn at `heads`), applied to `doc` as it is now. */
function type(doc: Automerge.Doc<Register>, heads: Automerge.Heads, shown: string, now: string, caret: number) {
  const edit = spliceOf(shown, now, caret)!;
  const place = placeSplice(doc, path, heads, edit)!;
  return Automerge.change(doc, (d) => {
    Automerge.splice(d, path, place.pos, place.del, edit.ins);
  });
}

describe("a keystroke lands where it was typed", () => {
  it("keeps both people's insertions when the other's arrived before the field was redrawn", () => {
    const base = Automerge.from<Register>({ risks: [{ owner: "Monitoring Officer" }] });
    const heads = Automerge.getHeads(base);
    // Brockley typed at the start; it has reached this document, not yet the field.
    const brockley = Automerge.change(Automerge.clone(base), (d) => {
      Automerge.splice(d, path, 0, 0, "BROCK ");
    });
    const doc = Automerge.merge(Automerge.clone(base), brockley);
    // Ashby, looking at "Monitoring Officer", types at its end.
    const after = type(doc, heads, "Monitoring Officer", "Monitoring Officer ASHBY", 24);
    expect(after.risks[0].owner).toBe("BROCK Monitoring Officer ASHBY");
  });

  it("deletes the characters the person selected, not ones that moved into their place", () => {
    const base = Automerge.from<Register>({ risks: [{ owner: "Head of Legal Services" }] });
    const heads = Automerge.getHeads(base);
    const other = Automerge.change(Automerge.clone(base), (d) => {
      Automerge.splice(d, path, 0, 0, "Acting ");
    });
    const doc = Automerge.merge(Automerge.clone(base), other);
    // " Services" deleted in the field as it was drawn.
    const after = type(doc, heads, "Head of Legal Services", "Head of Legal", 13);
    expect(after.risks[0].owner).toBe("Acting Head of Legal");
  });

  it("places an edit directly when nothing else happened, and refuses a plain string", () => {
    const doc = Automerge.from<Register>({ risks: [{ owner: "aa" }] });
    const heads = Automerge.getHeads(doc);
    expect(placeSplice(doc, path, heads, { pos: 1, del: 0, ins: "a" })).toEqual({ pos: 1, del: 0 });
    const plain = Automerge.change(doc, (d) => {
      (d.risks[0] as unknown as { owner: unknown }).owner = new Automerge.ImmutableString("server wrote this");
    });
    expect(placeSplice(plain, path, Automerge.getHeads(plain), { pos: 0, del: 0, ins: "x" })).toBeNull();
  });
});
