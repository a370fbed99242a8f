// The screens around the documents: sharing, read-only access, the register table, sign-in,
// the dashboard, tablet and phone widths, and the keyboard alone.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  base,
  PASSWORD,
  browser,
  pages,
  step,
  signIn,
  open,
  accessible,
  hasValue,
  selected,
  shot,
  REGISTER,
  arun,
  ben,
  openRisk,
} from "./harness.mjs";

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

await step("a wrong password says so; each page's heading takes the focus, unless the person moved it first", async () => {
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
  // A keyboard user who moves on before a slow page has drawn its heading keeps the focus
  // where they put it: the document's own answer is held back a second, they press Tab
  // meanwhile, and the heading that then arrives (inside the 2 s the app looks for it) must
  // not take the focus back, or their next key lands on it.
  await page.goto(base + "/#/");
  await page.getByRole("link", { name: REGISTER }).waitFor();
  await page.route(/\/api\/documents\/[^/?]+$/, async (route) => {
    await new Promise((r) => setTimeout(r, 1000));
    await route.continue();
  });
  await page.getByRole("link", { name: REGISTER }).click();
  await page.getByText("Loading…").first().waitFor({ timeout: 5000 });
  await page.keyboard.press("Tab");
  const mine = await focused();
  assert.ok(!mine.startsWith("BODY") && !mine.startsWith("H1"), `Tab moved the focus (${mine})`);
  await page.getByRole("heading", { level: 1, name: REGISTER }).waitFor({ timeout: 8000 });
  await page.waitForTimeout(500);
  assert.equal(await focused(), mine, "the heading took back the focus the person had moved");
  await page.unrouteAll();
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

await step("administration: a colleague added by one-time link chooses a password and is signed in; the operator creates a council and its administrator", async () => {
  const { context, page } = await signIn("alice@ashby.gov.uk");
  pages.alice = page;
  try {
    await page.getByRole("link", { name: "Administration" }).click();
    await page.getByRole("heading", { level: 1, name: "Administration" }).waitFor();
    await page.getByRole("table", { name: "Members of Ashby & Brockley Shared Services" }).getByRole("cell", { name: "Brockley District Council", exact: true }).waitFor();
    await accessible(page, "administration");
    await shot(page, "administration");
    // A colleague, by link.
    await page.getByLabel("Colleague's name").fill("Dana Cole");
    await page.getByLabel("Their email", { exact: true }).first().fill("dana@ashby.gov.uk");
    await page.getByRole("button", { name: "Add colleague" }).click();
    const link = await page.locator(".link-to-pass code").first().textContent();
    assert.match(link, /\/setup#token=/);
    await page.getByTestId("people").getByText("dana@ashby.gov.uk").waitFor();
    // An address outside Ashby's domain is refused, in words.
    await page.getByLabel("Colleague's name").fill("Mallory");
    await page.getByLabel("Their email", { exact: true }).first().fill("mallory@example.com");
    await page.getByRole("button", { name: "Add colleague" }).click();
    await page.getByRole("alert").filter({ hasText: "ashby.gov.uk" }).waitFor();
    // The other names partners' spreadsheets use for Ashby, read by every import after.
    await page.getByLabel("Other names, separated by commas").fill("Ashby (old name), ABDC");
    await page.getByRole("button", { name: "Save names" }).click();
    await page.getByText("Saved: spreadsheets naming “Ashby (old name)”, “ABDC” are read as your council.").waitFor({ timeout: 5000 });

    // Dana opens the link in her own browser.
    const dana = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const dp = await dana.newPage();
    pages.dana = dp;
    await dp.goto(link);
    await dp.getByRole("heading", { level: 1, name: "Set up your account" }).waitFor();
    await dp.getByText("dana@ashby.gov.uk").waitFor();
    await accessible(dp, "account set-up");
    await dp.getByLabel("New password").fill("password");
    await dp.getByRole("button", { name: "Save password and sign in" }).click();
    await dp.getByRole("alert").waitFor();
    await dp.getByLabel("New password").fill("marble otter kettle sunrise");
    await dp.getByRole("button", { name: "Save password and sign in" }).click();
    await dp.getByRole("button", { name: "Sign out" }).waitFor();
    await dp.locator(".who", { hasText: "Dana Cole" }).waitFor();
    // The link is spent.
    const again = await (await browser.newContext()).newPage();
    await again.goto(link);
    await again.getByRole("heading", { level: 1, name: "This link cannot be used" }).waitFor();
    await again.context().close();
    await dana.close();
    delete pages.dana;

    // Dana's account is disabled (she has left): she can no longer sign in; enabled again.
    await page.reload();
    await page.getByRole("button", { name: /^Disable Dana Cole/ }).click();
    await page.getByRole("group", { name: "Confirm disabling Dana Cole" }).getByRole("button", { name: "Yes, disable" }).click();
    await page.getByTestId("people").getByRole("row", { name: /Dana Cole/ }).getByText("Disabled").waitFor();
    const gone = await (await browser.newContext()).newPage();
    await gone.goto(base + "/");
    await gone.getByLabel("Email address").fill("dana@ashby.gov.uk");
    await gone.getByLabel("Password").fill("marble otter kettle sunrise");
    await gone.getByRole("button", { name: "Sign in" }).click();
    await gone.getByRole("alert").filter({ hasText: "not recognised" }).waitFor();
    await gone.context().close();
    await page.getByRole("button", { name: /^Enable Dana Cole/ }).click();
    await page.getByTestId("people").getByRole("row", { name: /Dana Cole/ }).getByText("Can sign in").waitFor();

    // The operator: a council with its domain, then its administrator.
    await page.getByLabel("New organisation's name").fill("Dunmore District Council");
    await page.getByLabel("Kind").selectOption("council");
    await page.getByLabel("Verified e-mail domains (comma-separated)").fill("dunmore.gov.uk");
    await page.getByRole("button", { name: "Create organisation" }).click();
    await page.getByTestId("organisations").getByText("dunmore.gov.uk").waitFor();
    await page.getByLabel("Administrator of").selectOption({ label: "Dunmore District Council" });
    await page.getByLabel("Their name").fill("Dev Rao");
    await page.getByLabel("Their email", { exact: true }).last().fill("dev.rao@dunmore.gov.uk");
    await page.getByRole("button", { name: "Create administrator" }).click();
    await page.locator(".link-to-pass", { hasText: "Dev Rao" }).waitFor();
    await accessible(page, "administration after the operator's work");
  } finally {
    delete pages.alice;
    await context.close();
  }
});

await step("a member who is not an administrator sees no administration", async () => {
  await arun.page.goto(base + "/#/");
  await arun.page.getByRole("heading", { level: 1 }).first().waitFor();
  assert.equal(await arun.page.getByRole("link", { name: "Administration" }).count(), 0);
});

await step("a member council leaves the partnership: asked first, its export downloads, its people lose the shared documents", async () => {
  const { context, page } = await signIn("bella@brockley.gov.uk");
  pages.bella = page;
  await page.getByRole("link", { name: "Administration" }).click();
  await page.getByRole("heading", { level: 2, name: "Partnerships your council is a member of" }).waitFor();
  await page.getByRole("button", { name: /^Leave Ashby & Brockley Shared Services/ }).click();
  const confirm = page.getByRole("group", { name: "Confirm leaving Ashby & Brockley Shared Services" });
  await confirm.getByText("recorded as a named version").waitFor();
  await accessible(page, "leaving a partnership (confirm)");
  await confirm.getByRole("button", { name: "Yes, leave and export" }).click();
  await page.getByRole("status").filter({ hasText: "has left Ashby & Brockley Shared Services" }).waitFor({ timeout: 20000 });
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("exits").getByRole("button", { name: /^Download export/ }).first().click(),
  ]);
  assert.match(download.suggestedFilename(), /^concordat-exit-.*\.zip$/);
  const bytes = readFileSync(await download.path());
  assert.equal(bytes.subarray(0, 2).toString(), "PK", "a ZIP");
  // Ben, of Brockley, no longer has the shared register.
  await ben.page.goto(base + "/#/");
  await ben.page.getByRole("link", { name: "Brockley exit planning register" }).waitFor();
  assert.equal(await ben.page.getByRole("link", { name: REGISTER }).count(), 0);
  delete pages.bella;
  await context.close();
});
