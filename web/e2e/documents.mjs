// Each document's own screens: a meeting's decisions and actions, the SLA's figures, a risk's
// page, import, what a guest sees, and the downloads.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  base,
  step,
  signIn,
  open,
  accessible,
  hasValue,
  shot,
  REGISTER,
  arun,
  ben,
  isChecked,
  openRisk,
} from "./harness.mjs";

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

await step("a spreadsheet import shows its preview with per-row errors, ignored rows and flagged cells, then applies", async () => {
  await open(arun.page, REGISTER);
  const csv = "Reference,Risk title,Risk owner,Current Likelihood,Current Impact,Status\n" +
    "Operational risks,,,,,\n" +
    "SP-30,Shared fleet depot lease ends,Head of Environment,3,3,Escalated\n" +
    "SP-31,Procurement challenge,Head of Procurement,9,2,Open\n";
  await arun.page.getByLabel("Workbook or CSV").setInputFiles({ name: "register.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await arun.page.getByTestId("import-summary")
    .getByText("1 to create, 0 to update, 0 unchanged, 1 with errors, 1 ignored (not a risk), 1 cell flagged.").waitFor({ timeout: 5000 });
  const table = await arun.page.getByTestId("import-preview").innerText();
  assert.match(table, /Current Likelihood/);
  assert.match(table, /Not a risk \(section, spacer or note row\): Operational risks/);
  const flag = arun.page.getByTestId("import-warnings").locator("li[data-code=status-mapped]");
  assert.match(await flag.innerText(), /^F: "Status": "Escalated" is an escalation, not a status/);
  await shot(arun.page, "import-preview");
  // Each row's cells as they will be read, the flagged one marked in place.
  const flagged = arun.page.getByTestId("import-values").locator("td[data-code=status-mapped]");
  assert.match(await flagged.innerText(), /^Escalated\s+⚑ "Status": "Escalated" is an escalation/);
  // The officer corrects the mapping column by column: Status not imported, then back.
  const summary = arun.page.getByTestId("import-summary");
  await arun.page.getByText("Columns: how each is read").click();
  const statusColumn = arun.page.getByLabel("Column F (Status) is read as");
  await statusColumn.selectOption("ignore");
  await summary.getByText("1 with errors, 1 ignored (not a risk), 0 cells flagged.").waitFor({ timeout: 5000 });
  await accessible(arun.page, "import mapping");
  // Saved for next quarter's file: the same headings are read the same way again.
  await arun.page.getByRole("button", { name: "Save this mapping for next time" }).click();
  await arun.page.getByLabel("Workbook or CSV").setInputFiles({ name: "register-q2.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await arun.page.getByTestId("import-note").getByText("Read with the mapping saved for this register (1 column as saved).").waitFor({ timeout: 5000 });
  await summary.getByText("0 cells flagged.", { exact: false }).waitFor({ timeout: 5000 });
  await arun.page.getByText("Columns: how each is read").click();
  await arun.page.getByLabel("Column F (Status) is read as").selectOption("status");
  await summary.getByText("1 with errors, 1 ignored (not a risk), 1 cell flagged.").waitFor({ timeout: 5000 });
  await arun.page.getByRole("button", { name: "Save this mapping for next time" }).click();
  await arun.page.getByRole("button", { name: "Apply import" }).click();
  await arun.page.getByText("Imported: 1 created, 0 updated, 1 rows skipped for errors.").waitFor({ timeout: 5000 });
  await ben.page.goto(base + "/#/");
  await open(ben.page, REGISTER);
  await hasValue(ben.page, "Title of SP-30", "Shared fleet depot lease ends");
});

await step("a council named in a way Concordat does not know is asked about, then read as the officer says", async () => {
  await open(arun.page, REGISTER);
  const csv = "Reference,Risk title,Risk owner,Owning councils\n" +
    "SP-60,Legacy payroll contract,Head of HR,Ashby (old name)\n";
  await arun.page.getByLabel("Workbook or CSV").setInputFiles({ name: "old-names.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  const summary = arun.page.getByTestId("import-summary");
  await summary.getByText("0 to create, 0 to update, 0 unchanged, 1 with errors").waitFor({ timeout: 5000 });
  const ask = arun.page.getByTestId("import-councils");
  await ask.getByLabel("“Ashby (old name)” means").selectOption({ label: "Ashby Borough Council" });
  await summary.getByText("1 to create, 0 to update, 0 unchanged, 0 with errors").waitFor({ timeout: 5000 });
  await accessible(arun.page, "import councils");
});

await step("the council sets its own band for a cell of the matrix; the other council's heat map follows live", async () => {
  await open(arun.page, REGISTER);
  await open(ben.page, REGISTER);
  const cellOf = (page) => page.locator("table.heatmap").first().locator("tbody tr").nth(2).locator("td").nth(2);
  assert.equal(await cellOf(ben.page).getAttribute("data-band"), "high", "3 × 3 starts High");
  await arun.page.getByText("Matrix and bands").click();
  await accessible(arun.page, "matrix editor");
  await arun.page.getByLabel("Band of likelihood 3, impact 3").selectOption({ label: "Medium" });
  await ben.page.waitForFunction(
    () => document.querySelector("table.heatmap tbody tr:nth-child(3) td:nth-child(4)")?.getAttribute("data-band") === "medium",
    null,
    { timeout: 8000 },
  );
  await shot(arun.page, "matrix-editor");
  // A size that would leave assessments outside it is refused, and says why.
  await arun.page.getByRole("button", { name: "3×3" }).click();
  await arun.page.getByText(/outside a 3×3 matrix/).waitFor({ timeout: 5000 });
  // Back as it was, for the scenarios that follow.
  await arun.page.getByLabel("Band of likelihood 3, impact 3").selectOption({ label: "High" });
  await ben.page.waitForFunction(
    () => document.querySelector("table.heatmap tbody tr:nth-child(3) td:nth-child(4)")?.getAttribute("data-band") === "high",
    null,
    { timeout: 8000 },
  );
});

await step("an SLA's monthly KPI return imports: sheets recognised, \"n/a\" flagged in its cell, then applied", async () => {
  await open(arun.page, "Revenues & benefits SLA 2026/27");
  const csv =
    "KPI,Target,Amber threshold,Apr-26,May-26,Jun-26,Commentary\n" +
    "Calls answered within 60 seconds (%),≥ 80%,75%,78%,n/a,82%,Recovered after the new rota\n";
  await arun.page.getByLabel("Workbook or CSV").setInputFiles({ name: "kpis.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await arun.page.getByTestId("import-summary")
    .getByText("KPIs: 1 new, 0 changed; figures: 2 new, 0 changed; cost lines: 0 new, 0 changed; 0 with errors, 0 ignored, 1 cell flagged.")
    .waitFor({ timeout: 5000 });
  assert.match(await arun.page.getByTestId("import-sheets").innerText(), /Sheet “CSV”: KPIs \(headings on row 1\)/);
  const table = await arun.page.getByTestId("import-preview").innerText();
  assert.match(table, /2026-04: 78; 2026-06: 82/);
  const flag = arun.page.getByTestId("import-warnings").locator("li[data-code=no-figure]");
  assert.match(await flag.innerText(), /^E: "May-26": "n\/a" means no figure/);
  await accessible(arun.page, "sla import preview");
  await shot(arun.page, "sla-import-preview");
  // A column read otherwise: June's figures not imported, then the file chosen afresh.
  await arun.page.getByText("Columns of “CSV”: how each is read").click();
  await arun.page.getByLabel("Column F (Jun-26) of CSV is read as").selectOption("ignore");
  await arun.page.getByTestId("import-summary").getByText("figures: 1 new, 0 changed", { exact: false }).waitFor({ timeout: 5000 });
  await arun.page.getByLabel("Workbook or CSV").setInputFiles({ name: "kpis.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await arun.page.getByTestId("import-summary").getByText("figures: 2 new, 0 changed", { exact: false }).waitFor({ timeout: 5000 });
  await arun.page.getByRole("button", { name: "Apply import" }).click();
  await arun.page.getByText("Imported: 3 created, 0 updated, 0 rows skipped for errors.").waitFor({ timeout: 5000 });
  await arun.page.getByRole("row", { name: /Calls answered within 60 seconds/ }).first().waitFor({ timeout: 8000 });
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
