// Single sign-on in the browser, against a real OpenID Connect provider (oidc-provider, started
// by tests/tests/e2e/browser.rs; its issuer in OIDC_ISSUER): an officer new to Concordat signs
// in through their council's own sign-in page and lands signed in with an account made for
// them; an answer that cannot be trusted (an ID token with another nonce) leaves them signed
// out, told why, on an accessible page.
import assert from "node:assert/strict";
import { accessible, base, browser, PASSWORD, signIn, step } from "./harness.mjs";

const issuer = process.env.OIDC_ISSUER;
const SECRET = "oidc-test-secret-0123456789abcdef";

async function api(path, init = {}, token) {
  const res = await fetch(base + path, {
    ...init,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function useClient(client) {
  const { body: login } = await api("/api/auth/login", { method: "POST", body: JSON.stringify({ email: "alice@ashby.gov.uk", password: PASSWORD }) });
  const org = login.user.org_id;
  const { status } = await api(
    `/api/platform/organisations/${org}/sso`,
    { method: "PUT", body: JSON.stringify({ issuer, client_id: client, client_secret: SECRET }) },
    login.access_token,
  );
  assert.equal(status, 200);
}

async function throughProvider(email) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  await page.getByLabel("Your work address").fill(email);
  await page.getByRole("button", { name: "Continue to your organisation's sign-in" }).click();
  // The provider's own sign-in page.
  await page.locator("input[name=login]").fill(email);
  await page.locator("input[name=password]").fill("anything");
  await page.locator("button[type=submit]").click();
  return { context, page };
}

if (issuer) {
  await step("single sign-on: the operator sets a council's provider; a new officer signs in through it", async () => {
    // The operator, in the administration screen.
    const alice = await signIn("alice@ashby.gov.uk");
    await alice.page.getByRole("link", { name: "Administration" }).click();
    const form = alice.page.getByRole("form", { name: "Single sign-on" });
    await form.getByLabel("Single sign-on for").selectOption({ label: "Ashby Borough Council" });
    await form.getByLabel("Issuer (from the identity provider)").fill(issuer);
    await form.getByLabel("Client ID").fill("app");
    await form.getByLabel("Client secret").fill(SECRET);
    await form.getByRole("button", { name: "Set single sign-on" }).click();
    await alice.page.getByRole("status").filter({ hasText: "now signs in through" }).waitFor();
    await alice.context.close();

    const { context, page } = await throughProvider("sam.okafor@ashby.gov.uk");
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await page.getByText("Test sam.okafor").first().waitFor();
    assert.ok(!page.url().includes("code="), "no code left in the address bar");
    await page.getByRole("link", { name: "Shared services partnership risk register" }).waitFor();
    await context.close();
  });

  await step("single sign-on: an answer that cannot be trusted leaves the officer signed out, told why", async () => {
    await useClient("app-badnonce");
    const { context, page } = await throughProvider("tom.reyes@ashby.gov.uk");
    await page.getByRole("alert").filter({ hasText: "could not be trusted" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 0);
    await accessible(page, "sign-in-refused");
    await useClient("app");
    await context.close();
  });
} else {
  console.log("NOTICE: OIDC_ISSUER not set: single sign-on browser scenarios skipped");
}
