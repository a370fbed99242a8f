// Live editing between the two councils: presence, typing into one field at once, rich text,
// comments, sign-off, offline edits and a reload with no network.

import assert from "node:assert/strict";
import {
  base,
  PASSWORD,
  browser,
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
  laggy,
  storedHere,
} from "./harness.mjs";

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

await step("a connection that outlived the ticket kept for its next one reconnects at the first try", async () => {
  // The ticket kept for the next connection is made to look expired, and not to work, as it
  // would after a connection longer than a ticket's minute. A drop then fetches a fresh one
  // before the adapter's retry (2 s later), which connects at once.
  let expireNext = false;
  const attempts = [];
  const sockets = [];
  const { context, page } = await signIn("arun@ashby.gov.uk", undefined, async (p) => {
    await p.route("**/api/sync/ticket", async (route) => {
      if (!expireNext) return route.continue();
      expireNext = false;
      const response = await route.fetch();
      const body = await response.json();
      await route.fulfill({ response, json: { ...body, ticket: "expired", expires_in: 1 } });
    });
    await p.routeWebSocket(/\/sync/, (ws) => {
      attempts.push(new URL(ws.url()).searchParams.get("ticket"));
      ws.connectToServer();
      sockets.push(ws);
    });
  });
  try {
    await open(page, REGISTER);
    const link = page.getByTestId("connection");
    const drop = async () => {
      for (const ws of sockets.splice(0)) await ws.close();
      await link.getByText("Offline").waitFor({ timeout: 10000 });
      await link.getByText("Online").waitFor({ timeout: 15000 });
    };
    // One drop with the next ticket spoiled as it is fetched (when the reconnection uses the
    // one kept before): the ticket kept now is the expired one.
    expireNext = true;
    await drop();
    assert.equal(expireNext, false, "the kept ticket was replaced by the expired one");
    const before = attempts.length;
    await drop();
    assert.deepEqual(
      attempts.slice(before).map((t) => (t === "expired" ? t : t === "spent" ? t : "fresh")),
      ["fresh"],
      "reconnected at the first try, with a fresh ticket",
    );
  } finally {
    await context.close();
  }
});

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
    // Control+End: the end of the whole text (End alone goes to the end of a wrapped line).
    await title.press("Control+End");
    await title.pressSequentially(" (checked offline)");
    let typed = `${before} (checked offline)`;
    assert.equal(await title.inputValue(), typed, "typed offline at the end of the title");
    // Reloaded a moment after a keystroke (40 ms, faster than anyone closes a tab), five times:
    // each keystroke is already in this browser's copy. (automerge-repo's default, writing at
    // most every 100 ms, lost the last one about half the time.)
    for (let i = 1; i <= 5; i++) {
      await title.click();
      await title.press("Control+End");
      await title.press(" ");
      await new Promise((r) => setTimeout(r, 20));
      await title.press(String(i));
      typed += ` ${i}`;
      await new Promise((r) => setTimeout(r, 40));
      await page.reload();
      await page.getByRole("heading", { level: 1, name: REGISTER }).waitFor({ timeout: 15000 });
      await page.getByText("Opening the live document…").waitFor({ state: "detached", timeout: 15000 });
      assert.equal(await title.inputValue(), typed, `reload ${i} straight after a keystroke kept it`);
    }
    await context.setOffline(false);
    // If it does not arrive, say what each side holds and what Arun's page says of its link.
    await hasValue(ben.page, "Title of SP-09", typed, 30000).catch(async (e) => {
      const [mine, theirs] = [await title.inputValue(), await ben.page.getByLabel("Title of SP-09").inputValue()];
      const link = await page.getByTestId("connection").innerText().catch(() => "?");
      const refused = await page.getByTestId("refused").count();
      throw new Error(`Arun has ${JSON.stringify(mine)} (${link.trim()}${refused ? ", a change refused" : ""}), Ben ${JSON.stringify(theirs)}: ${e.message}`);
    });
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
