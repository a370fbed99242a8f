import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { band, heatMap, latest, rag, standardMatrix } from "./rules";

/** The domain's own cases for the rules restated here (crates/domain/tests/display_rules.rs
 * holds the Rust rules to the same file). */
const shared = JSON.parse(readFileSync(new URL("../../../crates/domain/display-rules.json", import.meta.url), "utf8"));

const a = (id: string, riskId: string, kind: "current" | "inherent" | "target", l: number, i: number, date: string) => ({
  id, riskId, kind, likelihood: l, impact: i, date, assessor: "x", reason: "",
});

describe("rules", () => {
  it("pass the same cases as the server's rules", () => {
    for (const c of shared.rag) {
      expect(rag(c.polarity, c.target, c.tolerance, c.actual), JSON.stringify(c)).toBe(c.rag);
    }
    for (const c of shared.band.cases) {
      expect(band(shared.band.matrix, c.likelihood, c.impact)?.id ?? null, JSON.stringify(c)).toBe(c.band);
    }
    for (const c of shared.latest.cases) {
      expect(latest(shared.latest.assessments, c.risk, c.kind)?.id ?? null, JSON.stringify(c)).toBe(c.id);
    }
  });

  it("takes the latest assessment by date, later entry on the same day", () => {
    const list = [a("1", "r", "current", 2, 2, "2026-01-01"), a("2", "r", "current", 3, 3, "2026-02-01"), a("3", "r", "current", 4, 4, "2026-02-01"), a("4", "r", "target", 1, 1, "2026-03-01")];
    expect(latest(list, "r", "current")?.id).toBe("3");
    expect(latest(list, "r", "inherent")).toBeUndefined();
  });

  it("builds the matrix a council picks by size, as the server does", () => {
    for (const c of shared.standard) {
      expect(standardMatrix(c.size), `${c.size}×${c.size}`).toEqual(c.matrix);
    }
  });

  it("rates KPIs by polarity and tolerance, as the server does", () => {
    expect(rag("lower-is-better", 22, 2, 21)).toBe("green");
    expect(rag("lower-is-better", 22, 2, 23.5)).toBe("amber");
    expect(rag("lower-is-better", 22, 2, 24.2)).toBe("red");
    expect(rag("higher-is-better", 97.5, 0.5, 97.2)).toBe("amber");
    expect(rag("higher-is-better", 97.5, 0.5, 96.9)).toBe("red");
  });

  it("counts open risks per cell", () => {
    const matrix = {
      likelihood: [{ label: "1" }, { label: "2" }],
      impact: [{ label: "1" }, { label: "2" }],
      bands: [],
      cells: [["a", "a"], ["a", "a"]],
    };
    const risks = [{ id: "r", status: "open" }, { id: "s", status: "closed" }] as never[];
    const counts = heatMap(matrix, risks, [a("1", "r", "current", 2, 1, "2026-01-01"), a("2", "s", "current", 1, 1, "2026-01-01")], "current");
    expect(counts).toEqual([[0, 0], [1, 0]]);
  });
});
