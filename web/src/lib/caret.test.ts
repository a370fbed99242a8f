import { describe, expect, it } from "vitest";
import { transformCaret } from "./caret";

describe("caret across a remote edit", () => {
  const old = "The Councils agree.";
  it("stays put when text changes after it", () => {
    expect(transformCaret(old, "The Councils agree. Ashby adds this.", 4)).toBe(4);
  });
  it("moves with the text when text is inserted before it", () => {
    const now = "Brockley adds this. The Councils agree.";
    expect(transformCaret(old, now, 4)).toBe(4 + "Brockley adds this. ".length);
  });
  it("moves back when text before it is deleted", () => {
    expect(transformCaret(old, "Councils agree.", 10)).toBe(6);
  });
  it("goes to the end of a replaced stretch it was inside", () => {
    expect(transformCaret("abcdef", "abXYZef", 3)).toBe(5);
  });
});
