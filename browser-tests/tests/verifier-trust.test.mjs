// Browser test of the verifier page's trust list (issue 12, items 7–8): it
// refuses codes longer-lived than the list allows, and once a signing key
// is revoked (two national admins), it refuses that key's codes after its
// next refresh — also when it was offline meanwhile and comes back online.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, registerPerson, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;
let pid;

before(async () => {
  server = await startServer();
  browser = await launch();
  pid = await registerPerson(server, "E10000031", "赵小刚");
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/// Checks a token on the page and returns the result's validity and detail.
async function checkOnPage(page, token) {
  await page.evaluate(() => { document.getElementById("result").dataset.valid = ""; });
  await page.locator("#token").fill(token);
  await page.locator("#check").click();
  await page.waitForFunction(() => document.getElementById("result").dataset.valid !== "");
  return {
    valid: await page.evaluate(() => document.getElementById("result").dataset.valid),
    label: await page.locator("#result-label").textContent(),
    detail: await page.locator("#result-detail").textContent(),
  };
}

test("the verifier refuses a code living longer than the trust list allows, and every code on a list a day old", async () => {
  const code = await server.api(`/v1/persons/${pid}/code`, { key: server.keys["demo-admin"] });
  const { context, page } = await newPage(browser);
  await page.goto(`${server.base}/verify?lang=en`);
  await page.evaluate(() => window.ymtVerifierReady);
  const errors = await page.evaluate(async (token) => {
    const signed = await (await fetch("/v1/trust-list")).json();
    const document = JSON.parse(signed.payload);
    const now = Math.floor(Date.now() / 1000);
    const asServed = await YmtCose.verify(token, document, now);
    const shorter = await YmtCose.verify(token, { ...document, max_code_lifetime_secs: 60 }, now);
    return [asServed.valid, shorter.error && shorter.error.code];
  }, code.token);
  assert.deepEqual(errors, [true, "lifetime_too_long"]);

  // Offline for more than a day: the page passes no code at all.
  page.allowedErrors.push(/ERR_INTERNET_DISCONNECTED/);
  await context.setOffline(true);
  await page.clock.setFixedTime(new Date(Date.now() + 25 * 3600 * 1000));
  const stale = await checkOnPage(page, code.token);
  assert.equal(stale.valid, "false");
  assert.match(stale.detail, /trust_list_stale/);
  assert.match(stale.label, /out of date/);
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("a revoked key's codes are refused after the next refresh, also by a verifier that was offline", async () => {
  const code = await server.api(`/v1/persons/${pid}/code`, { key: server.keys["demo-admin"] });
  const { context, page } = await newPage(browser);
  await page.goto(`${server.base}/verify?lang=en`);
  await page.evaluate(() => window.ymtVerifierReady);
  assert.equal((await checkOnPage(page, code.token)).valid, "true");

  // Offline; meanwhile two national admins revoke the key that signed it.
  page.allowedErrors.push(/ERR_INTERNET_DISCONNECTED/);
  await context.setOffline(true);
  const report = await server.api("/v1/verify/token", { method: "POST", body: { token: code.token } });
  const proposed = await server.api("/v1/keys:revoke", { key: server.keys["demo-admin"], method: "POST",
    body: { kid: report.kid, reason: "found on a public server" } });
  assert.equal(proposed.status, "pending");
  await server.api(`/v1/pending/${proposed.pending.id}:approve`, { key: server.keys["demo-admin-2"], method: "POST", body: {} });

  // Still offline: the cached list cannot know yet.
  assert.equal((await checkOnPage(page, code.token)).valid, "true");

  // Back online, past the refresh interval: the page refetches and refuses.
  await context.setOffline(false);
  const later = Date.now() + 301 * 1000;
  await page.clock.setFixedTime(new Date(later));
  const refused = await checkOnPage(page, code.token);
  assert.equal(refused.valid, "false");
  assert.match(refused.detail, /key_revoked/);
  assert.match(refused.label, /revoked/i);
  await snap(page, "verify-revoked-key", "en");

  // The code re-issued under the new key passes (page clock back to now,
  // so the fresh 300 s code is current).
  await page.clock.setFixedTime(new Date());
  const fresh = await server.api(`/v1/persons/${pid}/code`, { key: server.keys["demo-admin"] });
  assert.notEqual(fresh.token, code.token);
  assert.equal((await checkOnPage(page, fresh.token)).valid, "true");
  assertNoConsoleErrors(assert, page);
  await context.close();
});
