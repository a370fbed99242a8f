import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import { Automerge, initializeWasm } from "@automerge/react/slim";
import { cursorAt, cursorToPm, pointToCursor, rangeToCursors, textBetween } from "./cursors";

type Clause = { clauses: { text: string }[] };
const path = ["clauses", 0, "text"];

beforeAll(async () => {
  // The app fetches the wasm as an asset; here it is read from the package.
  await initializeWasm(readFileSync(createRequire(import.meta.url).resolve("@automerge/automerge/automerge.wasm")));
});

describe("cursors in a clause's rich text", () => {
  it("anchors a selection to words that keep their place through others' edits", () => {
    let doc = Automerge.from<Clause>({ clauses: [{ text: "Brockley adds this." }] });
    // Without block markers the editor shows one paragraph: text starts at position 1.
    const range = rangeToCursors(doc, path, { from: 1, to: 9 });
    expect(range).not.toBeNull();
    expect(textBetween(doc, path, range!.start, range!.end)).toBe("Brockley");
    doc = Automerge.change(doc, (d) => Automerge.splice(d, path, 0, 0, "Note: "));
    expect(textBetween(doc, path, range!.start, range!.end)).toBe("Brockley");
    expect(cursorToPm(doc, path, range!.start)).toBe(7);
  });

  it("places a caret at the very end (where automerge has no character)", () => {
    const doc = Automerge.from<Clause>({ clauses: [{ text: "Notice: 12 months." }] });
    const end = pointToCursor(doc, path, 19);
    expect(end).toBe(cursorAt(doc, path, 18));
    expect(cursorToPm(doc, path, end)).toBe(19);
  });

  it("counts a paragraph break as one character in automerge and two positions in the editor", () => {
    let doc = Automerge.from<Clause>({ clauses: [{ text: "First.Second." }] });
    doc = Automerge.change(doc, (d) => {
      Automerge.splitBlock(d, path, 0, { type: "paragraph", parents: [], attrs: {} });
      Automerge.splitBlock(d, path, 7, { type: "paragraph", parents: [], attrs: {} });
    });
    // <p>First.</p><p>Second.</p>: "Second." runs from 9 to 16.
    const range = rangeToCursors(doc, path, { from: 9, to: 16 });
    expect(textBetween(doc, path, range!.start, range!.end)).toBe("Second.");
    expect(cursorToPm(doc, path, range!.start)).toBe(9);
  });

  it("says null for a cursor that is not in this text", () => {
    const doc = Automerge.from<Clause>({ clauses: [{ text: "x" }] });
    expect(cursorToPm(doc, path, "not-a-cursor")).toBeNull();
    expect(textBetween(doc, path, "bad", "worse")).toBe("");
  });
});
