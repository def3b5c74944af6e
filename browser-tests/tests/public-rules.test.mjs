// Browser test of 规则公示 (/rules), without signing in: the national rules
// in plain language, a regional profile with each parameter beside its
// national bounds, the destination picker; after a new national publication
// (proposed by one national admin, approved by a second), its history entry
// and readable diff appear there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
  await server.api("/v1/profiles", { key: server.keys["demo-cdc-440305"], method: "POST", body: {
    kind: "parameter-profile", id: "profile-440305", region: "440305", ruleSet: "cn-national", version: "1.0.0",
    validFrom: "2022-06-28T00:00:00Z", parameters: { closeContactQuarantineDays: 5 }, reason: "南山区：密接隔离5天" } });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test("the public rules show the national rules and a regional profile with its bounds, then a new publication's history and diff", async () => {
  const { context, page } = await newPage(browser);
  await page.goto(`${server.base}/rules`);
  await page.locator("#national tr[data-rule]").first().waitFor();
  assert.ok(await page.locator("#national tr[data-rule]").count() > 5, "the national rules, rule by rule");
  assert.match(await page.locator("#national").textContent(), /红码/);
  const profile = page.locator("#profiles [data-profile='440305']");
  await profile.waitFor();
  const quarantine = profile.locator("tr[data-parameter=closeContactQuarantineDays]");
  assert.match(await quarantine.textContent(), /5 天/);
  assert.match(await quarantine.locator("[data-bounds]").textContent(), /5 – 7/);
  await page.locator("#destination").selectOption("440305");
  await page.locator("#destination-rules tr[data-rule]").first().waitFor();
  assert.equal(await page.locator("#console").count(), 0, "no console, no sign-in on this page");
  await snap(page, "public-rules", "zh-CN");
  await page.goto(`${server.base}/rules?lang=en`);
  await page.locator("#profiles [data-profile='440305']").waitFor();
  assert.match(await page.locator("#national").textContent(), /How it clears/);
  await snap(page, "public-rules", "en");

  // A new national version: proposed by one admin, held, approved by another.
  const current = await server.api("/v1/rule-sets/current", { key: server.keys["demo-admin"] });
  const next = { ...current, version: "1.0.1", rules: current.rules.filter((rule) => rule.id !== "CN-ANTIGEN-01") };
  next.parameters = { ...current.parameters, mediumRiskStayYellowDays: { ...current.parameters.mediumRiskStayYellowDays, default: 5 } };
  const proposed = await server.api("/v1/rule-sets", { key: server.keys["demo-admin"], method: "POST", body: next });
  assert.equal(proposed.status, "pending");
  await page.reload();
  await page.locator("#history article").first().waitFor();
  assert.equal(await page.locator("#history [data-version='1.0.1']").count(), 0, "a pending proposal is not published");
  await server.api(`/v1/pending/${proposed.pending.id}:approve`, { key: server.keys["demo-admin-2"], method: "POST" });
  await page.reload();
  const entry = page.locator("#history [data-version='1.0.1']");
  await entry.waitFor();
  assert.match(await entry.textContent(), /Approved by: demo-admin-2/);
  assert.match(await entry.textContent(), /CN-ANTIGEN-01/);
  assert.match(await entry.locator("tr[data-diff-parameter=mediumRiskStayYellowDays]").textContent(), /7 \(0 – 7\).*5 \(0 – 7\)/);
  assert.match(await page.locator("#national").textContent(), /1\.0\.1/);
  await snap(page, "public-rules-history", "en");
  await page.goto(`${server.base}/rules?lang=zh-CN`);
  await page.locator("#history [data-version='1.0.1']").waitFor();
  assert.match(await page.locator("#history [data-version='1.0.1']").textContent(), /批准者: demo-admin-2/);
  await snap(page, "public-rules-history", "zh-CN");
  assertNoConsoleErrors(assert, page);
  await context.close();
});
