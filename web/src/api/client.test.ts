// A client generated from the server's OpenAPI document (openapi-fetch over schema.d.ts) must
// build the URLs the server answers: query parameters in the query string, path parameters in
// the path. (They were once declared as path parameters, and such clients built wrong URLs.)
import { describe, expect, it } from "vitest";
import createClient from "openapi-fetch";
import type { paths } from "./schema";

function capturing() {
  const urls: string[] = [];
  const client = createClient<paths>({
    baseUrl: "http://concordat.test",
    fetch: async (req: Request) => {
      urls.push(req.url);
      return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
    },
  });
  return { client, urls };
}

describe("a generated client", () => {
  it("sends listing filters, versions and the sync ticket as query parameters", async () => {
    const { client, urls } = capturing();
    await client.GET("/api/documents", { params: { query: { space_id: "0b9c…", kind: "sla", limit: 5 } } });
    await client.GET("/api/documents/{id}/content", { params: { path: { id: "doc-1" }, query: { version: "v-1" } } });
    await client.GET("/api/documents/{id}/changes", { params: { path: { id: "doc-1" }, query: { from: "v-1", to: "v-2" } } });
    await client.GET("/sync", { params: { query: { ticket: "t-1" } } });
    expect(urls.map((u) => decodeURIComponent(u.replace("http://concordat.test", "")))).toEqual([
      "/api/documents?space_id=0b9c…&kind=sla&limit=5",
      "/api/documents/doc-1/content?version=v-1",
      "/api/documents/doc-1/changes?from=v-1&to=v-2",
      "/sync?ticket=t-1",
    ]);
  });
});
