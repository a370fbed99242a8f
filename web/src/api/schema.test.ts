// The client's types are generated from the server's OpenAPI document (src/api/openapi.json,
// itself checked against the server by tests/tests/e2e/web_types.rs): this fails if schema.d.ts
// was not regenerated after openapi.json changed (`npm run types`).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import openapiTS, { astToString } from "openapi-typescript";

describe("generated API types", () => {
  it("match openapi.json", async () => {
    const spec = JSON.parse(readFileSync(new URL("./openapi.json", import.meta.url), "utf8"));
    const generated = astToString(await openapiTS(spec));
    const committed = readFileSync(new URL("./schema.d.ts", import.meta.url), "utf8");
    const body = (s: string) => s.slice(s.indexOf("export "));
    expect(body(committed)).toBe(body(generated));
  }, 30_000);
});
