// Browser test of a designation in the console: the health authority's
// request is previewed first (persons reached, counts by color change, "N of
// M") and nothing applies until it confirms; after confirming, the person
// who stayed there turns yellow; the designation is then lifted early from
// the table, with a reason.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, registerPerson, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;
const VISITOR = { id: "E20000011", name: "王访客" };
// A venue of its own community, so a designation of it applies at once.
const VENUE = { id: "V440305004009-TEST11", region: "440305004009" };
const iso = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
// The value of a datetime-local input in the context's time zone (Asia/Shanghai).
const localInput = (ms) => new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 16);
const verifierKey = () => server.keys["demo-verifier-440305"];
const colorOf = async (pid) => (await server.api(`/v1/persons/${pid}/status`, { key: verifierKey() })).color;

before(async () => {
  server = await startServer();
  browser = await launch();
  VISITOR.pid = await registerPerson(server, VISITOR.id, VISITOR.name);
  await server.api("/v1/venues", { key: server.keys["demo-cdc-440305"], method: "POST", body: {
    id: VENUE.id, name: "南山预览测试场所", region: VENUE.region, category: "market", indoor: true } });
  const now = Date.now();
  await server.api("/v1/events", { key: verifierKey(), method: "POST", body: {
    id: `ci-preview-${now}`, subject: { pid: VISITOR.pid }, region: "440305", kind: "check_in",
    data: { venue: VENUE.id, entered_at: iso(now - 3 * 3600 * 1000), left_at: iso(now - 2 * 3600 * 1000) } } });
  assert.equal(await colorOf(VISITOR.pid), "green", "the visitor starts green");
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function consoleSignIn(page, key, lang) {
  await page.goto(`${server.base}/console?lang=${lang}`);
  await page.locator("#api-key").fill(key);
  await page.locator("#api-key").press("Enter");
  await page.locator("#console").waitFor({ state: "visible" });
}

async function fillDesignation(page, reason) {
  const form = page.locator("#risk-form");
  assert.equal(await form.locator("#risk-from").inputValue(), "", "no silent default window");
  await form.locator("#risk-venues").fill(VENUE.id);
  await form.locator("#risk-level").selectOption("high");
  await form.locator("#risk-from").fill(localInput(Date.now() - 2 * 86400000));
  await form.locator("#risk-until").fill(localInput(Date.now() + 2 * 86400000));
  await form.locator("#risk-reason").fill(reason);
  await form.locator("#risk-reason").press("Enter");
  const preview = page.locator("#risk-result [data-preview]");
  await preview.waitFor();
  return preview;
}

test("a designation shows its preview before it applies, and can be lifted", async () => {
  // English first: preview, then cancel; nothing applied.
  const en = await newPage(browser, { viewport: { width: 1280, height: 800 }, locale: "en" });
  await consoleSignIn(en.page, server.keys["demo-cdc-440305"], "en");
  let preview = await fillDesignation(en.page, "browser test: one venue");
  assert.match(await preview.textContent(), /nothing is applied until you confirm/);
  assert.match(await preview.textContent(), /Persons reached: 1/);
  assert.match(await preview.textContent(), /Green → Yellow: 1/);
  const population = Number(await preview.locator("[data-population]").getAttribute("data-population"));
  assert.ok(population >= 60, `the preview counts the node's persons (${population})`);
  assert.match(await preview.textContent(), new RegExp(`1 of ${population} persons would change color`));
  await snap(en.page, "console-designation-preview", "en");
  assert.equal(await colorOf(VISITOR.pid), "green", "a preview applies nothing");
  await en.page.locator("#risk-cancel").click();
  assert.equal(await en.page.locator("#risk-result [data-preview]").count(), 0);
  assertNoConsoleErrors(assert, en.page);
  await en.context.close();

  // Chinese, on a phone: preview, confirm, applied.
  const zh = await newPage(browser);
  await consoleSignIn(zh.page, server.keys["demo-cdc-440305"], "zh-CN");
  preview = await fillDesignation(zh.page, "浏览器测试：单个场所");
  assert.match(await preview.textContent(), /确认前不会生效/);
  assert.match(await preview.textContent(), /绿码 → 黄码: 1/);
  await snap(zh.page, "console-designation-preview", "zh-CN");
  assert.equal(await colorOf(VISITOR.pid), "green", "still nothing applied before the confirmation");
  await zh.page.locator("#risk-confirm").click();
  const applied = zh.page.locator("#risk-result [data-status=applied]");
  await applied.waitFor();
  assert.match(await applied.textContent(), /已生效/);
  assert.equal(await colorOf(VISITOR.pid), "yellow", "applied once confirmed");

  // Lifted early from the table, with a reason.
  const row = zh.page.locator("#risk-areas tr[data-status=in_force]").filter({ hasText: VENUE.id });
  await row.waitFor();
  await row.locator("button[data-lift]").click();
  await row.locator("input").fill("浏览器测试：提前解除");
  await row.locator("button[data-lift-confirm]").click();
  const lifted = zh.page.locator("#risk-result [data-lift-status=applied]");
  await lifted.waitFor();
  assert.match(await lifted.textContent(), /已解除/);
  const liftedRow = zh.page.locator("#risk-areas tr[data-status=lifted]").filter({ hasText: VENUE.id });
  await liftedRow.waitFor();
  assert.match(await liftedRow.textContent(), /浏览器测试：提前解除/);
  assert.equal(await liftedRow.locator("button[data-lift]").count(), 0, "a lifted area offers no second lift");
  await snap(zh.page, "console-designation-lifted", "zh-CN");
  await zh.page.goto(`${server.base}/console?lang=en`);
  await zh.page.locator("#risk-areas tr[data-status=lifted]").first().waitFor();
  assert.match(await zh.page.locator("#risk-areas").textContent(), /Lifted/);
  await snap(zh.page, "console-designation-lifted", "en");
  assertNoConsoleErrors(assert, zh.page);
  await zh.context.close();

  const listed = await server.api("/v1/risk-areas", { key: verifierKey() });
  const area = listed.risk_areas.find((record) => (record.request.venues || []).includes(VENUE.id));
  assert.equal(area.status, "lifted");
  assert.equal(area.lifted.reason, "浏览器测试：提前解除");
});
