// End-to-end tests of the browser client in Debian's Chromium, driven by playwright-core,
// against a running Concordat (its URL is the first argument; tests/tests/e2e/browser.rs starts
// one on a fresh database with the demo workspace and runs this script). Scenarios run in
// order, one file after another, on the same two signed-in councils (`harness.mjs`).
// Screenshots of each main screen go to web/e2e/artifacts/.
import { browser, results } from "./harness.mjs";

// One after another: each file's scenarios continue from the state the previous ones left.
await import("./live.mjs");
await import("./documents.mjs");
await import("./screens.mjs");
await import("./sso.mjs");

await browser.close();
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length} of ${results.length} browser scenarios passed`);
process.exit(failed.length ? 1 : 0);
