// Display rules the screens need live, between server round trips. The server's rules
// (crates/domain) stay the authority: dashboards and reports come from the REST API. Both are
// held to the same cases, crates/domain/display-rules.json.
import type { Schemas } from "../api/client";

type Matrix = Schemas["Matrix"];
type Band = Schemas["Band"];
type Assessment = Schemas["Assessment"];

export function band(matrix: Matrix, likelihood: number, impact: number): Band | undefined {
  const id = matrix.cells[likelihood - 1]?.[impact - 1];
  return matrix.bands.find((b) => b.id === id);
}

/** The latest assessment of a kind: by date, the later entry winning on the same day. */
export function latest(
  assessments: readonly Assessment[] | undefined,
  riskId: string,
  kind: Assessment["kind"],
): Assessment | undefined {
  let best: Assessment | undefined;
  let bestIndex = -1;
  (assessments ?? []).forEach((a, i) => {
    if (a.riskId !== riskId || a.kind !== kind) return;
    if (!best || a.date > best.date || (a.date === best.date && i > bestIndex)) {
      best = a;
      bestIndex = i;
    }
  });
  return best;
}

export type Rag = "red" | "amber" | "green";

/** RAG of a KPI's actual against its target, by polarity and amber tolerance. */
export function rag(
  polarity: "higher-is-better" | "lower-is-better",
  target: number,
  tolerance: number,
  actual: number,
): Rag {
  const shortfall = polarity === "higher-is-better" ? target - actual : actual - target;
  if (shortfall <= 0) return "green";
  // A tolerance entered as negative counts by its size, as the server reads it.
  return shortfall <= Math.abs(tolerance) ? "amber" : "red";
}

/** Open risks per cell of the matrix for one kind of assessment: counts[l-1][i-1]. */
export function heatMap(
  matrix: Matrix,
  risks: readonly Schemas["Risk"][],
  assessments: readonly Assessment[] | undefined,
  kind: Assessment["kind"],
): number[][] {
  const counts = matrix.likelihood.map(() => matrix.impact.map(() => 0));
  for (const r of risks) {
    if (r.status !== "open") continue;
    const a = latest(assessments, r.id, kind);
    if (a && counts[a.likelihood - 1]?.[a.impact - 1] !== undefined) counts[a.likelihood - 1][a.impact - 1]++;
  }
  return counts;
}

const LIKELIHOOD_WORDS: Record<number, string[]> = {
  3: ["Unlikely", "Possible", "Likely"],
  4: ["Unlikely", "Possible", "Likely", "Almost certain"],
  5: ["Rare", "Unlikely", "Possible", "Likely", "Almost certain"],
};
const IMPACT_WORDS: Record<number, string[]> = {
  3: ["Minor", "Moderate", "Major"],
  4: ["Minor", "Moderate", "Major", "Critical"],
  5: ["Negligible", "Minor", "Moderate", "Major", "Critical"],
};

/** The n×n matrix a council starts from (3, 4 or 5 levels), banded by the score's share of
 * the largest: the server's `Matrix::standard`, held to the same cases. */
export function standardMatrix(n: 3 | 4 | 5): Matrix {
  const level = (words: string[]) => words.map((label) => ({ label, descriptor: "" }));
  const bandOf = (f: number) => (f >= 0.6 ? "very-high" : f >= 0.35 ? "high" : f >= 0.15 ? "medium" : "low");
  return {
    likelihood: level(LIKELIHOOD_WORDS[n]),
    impact: level(IMPACT_WORDS[n]),
    bands: [
      { id: "low", label: "Low", colour: "#00703c", pattern: "none", rank: 1 },
      { id: "medium", label: "Medium", colour: "#ffdd00", pattern: "dots", rank: 2 },
      { id: "high", label: "High", colour: "#f47738", pattern: "hatch", rank: 3 },
      { id: "very-high", label: "Very high", colour: "#d4351c", pattern: "solid", rank: 4 },
    ],
    cells: Array.from({ length: n }, (_, l) => Array.from({ length: n }, (__, i) => bandOf(((l + 1) * (i + 1)) / (n * n)))),
  };
}
