import { describe, expect, it } from "vitest";
import { changed, redline } from "./redline";

const rebuild = (pieces: ReturnType<typeof redline>, keep: "del" | "ins") =>
  pieces.filter((p) => p.op === "same" || p.op === keep).map((p) => p.text).join("");

describe("redline", () => {
  it("marks the words removed and added, keeping the rest", () => {
    const r = redline("The Councils share the service equally.", "The Councils share the service in proportion to caseload.");
    expect(r.filter((p) => p.op === "del").map((p) => p.text.trim())).toEqual(["equally."]);
    expect(r.filter((p) => p.op === "ins").map((p) => p.text.trim())).toEqual(["in proportion to caseload."]);
    expect(changed(r)).toBe(true);
  });

  it("rebuilds both texts exactly", () => {
    const cases: [string, string][] = [
      ["", "New clause text."],
      ["Old text.", ""],
      ["a b c d", "a x c d e"],
      ["Each Council remains data controller.", "Each Council remains a data controller for its residents."],
    ];
    for (const [before, after] of cases) {
      const r = redline(before, after);
      expect(rebuild(r, "del")).toBe(before);
      expect(rebuild(r, "ins")).toBe(after);
    }
  });

  it("says nothing changed for the same text", () => {
    expect(changed(redline("same", "same"))).toBe(false);
    expect(redline("", "")).toEqual([]);
  });
});
