// What every browser scenario shares: Chromium, the running Concordat's URL (the first
// argument), the two councils' signed-in browsers, `step` (which records a scenario and
// photographs every open page when one fails) and the helpers the scenarios wait with.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

export const base = process.argv[2];
if (!base) throw new Error("usage: node e2e/run.mjs <server url>");
export const artifacts = new URL("./artifacts/", import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });
for (const f of readdirSync(artifacts)) if (f.startsWith("failed-")) rmSync(artifacts + f);
export const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
export const PASSWORD = "concordat-demo";
export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

export const results = [];
/** Pages to photograph when a step fails. */
export const pages = {};
export async function step(name, f) {
  const started = Date.now();
  try {
    await f();
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n${e.stack ?? e}`);
    for (const [who, p] of Object.entries(pages)) {
      await p.screenshot({ path: `${artifacts}failed-${results.length}-${who}.png`, fullPage: true }).catch(() => {});
    }
  }
}

/** A signed-in browser. `prepare` runs on the page before it loads (to route its socket). */
export async function signIn(email, viewport = { width: 1280, height: 800 }, prepare = async () => {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.log(`[${email}] page error: ${e.message}`));
  await prepare(page);
  await page.goto(base + "/");
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  return { context, page };
}

export async function open(page, title) {
  await page.goto(base + "/#/");
  await page.getByRole("link", { name: title }).click();
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
  await page.getByText("Opening the live document…").waitFor({ state: "detached", timeout: 15000 });
}

/** axe-core on the current screen: no serious or critical WCAG 2.2 A/AA violations. */
export async function accessible(page, screen) {
  // Evaluated, not injected as a <script>: the page's Content-Security-Policy stays on.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] } }),
  );
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")})`),
    [],
    `${screen}: accessibility violations`,
  );
}

/** Waits until the field labelled `label` holds `value` (its live value, not its attribute). */
export async function hasValue(page, label, value, timeout = 5000) {
  await page.waitForFunction(
    ([l, v]) => document.querySelector(`[aria-label="${l}"]`)?.value === v,
    [label, value],
    { timeout },
  );
}

/** Waits until the page's text selection is exactly `text`. */
export async function selected(page, text) {
  await page.waitForFunction((t) => window.getSelection()?.toString() === t, text, { timeout: 3000 }).catch(async () => {
    throw new Error(`selection is ${JSON.stringify(await page.evaluate(() => window.getSelection()?.toString()))}, not ${JSON.stringify(text)}`);
  });
}

export async function shot(page, name) {
  await page.screenshot({ path: `${artifacts}${name}.png`, fullPage: true });
}

export const REGISTER = "Shared services partnership risk register";
export const arun = await signIn("arun@ashby.gov.uk");
export const ben = await signIn("ben@brockley.gov.uk");
pages.arun = arun.page;
pages.ben = ben.page;
for (const [who, p] of Object.entries(pages)) p.on("console", (m) => m.type() === "error" && console.log(`[${who} console] ${m.text()}`));

/** A signed-in browser whose sync socket delays every frame by `ms` each way (a slow link). */
export function laggy(email, ms) {
  return signIn(email, undefined, (page) =>
    page.routeWebSocket(/\/sync/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => setTimeout(() => server.send(m), ms));
      server.onMessage((m) => setTimeout(() => ws.send(m), ms));
    }),
  );
}

/** In the page: whether this browser's IndexedDB holds the document the page shows. */
export async function storedHere() {
  const id = location.hash.split("/")[2];
  const name = (await indexedDB.databases()).map((d) => d.name).find((n) => n?.startsWith("concordat-"));
  if (!id || !name) return false;
  return new Promise((resolve) => {
    const req = indexedDB.open(name);
    req.onerror = () => resolve(false);
    req.onsuccess = () => {
      const db = req.result;
      try {
        const keys = db.transaction("documents", "readonly").objectStore("documents").getAllKeys();
        keys.onsuccess = () => {
          resolve(keys.result.some((k) => Array.isArray(k) && k[0] === id));
          db.close();
        };
        keys.onerror = () => resolve(false);
      } catch {
        resolve(false);
      }
    };
  });
}

/** Waits until a checkbox is ticked (a change arriving from someone else). */
export async function isChecked(locator, timeout = 8000) {
  const end = Date.now() + timeout;
  while (!(await locator.isChecked())) {
    if (Date.now() > end) throw new Error(`${locator} was never ticked`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Opens a risk's own page from the register. */
export async function openRisk(page, reference, title) {
  await open(page, REGISTER);
  await page.getByRole("link", { name: reference, exact: true }).click();
  await page.getByRole("heading", { name: new RegExp(`${reference}: ${title}`) }).waitFor();
}
