// End-to-end tests of the browser client in Debian's Chromium, driven by playwright-core,
// against a running Concordat (its URL is the first argument; tests/tests/e2e/browser.rs starts
// one on a fresh database with the demo workspace and runs this script).
// Screenshots of each main screen go to web/e2e/artifacts/.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const base = process.argv[2];
if (!base) throw new Error("usage: node e2e/run.mjs <server url>");
const artifacts = new URL("./artifacts/", import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });
for (const f of readdirSync(artifacts)) if (f.startsWith("failed-")) rmSync(artifacts + f);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const PASSWORD = "concordat-demo";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const results = [];
/** Pages to photograph when a step fails. */
const pages = {};
async function step(name, f) {
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
async function signIn(email, viewport = { width: 1280, height: 800 }, prepare = async () => {}) {
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

async function open(page, title) {
  await page.goto(base + "/#/");
  await page.getByRole("link", { name: title }).click();
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
  await page.getByText("Opening the live document…").waitFor({ state: "detached", timeout: 15000 });
}

/** axe-core on the current screen: no serious or critical WCAG 2.2 A/AA violations. */
async function accessible(page, screen) {
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
async function hasValue(page, label, value, timeout = 5000) {
  await page.waitForFunction(
    ([l, v]) => document.querySelector(`[aria-label="${l}"]`)?.value === v,
    [label, value],
    { timeout },
  );
}

/** Waits until the page's text selection is exactly `text`. */
async function selected(page, text) {
  await page.waitForFunction((t) => window.getSelection()?.toString() === t, text, { timeout: 3000 }).catch(async () => {
    throw new Error(`selection is ${JSON.stringify(await page.evaluate(() => window.getSelection()?.toString()))}, not ${JSON.stringify(text)}`);
  });
}

async function shot(page, name) {
  await page.screenshot({ path: `${artifacts}${name}.png`, fullPage: true });
}

const REGISTER = "Shared services partnership risk register";
const arun = await signIn("arun@ashby.gov.uk");
const ben = await signIn("ben@brockley.gov.uk");
pages.arun = arun.page;
pages.ben = ben.page;
for (const [who, p] of Object.entries(pages)) p.on("console", (m) => m.type() === "error" && console.log(`[${who} console] ${m.text()}`));

await step("home lists the council's documents and passes axe", async () => {
  await arun.page.getByRole("heading", { name: "Ashby Borough Council", exact: true }).waitFor();
  await arun.page.getByRole("link", { name: REGISTER }).waitFor();
  await shot(arun.page, "home");
  await accessible(arun.page, "home");
});

await step("two councils edit the same register and see each other's change", async () => {
  await open(arun.page, REGISTER);
  await open(ben.page, REGISTER);
  await shot(arun.page, "register");
  await accessible(arun.page, "register");
  const title = arun.page.getByLabel("Title of SP-01");
  await title.fill("A partner council withdraws — reviewed by Ashby");
  const seen = Date.now();
  await hasValue(ben.page, "Title of SP-01", "A partner council withdraws — reviewed by Ashby");
  console.log(`     Ashby's edit reached Brockley in ${Date.now() - seen} ms`);
  // Ashby is told (and a screen reader hears) that the server holds it; Brockley, who only
  // received it, is not.
  await arun.page.getByTestId("saved").getByText(/^Saved at \d\d:\d\d$/).waitFor({ timeout: 5000 });
  assert.equal(await ben.page.getByTestId("saved").innerText(), "");
  await ben.page.getByLabel("Owner of SP-02").fill("Director of Strategy (Brockley)");
  const back = Date.now();
  await hasValue(arun.page, "Owner of SP-02", "Director of Strategy (Brockley)");
  console.log(`     Brockley's edit reached Ashby in ${Date.now() - back} ms`);
});

await step("presence shows who else is on the document", async () => {
  await arun.page.getByLabel("Title of SP-03").focus();
  await ben.page.locator(".presence li").first().waitFor({ timeout: 8000 });
  const label = await ben.page.locator(".presence").innerText();
  assert.match(label, /Arun/);
  // …and which field: the one Arun is in is marked on Ben's screen.
  await ben.page.locator('[aria-label="Title of SP-03"].edited-by-other').waitFor({ timeout: 8000 });
  assert.match(await ben.page.getByLabel("Title of SP-03").getAttribute("title"), /Arun Shah \(Ashby\) editing/);
});

await step("presence shows full names, and someone leaving is gone from it within 2 s", async () => {
  assert.match(await ben.page.locator(".presence").innerText(), /Arun Shah \(Ashby\)/);
  await arun.page.getByRole("link", { name: "Home" }).first().click();
  const left = Date.now();
  await ben.page.waitForFunction(() => !document.querySelector(".presence")?.textContent?.includes("Arun"), null, { timeout: 2000 });
  console.log(`     Arun's leaving reached Brockley in ${Date.now() - left} ms`);
  await open(arun.page, REGISTER);
  await ben.page.locator(".presence", { hasText: "Arun Shah (Ashby)" }).waitFor({ timeout: 8000 });
});

await step("a refused change is shown and the document reloads", async () => {
  // An empty title breaks the register's schema: the server refuses the change.
  await ben.page.getByLabel("Title of SP-04").fill("");
  const banner = ben.page.getByTestId("refused");
  await banner.waitFor({ timeout: 8000 });
  assert.match(await banner.innerText(), /title/);
  await hasValue(ben.page, "Title of SP-04", "Staff morale falls after the restructure", 15000);
});

await step("both type into the same agreement clause and converge", async () => {
  await open(arun.page, "Inter-authority agreement");
  await open(ben.page, "Inter-authority agreement");
  await shot(arun.page, "agreement");
  await accessible(arun.page, "agreement");
  const a = arun.page.getByLabel("Text of 2. Purpose", { exact: true });
  const b = ben.page.getByLabel("Text of 2. Purpose", { exact: true });
  await a.click();
  await a.press("Control+End");
  await a.pressSequentially(" Ashby adds this.");
  const typed = Date.now();
  await ben.page.locator("#tx-cl-2", { hasText: "Ashby adds this." }).waitFor({ timeout: 5000 });
  console.log(`     Ashby's typing reached Brockley's clause in ${Date.now() - typed} ms`);
  await b.click();
  await b.press("Control+Home");
  await b.pressSequentially("Brockley adds this. ");
  // The clause's text without the others' caret labels drawn into it.
  const text = (page) =>
    page.evaluate(() => {
      const copy = document.querySelector("#tx-cl-2")?.cloneNode(true);
      copy?.querySelectorAll(".remote-caret").forEach((c) => c.remove());
      return copy?.textContent ?? "";
    });
  for (const page of [arun.page, ben.page]) {
    const deadline = Date.now() + 8000;
    let t = await text(page);
    while (!(t.includes("Ashby adds this.") && t.startsWith("Brockley adds this. ")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      t = await text(page);
    }
  }
  assert.equal(await text(arun.page), await text(ben.page));
});

await step("rich text: a word made bold reaches the other council; their caret is shown live", async () => {
  const a = arun.page.getByLabel("Text of 2. Purpose", { exact: true });
  // Select "this" at the end of Arun's sentence with the keyboard, then Ctrl+B.
  await a.press("Control+End");
  await a.press("ArrowLeft");
  for (let i = 0; i < 4; i++) await a.press("Shift+ArrowLeft");
  await selected(arun.page, "this");
  // The editor itself holds that selection (not only the page): its comment box names it.
  await arun.page.getByLabel("Comment on “this”").waitFor({ timeout: 3000 });
  await a.press("Control+b");
  // Bold in Arun's own editor first (if not, the keypress was lost, not the sync).
  await arun.page.locator("#tx-cl-2 strong", { hasText: "this" }).waitFor({ timeout: 3000 }).catch(async (e) => {
    console.log(`     Arun's clause: ${await arun.page.locator("#tx-cl-2").innerHTML()}`);
    throw e;
  });
  await ben.page.locator("#tx-cl-2 strong", { hasText: "this" }).waitFor({ timeout: 5000 });
  // A new paragraph (an automerge block marker) is accepted by the server and reaches Ben.
  await a.press("Control+End");
  await a.press("Enter");
  await a.pressSequentially("Schedule 1 lists the services.");
  await ben.page.locator("#tx-cl-2 p", { hasText: "Schedule 1 lists the services." }).waitFor({ timeout: 5000 });
  await ben.page.locator("#tx-cl-2.remote-change").waitFor({ timeout: 5000 });
  assert.equal(await arun.page.locator("#tx-cl-1.remote-change").count(), 0, "an untouched clause is not highlighted");
  assert.equal(await arun.page.getByTestId("refused").count(), 0);
  // Arun's caret, with his name, is drawn in Ben's copy of the clause.
  await ben.page.locator('#tx-cl-2 .remote-caret[data-name="Arun Shah (Ashby)"]').waitFor({ timeout: 8000 });
  await shot(ben.page, "agreement-cursors");
});

await step("a comment is anchored to selected words and highlighted for everyone", async () => {
  const b = ben.page.getByLabel("Text of 2. Purpose", { exact: true });
  await b.click();
  await b.press("Control+Home");
  for (let i = 0; i < 8; i++) await b.press("Shift+ArrowRight");
  await ben.page.getByLabel("Comment on “Brockley”").fill("Say which services.");
  await ben.page.getByRole("button", { name: "Add comment" }).nth(1).click();
  // Arun sees the comment with the words it is anchored to, and the words highlighted.
  const comments = arun.page.getByRole("list", { name: "Comments on 2. Purpose" });
  await comments.getByText("Say which services.").waitFor({ timeout: 5000 });
  assert.equal(await comments.locator("q.anchor-quote").first().innerText(), "Brockley");
  await arun.page.locator("#tx-cl-2 .anchored", { hasText: "Brockley" }).waitFor({ timeout: 5000 });
  // Resolved by Arun: Ben sees it resolved, and the words are no longer highlighted.
  await comments.getByRole("button", { name: "Resolve the comment by Ben Walsh (Brockley)" }).click();
  await ben.page.getByRole("list", { name: "Comments on 2. Purpose" }).getByText("(resolved)").waitFor({ timeout: 5000 });
  await ben.page.locator("#tx-cl-2 .anchored").waitFor({ state: "detached", timeout: 5000 });
});

await step("each council signs off a version in which every clause is agreed", async () => {
  for (const id of ["cl-4", "cl-5", "cl-6", "cl-12"]) {
    await arun.page.locator(`#st-${id}`).selectOption("agreed");
  }
  await ben.page.waitForFunction(() => document.querySelector("#st-cl-12")?.value === "agreed", null, { timeout: 5000 });
  await arun.page.getByLabel("Freeze as version").fill("For signature, 12 March");
  await arun.page.getByRole("button", { name: "Freeze" }).click();
  await arun.page.getByText("Version saved.").waitFor();
  await arun.page.getByLabel("Version to sign").selectOption({ label: "For signature, 12 March" });
  await arun.page.getByRole("button", { name: "Sign off for Ashby Borough Council" }).click();
  // Signing asks first, naming the version.
  await arun.page.getByText("Sign off “For signature, 12 March” for Ashby Borough Council?").waitFor();
  await arun.page.getByRole("button", { name: "Confirm sign-off" }).click();
  await arun.page.getByText("Signed off “For signature, 12 March” for Ashby Borough Council.").waitFor({ timeout: 5000 });
  // Brockley sees Ashby's sign-off arrive and signs the same version.
  const row = ben.page.getByTestId("sign-offs").getByRole("row", { name: /Ashby Borough Council/ });
  await row.getByText("For signature, 12 March").waitFor({ timeout: 5000 });
  await ben.page.getByLabel("Version to sign").selectOption({ label: "For signature, 12 March" });
  await ben.page.getByRole("button", { name: "Sign off for Brockley District Council" }).click();
  await ben.page.getByRole("button", { name: "Confirm sign-off" }).click();
  await arun.page.getByTestId("sign-offs").getByRole("row", { name: /Brockley District Council.*Ben Walsh/ }).waitFor({ timeout: 5000 });
  // Signing twice is refused with the server's reason.
  await ben.page.getByRole("button", { name: "Sign off for Brockley District Council" }).click();
  await ben.page.getByRole("button", { name: "Confirm sign-off" }).click();
  await ben.page.getByRole("status").filter({ hasText: "already signed this version" }).waitFor({ timeout: 5000 });
  await shot(arun.page, "agreement-sign-off");
  await accessible(arun.page, "agreement (signed)");
  // A clause edited after the signed version is marked as changed since it was signed.
  assert.equal(await ben.page.getByTestId("changed-cl-6").count(), 0);
  const clause = arun.page.getByLabel("Text of 6. Information governance", { exact: true });
  await clause.click();
  await clause.press("Control+End");
  await clause.pressSequentially(" Amended after signature.");
  await ben.page.getByTestId("changed-cl-6").getByText("since “For signature, 12 March” was signed off").waitFor({ timeout: 8000 });
  // A new clause is added, bound by its id.
  await arun.page.getByLabel("Add a clause").fill("13. Data protection");
  await arun.page.getByRole("button", { name: "Add clause" }).click();
  await ben.page.getByRole("heading", { level: 3, name: "13. Data protection" }).waitFor({ timeout: 8000 });
  assert.equal(await arun.page.getByTestId("refused").count(), 0);
  // Moved above clause 12 by Ashby: Brockley sees the new order, and clause 6's text is intact.
  await arun.page.getByRole("button", { name: "Move up 13. Data protection" }).click();
  const order = (page) => page.locator(".clause h3").allInnerTexts();
  const deadline = Date.now() + 8000;
  let seen = await order(ben.page);
  while (seen.indexOf("13. Data protection") > seen.indexOf("12. Withdrawal and termination") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    seen = await order(ben.page);
  }
  assert.equal(seen.indexOf("13. Data protection") + 1, seen.indexOf("12. Withdrawal and termination"), seen.join(" | "));
  assert.deepEqual(await order(arun.page), seen, "both screens agree on the order");
  assert.equal(await arun.page.getByTestId("refused").count(), 0);
  // A redline since the signed version: the words added to clause 6, and the new clause.
  await arun.page.getByLabel("What changed since").selectOption({ label: "For signature, 12 March" });
  await arun.page.getByRole("button", { name: "Show changes" }).click();
  const redline = arun.page.getByTestId("redline");
  const row6 = redline.getByRole("row", { name: /6\. Information governance/ });
  await row6.waitFor({ timeout: 8000 });
  assert.equal((await row6.locator("ins").allInnerTexts()).join("").trim(), "Amended after signature.");
  await redline.getByRole("row", { name: /13\. Data protection.*added/ }).waitFor();
  await accessible(arun.page, "agreement redline");
});

await step("an edit made offline converges after reconnecting", async () => {
  // A browser of Arun's whose sync socket this test can cut: the socket closes, and every
  // reconnection is refused until the network "returns" (the page itself stays loaded).
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  let offline = false;
  const sockets = [];
  await page.routeWebSocket(/\/sync/, (ws) => {
    if (offline) return ws.close();
    ws.connectToServer();
    sockets.push(ws);
  });
  await page.goto(base + "/");
  await page.getByLabel("Email address").fill("arun@ashby.gov.uk");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await open(page, REGISTER);
  await open(ben.page, REGISTER);
  offline = true;
  for (const ws of sockets.splice(0)) await ws.close();
  await page.getByTestId("connection").getByText("Offline").waitFor({ timeout: 15000 });
  // Ashby appends offline to a title nobody has edited in a browser (the demo wrote it)...
  await page.getByLabel("Title of SP-05").fill("A service falls between the partners (edited offline)");
  // ...while Brockley, online, types at its start.
  const online = ben.page.getByLabel("Title of SP-05");
  await online.click();
  await online.press("Home");
  await online.pressSequentially("Reviewed: ");
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(
    await ben.page.evaluate(() => document.querySelector('[aria-label="Title of SP-05"]')?.value),
    "Reviewed: A service falls between the partners",
    "nothing reached Brockley while Ashby was offline",
  );
  offline = false;
  await page.getByTestId("connection").getByText("Online").waitFor({ timeout: 20000 });
  // Both people's text survives, each where it was typed.
  const merged = "Reviewed: A service falls between the partners (edited offline)";
  await hasValue(ben.page, "Title of SP-05", merged, 20000);
  await hasValue(page, "Title of SP-05", merged, 20000);
  await context.close();
});

/** A signed-in browser whose sync socket delays every frame by `ms` each way (a slow link). */
function laggy(email, ms) {
  return signIn(email, undefined, (page) =>
    page.routeWebSocket(/\/sync/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => setTimeout(() => server.send(m), ms));
      server.onMessage((m) => setTimeout(() => ws.send(m), ms));
    }),
  );
}

await step("two people typing into one register cell at once keep both insertions", async () => {
  // 150 ms each way on both links: each person's keystrokes reach the other mid-word.
  const a = await laggy("arun@ashby.gov.uk", 150);
  const b = await laggy("ben@brockley.gov.uk", 150);
  try {
    await open(a.page, REGISTER);
    await open(b.page, REGISTER);
    const original = "Monitoring Officer";
    const label = "Owner of SP-06";
    await a.page.getByLabel(label).fill(original);
    await hasValue(b.page, label, original, 10000);
    const fa = a.page.getByLabel(label);
    const fb = b.page.getByLabel(label);
    await fa.click();
    await fa.press("End");
    await fb.click();
    await fb.press("Home");
    // At different places: Ashby at the end, Brockley at the start, at the same time.
    await Promise.all([fa.pressSequentially(" ASHBY", { delay: 40 }), fb.pressSequentially("BROCK ", { delay: 40 })]);
    const expected = "BROCK Monitoring Officer ASHBY";
    await hasValue(a.page, label, expected, 10000).catch(async (e) => {
      throw new Error(`Ashby sees ${JSON.stringify(await fa.inputValue())}, Brockley ${JSON.stringify(await fb.inputValue())}: ${e.message}`);
    });
    await hasValue(b.page, label, expected, 10000);
    // At the same place: both at the end at once. Each run of letters stays whole.
    await fa.press("End");
    await fb.press("End");
    await Promise.all([fa.pressSequentially(" (A)", { delay: 40 }), fb.pressSequentially(" (B)", { delay: 40 })]);
    const deadline = Date.now() + 10000;
    let [va, vb] = ["", ""];
    while (Date.now() < deadline) {
      [va, vb] = [await fa.inputValue(), await fb.inputValue()];
      if (va === vb && va.length === expected.length + 8) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(va, vb, "both screens agree");
    assert.ok(
      va === `${expected} (A) (B)` || va === `${expected} (B) (A)`,
      `both insertions whole: ${JSON.stringify(va)}`,
    );
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

/** In the page: whether this browser's IndexedDB holds the document the page shows. */
async function storedHere() {
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

await step("after a reload with no network the app opens the register from this browser's copy; edits sync on return", async () => {
  const { context, page } = await signIn("arun@ashby.gov.uk");
  try {
    await open(page, REGISTER);
    // The app shell's worker is in charge of the page once it is ready, and keeps what loads.
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await page.reload();
    await page.getByRole("heading", { level: 1, name: REGISTER }).waitFor({ timeout: 15000 });
    await page.getByText("Opening the live document…").waitFor({ state: "detached", timeout: 15000 });
    await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 5000 });
    // The browser's copy is written to IndexedDB a moment after the document arrives: going
    // offline before that is another case (a document never kept), so wait until it is kept.
    await page.waitForFunction(storedHere, null, { timeout: 10000 });
    await context.setOffline(true);
    await page.reload();
    await page.getByRole("heading", { level: 1, name: REGISTER }).waitFor({ timeout: 15000 });
    await page.getByText("Opening the live document…").waitFor({ state: "detached", timeout: 15000 });
    const title = page.getByLabel("Title of SP-09");
    const before = await title.inputValue();
    assert.ok(before.length > 0, "the register's content is there offline");
    await title.click();
    await title.press("End");
    await title.pressSequentially(" (checked offline)");
    await context.setOffline(false);
    await hasValue(ben.page, "Title of SP-09", `${before} (checked offline)`, 30000);
    await shot(page, "offline-reload");
  } finally {
    await context.close();
  }
});

await step("the meeting records a decision live and is frozen as a version", async () => {
  await open(arun.page, "Joint Governance Committee, 12 March");
  await open(ben.page, "Joint Governance Committee, 12 March");
  await arun.page.getByLabel("Record a decision").fill("The committee approved the re-based cost split.");
  await arun.page.getByRole("button", { name: "Record" }).click();
  await ben.page.getByTestId("decisions").getByText("The committee approved the re-based cost split.").waitFor({ timeout: 5000 });
  await arun.page.getByLabel("Freeze as version").fill("As agreed at Joint Governance Committee");
  await arun.page.getByRole("button", { name: "Freeze" }).click();
  await arun.page.getByText("Version saved.").waitFor();
  // An action recorded with a link to a risk of the register; another linked to a KPI after.
  await arun.page.getByLabel("Action", { exact: true }).fill("Brief both cabinets on the funding gap");
  await arun.page.getByLabel("Owner", { exact: true }).fill("Alice Adeyemi");
  await arun.page.getByLabel("Due", { exact: true }).fill("2027-01-15");
  await arun.page.getByLabel("Linked to").selectOption({ label: "Risk SP-07: One partner cannot fund its share" });
  await arun.page.getByRole("button", { name: "Add action" }).click();
  const row = ben.page.getByRole("row", { name: /Brief both cabinets/ });
  await row.getByRole("link", { name: "Risk SP-07: One partner cannot fund its share" }).waitFor({ timeout: 5000 });
  await arun.page.getByLabel("Link “Brief both cabinets on the funding gap” to a risk or KPI").selectOption({ label: "KPI: Average days to process new benefit claims" });
  await row.getByRole("link", { name: "KPI: Average days to process new benefit claims" }).waitFor({ timeout: 5000 });
  await shot(arun.page, "meeting");
  await accessible(arun.page, "meeting");
});

/** Waits until a checkbox is ticked (a change arriving from someone else). */
async function isChecked(locator, timeout = 8000) {
  const end = Date.now() + timeout;
  while (!(await locator.isChecked())) {
    if (Date.now() > end) throw new Error(`${locator} was never ticked`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Opens a risk's own page from the register. */
async function openRisk(page, reference, title) {
  await open(page, REGISTER);
  await page.getByRole("link", { name: reference, exact: true }).click();
  await page.getByRole("heading", { name: new RegExp(`${reference}: ${title}`) }).waitFor();
}

await step("a meeting's decisions, agenda and actions are edited there; a linked action shows on its risk's page", async () => {
  // (Both still on the meeting from the step before.)
  const row = (page) => page.locator('tr[data-action="Brief both cabinets on the funding gap"]');
  await row(ben.page).getByLabel(/^Status of action/).selectOption("in-progress");
  await arun.page.waitForFunction(
    () => document.querySelector('tr[data-action="Brief both cabinets on the funding gap"] select[aria-label^="Status of action"]')?.value === "in-progress",
    null,
    { timeout: 8000 },
  );
  const owner = row(arun.page).getByLabel(/^Owner of action/);
  await owner.fill("Alice Adeyemi and Ben Walsh");
  await hasValue(ben.page, await owner.getAttribute("aria-label"), "Alice Adeyemi and Ben Walsh", 8000);
  // A decision's wording corrected after the vote was recorded.
  const decisions = arun.page.getByTestId("decisions");
  const last = decisions.locator("textarea").last();
  await last.click();
  await last.press("Control+End");
  await last.pressSequentially(" (minute 7)");
  await ben.page.waitForFunction(() => [...document.querySelectorAll('[data-testid="decisions"] textarea')].some((t) => t.value.endsWith(" (minute 7)")), null, { timeout: 8000 });
  // An agenda item added during the meeting.
  await arun.page.getByLabel("Add an agenda item").fill("Any other business");
  await arun.page.getByLabel("Presenter", { exact: true }).fill("Chair");
  await arun.page.getByRole("button", { name: "Add item" }).click();
  await ben.page.waitForFunction(() => [...document.querySelectorAll('[data-testid="agenda"] input')].some((t) => t.value === "Any other business"), null, { timeout: 8000 });
  assert.equal(await arun.page.getByTestId("refused").count(), 0);
  await accessible(arun.page, "meeting (edited)");
  // The risk the action is linked to lists it, with its meeting and status.
  await openRisk(ben.page, "SP-07", "One partner cannot fund its share");
  const listed = ben.page.getByTestId("meeting-actions").locator("tr", { hasText: "Brief both cabinets on the funding gap" });
  await listed.waitFor({ timeout: 10000 });
  assert.match(await listed.innerText(), /In progress/);
  assert.match(await listed.innerText(), /Joint Governance Committee, 12 March/);
});

await step("the SLA shows the cost split and savings per council, in words as well as bars", async () => {
  await open(arun.page, "Revenues & benefits SLA 2026/27");
  const chart = arun.page.getByTestId("cost-chart").first();
  await chart.waitFor({ timeout: 8000 });
  assert.match(await chart.innerText(), /Estimate[\s\S]*Ashby Borough Council £[\d,]+ \(\d+\.\d%\)/);
  assert.match(await arun.page.getByTestId("savings-chart").innerText(), /Brockley District Council\s+£[\d,]+/);
  await arun.page.getByTestId("time-allocations").getByText("Ashby Borough Council").waitFor({ timeout: 5000 });
  assert.match(await arun.page.getByTestId("time-allocations").innerText(), /Director of Resources \(shared\)[\s\S]*Ashby Borough Council\s+60%\s+55%/);
  await shot(arun.page, "sla-costs");
  await accessible(arun.page, "sla (costs)");
});

await step("a risk's page records an assessment with its reason; the change report shows it", async () => {
  await open(arun.page, REGISTER);
  await arun.page.getByLabel("Freeze as version").fill("Before the quarterly review");
  await arun.page.getByRole("button", { name: "Freeze" }).click();
  await arun.page.getByText("Version saved.").waitFor();
  await arun.page.getByRole("link", { name: "SP-07" }).click();
  await arun.page.getByRole("heading", { name: /SP-07: One partner cannot fund its share/ }).waitFor();
  await arun.page.getByLabel("Likelihood", { exact: true }).selectOption("5");
  await arun.page.getByLabel("Impact", { exact: true }).selectOption("4");
  await arun.page.getByLabel("Reason for change").fill("Brockley cabinet rejected the savings plan");
  await arun.page.getByRole("button", { name: "Record assessment" }).click();
  await arun.page.getByRole("cell", { name: "Brockley cabinet rejected the savings plan" }).waitFor({ timeout: 5000 });
  await arun.page.getByTestId("audit").getByText("Brockley cabinet rejected the savings plan").first().waitFor({ timeout: 10000 });
  assert.match(await arun.page.getByTestId("audit").locator("tr", { hasText: "Brockley cabinet rejected" }).first().innerText(), /Arun Shah \(Ashby\), Ashby Borough Council/);
  await shot(arun.page, "risk");
  await accessible(arun.page, "risk");
  await arun.page.getByRole("link", { name: "← Back to the register" }).click();
  await arun.page.getByLabel("What changed since").selectOption({ label: "Before the quarterly review" });
  await arun.page.getByRole("button", { name: "Show changes" }).click();
  await arun.page.getByTestId("report").getByText("Brockley cabinet rejected the savings plan").waitFor({ timeout: 5000 });
  await shot(arun.page, "changes");
  // The heat map shows the move since that version: one cell down, one up.
  await arun.page.getByLabel("Movement since").selectOption({ label: "Before the quarterly review" });
  await arun.page.locator(".heatmap .was").nth(1).waitFor({ timeout: 5000 });
  const moves = await arun.page.locator(".heatmap .was").allInnerTexts();
  assert.deepEqual(moves.sort(), ["▲ was 0", "▼ was 1"]);
});

await step("a risk's details are edited on its page and reach the other council", async () => {
  await openRisk(arun.page, "SP-08", "ICT systems do not converge");
  await openRisk(ben.page, "SP-08", "ICT systems do not converge");
  const cause = arun.page.locator("#risk-cause");
  const before = await cause.inputValue();
  await cause.click();
  await cause.press("Control+End");
  await cause.pressSequentially(" Reviewed by Ashby.");
  await ben.page.waitForFunction((v) => document.querySelector("#risk-cause")?.value === v, before + " Reviewed by Ashby.", { timeout: 8000 });
  // The field's own history says who changed it, from what to what.
  const history = ben.page.locator(".field-history", { has: ben.page.getByText("History of Cause", { exact: false }) });
  await history.locator("summary").click({ timeout: 10000 });
  await history.getByText(/Arun Shah \(Ashby\) changed cause from .* to .*Reviewed by Ashby\./).waitFor({ timeout: 5000 });
  await arun.page.locator("#risk-response").selectOption("transfer");
  await arun.page.locator("#risk-escalation").selectOption("committee");
  await arun.page.locator("#risk-next-review").fill("2027-02-28");
  await arun.page.getByRole("group", { name: "Related risks" }).getByLabel(/SP-01:/).check();
  await arun.page.getByRole("group", { name: "Councils affected" }).getByLabel("Brockley District Council").check();
  await ben.page.waitForFunction(() => document.querySelector("#risk-response")?.value === "transfer", null, { timeout: 8000 });
  await ben.page.waitForFunction(() => document.querySelector("#risk-escalation")?.value === "committee", null, { timeout: 8000 });
  await ben.page.waitForFunction(() => document.querySelector("#risk-next-review")?.value === "2027-02-28", null, { timeout: 8000 });
  await isChecked(ben.page.getByRole("group", { name: "Related risks" }).getByLabel(/SP-01:/));
  await isChecked(ben.page.getByRole("group", { name: "Councils affected" }).getByLabel("Brockley District Council"));
  assert.equal(await arun.page.getByTestId("refused").count(), 0, "the server accepted every change");
  await shot(arun.page, "risk-details");
  await accessible(arun.page, "risk details");
});

await step("an action is added, reassigned, progressed and completed on a risk's page", async () => {
  await arun.page.locator("#na-title").fill("Agree a service map with both councils");
  await arun.page.locator("#na-owner").fill("Head of Shared Services");
  await arun.page.locator("#na-council").selectOption({ label: "Ashby Borough Council" });
  await arun.page.locator("#na-due").fill("2026-01-31");
  await arun.page.getByRole("button", { name: "Add action" }).click();
  const row = (page) => page.getByTestId("risk-actions").locator("tr", { has: page.getByLabel("Action: Agree a service map with both councils") });
  await row(ben.page).waitFor({ timeout: 8000 });
  // Past its due date and not done: marked overdue, in words.
  await row(ben.page).getByText("overdue").waitFor();
  await ben.page.getByLabel("Status of “Agree a service map with both councils”").selectOption("in-progress");
  await ben.page.getByLabel("Council doing “Agree a service map with both councils”").selectOption({ label: "Brockley District Council" });
  const owner = ben.page.getByLabel("Owner of “Agree a service map with both councils”");
  await owner.fill("Director of Place (Brockley)");
  await arun.page.waitForFunction(() => document.querySelector('[aria-label="Status of “Agree a service map with both councils”"]')?.value === "in-progress", null, { timeout: 8000 });
  await hasValue(arun.page, "Owner of “Agree a service map with both councils”", "Director of Place (Brockley)", 8000);
  await arun.page.getByLabel("Status of “Agree a service map with both councils”").selectOption("done");
  await row(ben.page).getByText("overdue").waitFor({ state: "detached", timeout: 8000 });
  assert.equal(await ben.page.getByTestId("refused").count(), 0);
  await accessible(ben.page, "risk actions");
});

await step("Add risk opens the new risk's page, where it is completed", async () => {
  await open(arun.page, REGISTER);
  await arun.page.getByRole("button", { name: "Add risk" }).click();
  await arun.page.locator("#risk-title").waitFor({ timeout: 8000 });
  const title = arun.page.locator("#risk-title");
  await title.fill("Shared ICT contract ends without a successor");
  await arun.page.locator("#risk-owner").fill("Head of ICT");
  await arun.page.locator("#risk-reference").fill("SP-11");
  await arun.page.locator("#risk-category").fill("Operational");
  await arun.page.locator("#risk-cause").click(); // leaves the category field: it is saved
  await arun.page.getByRole("link", { name: "← Back to the register" }).click();
  await ben.page.getByRole("link", { name: "← Back to the register" }).click();
  await hasValue(ben.page, "Title of SP-11", "Shared ICT contract ends without a successor", 8000);
  assert.equal(await arun.page.getByTestId("refused").count(), 0);
});

await step("a spreadsheet import shows its preview with per-row errors, then applies", async () => {
  await open(arun.page, REGISTER);
  const csv = "Reference,Risk title,Risk owner,Current Likelihood,Current Impact\n" +
    "SP-30,Shared fleet depot lease ends,Head of Environment,3,3\n" +
    "SP-31,Procurement challenge,Head of Procurement,9,2\n";
  await arun.page.getByLabel("Workbook or CSV").setInputFiles({ name: "register.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await arun.page.getByTestId("import-summary").getByText("1 to create, 0 to update, 0 unchanged, 1 with errors.").waitFor({ timeout: 5000 });
  assert.match(await arun.page.getByTestId("import-preview").innerText(), /Current Likelihood/);
  await shot(arun.page, "import-preview");
  await arun.page.getByRole("button", { name: "Apply import" }).click();
  await arun.page.getByText("Imported: 1 created, 0 updated, 1 rows skipped for errors.").waitFor({ timeout: 5000 });
  await ben.page.goto(base + "/#/");
  await open(ben.page, REGISTER);
  await hasValue(ben.page, "Title of SP-30", "Shared fleet depot lease ends");
});

await step("the guest sees only the SLA and may add a measurement", async () => {
  const grace = await signIn("grace@riverside.org.uk");
  await grace.page.getByRole("link", { name: "Revenues & benefits SLA 2026/27" }).waitFor();
  const links = await grace.page.locator("ul.doclist a").allInnerTexts();
  assert.deepEqual(links, ["Revenues & benefits SLA 2026/27"]);
  await open(grace.page, "Revenues & benefits SLA 2026/27");
  await shot(grace.page, "sla");
  await accessible(grace.page, "sla");
  await grace.page.getByRole("textbox", { name: "Period" }).fill("2030-01");
  await grace.page.getByRole("textbox", { name: "Actual" }).fill("21");
  await grace.page.getByRole("button", { name: "Add measurement" }).click();
  await grace.page.getByRole("row", { name: /Average days to process/ }).getByText("21 days (2030-01)").waitFor({ timeout: 5000 });
  await grace.context.close();
});

await step("the guest sees only the cost figures the partners share; sharing one reaches them live", async () => {
  const grace = await signIn("grace@riverside.org.uk");
  const alice = await signIn("alice@ashby.gov.uk");
  try {
    await open(grace.page, "Revenues & benefits SLA 2026/27");
    const theirs = grace.page.getByTestId("cost-lines");
    await theirs.getByText("Benefits take-up advice contract (Riverside)").waitFor({ timeout: 8000 });
    const seen = await grace.page.locator("main").innerText();
    for (const kept of ["Shared revenues and benefits team", "Revenues system licence", "Director of Resources", "Single management team"]) {
      assert.ok(!seen.includes(kept), `the guest sees ${kept}`);
    }
    await open(alice.page, "Revenues & benefits SLA 2026/27");
    const ours = alice.page.getByTestId("cost-lines");
    const licence = ours.getByRole("row", { name: /Revenues system licence/ });
    await licence.getByText("Partners only").waitFor({ timeout: 8000 });
    await alice.page.getByTestId("time-allocations").getByText("Partners only").waitFor();
    await licence.getByRole("button", { name: "Share “Revenues system licence” with guests" }).click();
    await licence.getByText("Guests will see “Revenues system licence” and keep what they have seen.").waitFor();
    await accessible(alice.page, "sla (share a figure)");
    await shot(alice.page, "sla-figures-share");
    await licence.getByRole("button", { name: "Share with guests", exact: true }).click();
    await ours.getByRole("row", { name: /Revenues system licence/ }).getByText("Partners and guests").waitFor({ timeout: 8000 });
    // On the guest's open screen, at once.
    await theirs.getByText("Revenues system licence").waitFor({ timeout: 8000 });
    // And kept from guests again: gone from their screen.
    await ours.getByRole("button", { name: "Keep “Revenues system licence” from guests" }).click();
    await theirs.getByText("Revenues system licence").waitFor({ state: "detached", timeout: 8000 });
    await ours.getByRole("row", { name: /Revenues system licence/ }).getByText("Partners only").waitFor({ timeout: 8000 });
    assert.equal(await ours.getByRole("row").count(), 4, "three lines and the heading: none lost or doubled");
  } finally {
    await grace.context.close();
    await alice.context.close();
  }
});

await step("the register's workbook downloads and the committee report opens, with the signed-in token", async () => {
  const { context, page } = await signIn("arun@ashby.gov.uk");
  try {
    await open(page, REGISTER);
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: 15000 }),
      page.getByRole("button", { name: "Export to Excel" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), `${REGISTER}.xlsx`);
    const bytes = readFileSync(await download.path());
    assert.equal(bytes.subarray(0, 2).toString(), "PK", "an XLSX (zip) file");
    const [report] = await Promise.all([
      context.waitForEvent("page", { timeout: 15000 }),
      page.getByRole("button", { name: "Committee report", exact: true }).click(),
    ]);
    await report.waitForLoadState();
    await report.getByText(REGISTER).first().waitFor({ timeout: 15000 });
  } finally {
    await context.close();
  }
});

await step("sharing lists grants by person; revoking asks first", async () => {
  const alice = await signIn("alice@ashby.gov.uk");
  try {
    await open(alice.page, "Revenues & benefits SLA 2026/27");
    const grants = alice.page.getByTestId("grants");
    const row = grants.getByRole("row", { name: /Grace/ });
    await row.waitFor({ timeout: 8000 });
    assert.match(await row.innerText(), /grace@riverside\.org\.uk/);
    assert.match(await row.innerText(), /Riverside Community Trust/);
    await row.getByRole("button", { name: /Revoke/ }).click();
    await row.getByText("Their open screens lose it at once.").waitFor();
    await accessible(alice.page, "sharing (confirm revoke)");
    await row.getByRole("button", { name: "Cancel" }).click();
    assert.match(await row.innerText(), /Until revoked|\d{4}/, "still live after cancelling");
  } finally {
    await alice.context.close();
  }
});

await step("a read-only user is offered no editing", async () => {
  // Alice (Ashby's administrator) invites a viewer to the register over the REST API.
  const post = async (path, body, token) => {
    const r = await fetch(base + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.ok, `${path}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
  const alice = (await post("/api/auth/login", { email: "alice@ashby.gov.uk", password: PASSWORD })).access_token;
  const docs = await (await fetch(base + "/api/documents", { headers: { authorization: `Bearer ${alice}` } })).json();
  const register = docs.items.find((d) => d.title === REGISTER);
  const orgs = await (await fetch(base + "/api/organisations", { headers: { authorization: `Bearer ${alice}` } })).json();
  const riverside = orgs.find((o) => o.name === "Riverside Community Trust");
  const invite = await post("/api/invitations", { email: "reader@riverside.org.uk", organisation_id: riverside.id, documents: [register.id], role: "viewer" }, alice);
  // The guest opens the link they were sent and accepts it in the browser.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(invite.link.replace(/^https?:\/\/[^/]+/, base));
  await page.getByLabel("Your name").fill("Rita Reader");
  await page.getByLabel("Password").fill("a long reader password");
  await page.getByRole("button", { name: "Accept invitation" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await open(page, REGISTER);
  await page.getByText("You can read this document.").waitFor();
  assert.equal(await page.getByLabel("Title of SP-01").getAttribute("readonly"), "");
  assert.equal(await page.getByRole("button", { name: "Add risk" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Freeze" }).count(), 0);
  await shot(page, "register-read-only");
  await context.close();
});

await step("the register table: columns chosen, sorted by a click, filtered per column; a heat-map cell lists its risks", async () => {
  const page = arun.page;
  await open(page, REGISTER);
  await page.getByText("Columns", { exact: true }).click();
  for (const c of ["Category", "Direction of travel", "Next review", "Open actions", "Target score"]) {
    await page.getByRole("group", { name: "Columns shown" }).getByLabel(c, { exact: true }).check();
  }
  const table = page.getByTestId("risk-table");
  await table.getByRole("columnheader", { name: "Direction of travel" }).waitFor();
  // Highest current score first after a click on its heading (a second click reverses it).
  await table.getByRole("button", { name: "Current score" }).click();
  assert.equal(await table.getByRole("columnheader", { name: /Current score/ }).getAttribute("aria-sort"), "descending");
  const scores = await table.locator('td[data-column="score"]').allInnerTexts();
  const values = scores.map((t) => Number(t.split("=")[1] ?? 0));
  assert.deepEqual(values, [...values].sort((a, b) => b - a), `sorted by score: ${scores.join(" | ")}`);
  // One column's filter.
  await page.getByLabel("Filter Owner", { exact: true }).fill("ICT (shared)");
  const refs = await table.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-risk")));
  assert.deepEqual(refs, ["SP-08"]);
  await page.getByLabel("Filter Owner", { exact: true }).fill("");
  // Cells are filled with their band's tint and texture: Low and Very high differ without colour.
  const fill = (band) =>
    page.evaluate((b) => {
      const td = document.querySelector(`.heatmap td[data-band="${b}"]`);
      const st = td ? getComputedStyle(td) : null;
      return st ? { image: st.backgroundImage, colour: st.backgroundColor } : null;
    }, band);
  const [low, veryHigh] = [await fill("low"), await fill("very-high")];
  assert.ok(low && veryHigh, "both bands are on the map");
  assert.notEqual(low.image, veryHigh.image, "different textures");
  assert.notEqual(veryHigh.image, "none");
  assert.notEqual(low.colour, "rgba(0, 0, 0, 0)");
  // A heat-map cell's count lists exactly its risks.
  const cellButton = page.locator(".heatmap button.count").first();
  const n = Number(await cellButton.innerText());
  await cellButton.click();
  await page.getByRole("status").filter({ hasText: "Showing the open risks whose current position" }).waitFor();
  assert.equal(await table.locator("tbody tr").count(), n);
  await shot(page, "register-columns");
  await accessible(page, "register (columns, filtered)");
  await page.getByRole("button", { name: "Show all risks" }).click();
  assert.ok((await table.locator("tbody tr").count()) > n);
});

await step("a wrong password says so; each page's heading takes the focus", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  await page.getByLabel("Email address").fill("arun@ashby.gov.uk");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "Email or password not recognised." }).waitFor({ timeout: 5000 });
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  const focused = () => page.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent}`);
  await open(page, REGISTER);
  await page.waitForFunction((t) => document.activeElement?.tagName === "H1" && document.activeElement.textContent === t, REGISTER, { timeout: 5000 }).catch(async (e) => {
    throw new Error(`focus is on ${await focused()}: ${e.message}`);
  });
  await page.getByRole("link", { name: "SP-03", exact: true }).click();
  await page.waitForFunction(() => document.activeElement?.tagName?.startsWith("H") && document.activeElement.textContent.includes("SP-03"), null, { timeout: 5000 }).catch(async (e) => {
    throw new Error(`focus is on ${await focused()}: ${e.message}`);
  });
  await context.close();
});

await step("a home card leads to the partnership's dashboard, whose lines lead to their documents", async () => {
  await arun.page.goto(base + "/#/");
  const card = arun.page.locator(".card").first();
  await card.getByRole("link", { name: /Open the dashboard/ }).click();
  await arun.page.getByTestId("totals").waitFor({ timeout: 8000 });
  assert.match(await arun.page.getByTestId("totals").innerText(), /open risks/);
  await arun.page.getByRole("table", { name: "Red risks" }).first().waitFor();
  await shot(arun.page, "partnership-dashboard");
  await accessible(arun.page, "partnership dashboard");
  // A red risk's reference opens its page.
  const first = arun.page.getByRole("table", { name: "Red risks" }).first().getByRole("link").first();
  const ref = await first.innerText();
  await first.click();
  await arun.page.getByRole("heading", { name: new RegExp(`^${ref}:`) }).waitFor({ timeout: 8000 });
});

await step("at tablet width the register still works", async () => {
  const tablet = await signIn("arun@ashby.gov.uk", { width: 820, height: 1180 });
  await open(tablet.page, REGISTER);
  await shot(tablet.page, "register-tablet");
  await accessible(tablet.page, "register (tablet)");
  await tablet.context.close();
});

await step("on a phone (390 px) no screen is wider than the phone, and each passes axe", async () => {
  const phone = await signIn("arun@ashby.gov.uk", { width: 390, height: 844 });
  const wide = async (name) => {
    const w = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= 391, `${name} is ${w} px wide on a 390 px phone`);
    await accessible(phone.page, `${name} (phone)`);
  };
  try {
    await wide("home");
    for (const title of [REGISTER, "Revenues & benefits SLA 2026/27", "Inter-authority agreement", "Joint Governance Committee, 12 March"]) {
      await open(phone.page, title);
      await wide(title);
    }
    await openRisk(phone.page, "SP-07", "One partner cannot fund its share");
    await wide("a risk's page");
    await shot(phone.page, "risk-phone");
    // The register's fields are usable: a title shows more than a couple of letters.
    await open(phone.page, REGISTER);
    const box = await phone.page.getByLabel("Title of SP-01").boundingBox();
    assert.ok(box && box.width >= 200, `a title field is ${box?.width} px wide`);
    await shot(phone.page, "register-phone");
  } finally {
    await phone.context.close();
  }
});

await step("keyboard only: sign in, find the register, edit a risk, go home, format a clause", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  pages.keyboard = page;
  const kb = page.keyboard;
  /** Presses Tab until the focused element matches, failing after `max` presses. */
  const tabTo = async (describe, { back = false, max = 250 } = {}) => {
    for (let i = 0; i < max; i++) {
      await kb.press(back ? "Shift+Tab" : "Tab");
      const here = await page.evaluate(() => {
        const e = document.activeElement;
        const style = e ? getComputedStyle(e) : null;
        return { text: `${e?.getAttribute("aria-label") ?? ""}|${e?.textContent?.trim() ?? ""}|${e?.id ?? ""}`, outline: style ? style.outlineStyle : "none" };
      });
      if (describe.test(here.text)) {
        assert.notEqual(here.outline, "none", `focus on ${here.text} is visible`);
        return;
      }
    }
    throw new Error(`Tab never reached ${describe}`);
  };
  await page.goto(base + "/");
  await tabTo(/\|email$/);
  await kb.type("ben@brockley.gov.uk");
  await kb.press("Tab");
  await kb.type(PASSWORD);
  await kb.press("Enter");
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await tabTo(new RegExp(`^\\|${REGISTER}\\|`));
  await kb.press("Enter");
  await page.getByText("Opening the live document…").waitFor({ state: "detached", timeout: 15000 });
  await tabTo(/^Owner of SP-06\|/);
  await kb.press("Control+a");
  await kb.type("Head of Shared Services (keyboard)");
  await open(arun.page, REGISTER);
  await hasValue(arun.page, "Owner of SP-06", "Head of Shared Services (keyboard)", 8000);
  // Back home by the breadcrumb, then into the agreement.
  await tabTo(/^\|Home\|/, { back: true });
  await kb.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Brockley District Council" }).waitFor();
  await tabTo(/^\|Inter-authority agreement\|/);
  await kb.press("Enter");
  await page.getByText("Opening the live document…").waitFor({ state: "detached", timeout: 15000 });
  await tabTo(/^Text of 3\. Governance\|/);
  await kb.press("Control+End");
  await kb.type(" Keyboard.");
  await page.locator("#tx-cl-3", { hasText: "finance. Keyboard." }).waitFor();
  for (let i = 0; i < 9; i++) await kb.press("Shift+ArrowLeft");
  await selected(page, "Keyboard.");
  await kb.press("Control+i");
  await page.locator("#tx-cl-3 em", { hasText: "Keyboard" }).waitFor({ timeout: 5000 });
  delete pages.keyboard;
  await context.close();
});

await browser.close();
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length} of ${results.length} browser scenarios passed`);
process.exit(failed.length ? 1 : 0);
