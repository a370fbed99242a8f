import { describe, expect, it } from "vitest";
import { applySplice, spliceOf } from "./splice";

describe("spliceOf", () => {
  it("finds an insertion at the caret among repeated letters", () => {
    // "aa" → "aaa" with the caret after the first new "a" (position 1).
    expect(spliceOf("aa", "aaa", 1)).toEqual({ pos: 0, del: 0, ins: "a" });
    expect(spliceOf("aa", "aaa", 2)).toEqual({ pos: 1, del: 0, ins: "a" });
    expect(spliceOf("aa", "aaa", 3)).toEqual({ pos: 2, del: 0, ins: "a" });
  });

  it("finds typing at the start, in the middle and at the end", () => {
    expect(spliceOf("Monitoring Officer", "BROCK Monitoring Officer", 6)).toEqual({ pos: 0, del: 0, ins: "BROCK " });
    expect(spliceOf("Monitoring Officer", "Monitoring Officer ASHBY", 24)).toEqual({ pos: 18, del: 0, ins: " ASHBY" });
    expect(spliceOf("abcd", "abXcd", 3)).toEqual({ pos: 2, del: 0, ins: "X" });
  });

  it("finds deletions and replacements of a selection", () => {
    expect(spliceOf("abcdef", "abef", 2)).toEqual({ pos: 2, del: 2, ins: "" });
    expect(spliceOf("abcdef", "abXYef", 4)).toEqual({ pos: 2, del: 2, ins: "XY" });
    expect(spliceOf("aaaa", "aa", 1)).toEqual({ pos: 1, del: 2, ins: "" });
    expect(spliceOf("same", "same", 2)).toBeNull();
  });

  it("round-trips: applying the splice to the old text gives the new one", () => {
    const cases: [string, string, number][] = [
      ["", "x", 1],
      ["hello", "", 0],
      ["hello world", "hello brave world", 12],
      ["mississippi", "missisippi", 5],
      ["abc", "xyz", 3],
    ];
    for (const [old, now, caret] of cases) {
      const s = spliceOf(old, now, caret);
      expect(s && applySplice(old, s)).toBe(now);
    }
  });
});
