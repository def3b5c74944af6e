// Browser test of the risk-area panel: the 440305 health authority
// designates the whole county, which is larger than one community and so is
// held for national approval with an impact preview; a national admin (not
// the proposer) approves it in the pending list; the API then lists the area
// in force and a person who stayed at a venue inside it has turned yellow.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, registerPerson, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;
const VISITOR = { id: "E20000001", name: "李访客" };
// A venue of the demo city; registering it lets the county designation
// find the demo's check-ins there as well as the visitor's.
const VENUE = { id: "V440305004009-TEST01", region: "440305004009" };
// The value of a datetime-local input, in the page's time zone (the
// context runs in Asia/Shanghai).
const localInput = (ms) => new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 16);
const iso = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

before(async () => {
  server = await startServer();
  browser = await launch();
  VISITOR.pid = await registerPerson(server, VISITOR.id, VISITOR.name);
  await server.api("/v1/venues", { key: server.keys["demo-cdc-440305"], method: "POST", body: {
    id: VENUE.id, name: "南山测试场所", region: VENUE.region, category: "market", indoor: true } });
  const now = Date.now();
  await server.api("/v1/events", { key: server.keys["demo-verifier-440305"], method: "POST", body: {
    id: `ci-risk-${now}`, subject: { pid: VISITOR.pid }, region: "440305", kind: "check_in",
    data: { venue: VENUE.id, entered_at: iso(now - 3 * 3600 * 1000), left_at: iso(now - 2 * 3600 * 1000) } } });
  const status = await server.api(`/v1/persons/${VISITOR.pid}/status`, { key: server.keys["demo-verifier-440305"] });
  assert.equal(status.color, "green", "the visitor starts green");
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function consoleSignIn(page, key, lang) {
  await page.goto(`${server.base}/console?lang=${lang}`);
  await page.locator("#api-key").focus();
  await page.keyboard.type(key);
  await page.keyboard.press("Enter");
  await page.locator("#console").waitFor({ state: "visible" });
}

test("a county-wide risk area is held, approved by a national admin, and applied", async () => {
  // The health authority proposes.
  const authority = await newPage(browser);
  await consoleSignIn(authority.page, server.keys["demo-cdc-440305"], "zh-CN");
  const form = authority.page.locator("#risk-form");
  assert.equal(await form.locator("#risk-from").inputValue(), "", "the window has no default");
  assert.equal(await form.locator("#risk-until").inputValue(), "");
  await form.locator("#risk-region").fill("440305");
  await form.locator("#risk-level").selectOption("high");
  await form.locator("#risk-from").fill(localInput(Date.now() - 14 * 86400000));
  await form.locator("#risk-until").fill(localInput(Date.now() + 86400000));
  await form.locator("#risk-reason").fill("浏览器测试：南山区全域");
  await form.locator("#risk-reason").press("Enter");
  // The preview comes first and says it would be held; confirming proposes.
  const preview = authority.page.locator("#risk-result [data-preview]");
  await preview.waitFor();
  assert.match(await preview.textContent(), /国家管理员审批/);
  await authority.page.locator("#risk-confirm").click();
  const held = authority.page.locator("#risk-result [data-status=pending]");
  await held.waitFor();
  assert.match(await held.textContent(), /国家管理员审批/);
  const pendingId = await held.getAttribute("data-pending-id");
  assert.match(pendingId, /^risk_area\./);
  const reached = Number(await held.locator("[data-reached]").textContent());
  const changing = Number(await held.locator("[data-changing]").textContent());
  assert.ok(reached >= 1, `the preview reaches the visitor (reached ${reached})`);
  assert.ok(changing >= 1, `the preview turns the visitor yellow (changing ${changing})`);
  assert.match(await held.textContent(), /绿码 → 黄码/);
  await authority.page.locator("#risk-areas tr[data-status=pending]").waitFor();
  // The proposer sees its own action but no buttons to decide it.
  const own = authority.page.locator(`#pending li[data-pending="${pendingId}"]`);
  await own.waitFor();
  assert.equal(await own.locator("button").count(), 0);
  await snap(authority.page, "console-risk-held", "zh-CN");
  await authority.page.goto(`${server.base}/console?lang=en`);
  await authority.page.locator(`#pending li[data-pending="${pendingId}"]`).waitFor();
  await snap(authority.page, "console-risk-held", "en");
  assertNoConsoleErrors(assert, authority.page);
  await authority.context.close();

  // A national admin approves.
  const admin = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await consoleSignIn(admin.page, server.keys["demo-admin"], "en");
  const item = admin.page.locator(`#pending li[data-pending="${pendingId}"]`);
  await item.waitFor();
  assert.match(await item.textContent(), /Persons reached: \d+/);
  assert.match(await item.textContent(), /demo-cdc-440305/);
  await item.locator("button[data-verb=approve]").focus();
  await admin.page.keyboard.press("Enter");
  const approved = admin.page.locator("#risk-result [data-status=approved]");
  await approved.waitFor();
  assert.match(await approved.textContent(), /Approved and applied/);
  const row = admin.page.locator("#risk-areas tr[data-status=in_force]").filter({ hasText: "440305" });
  await row.waitFor();
  assert.match(await row.textContent(), /In force/);
  assert.match(await row.textContent(), /High/);
  assert.equal(await admin.page.locator(`#pending li[data-pending="${pendingId}"]`).count(), 0, "no longer pending");
  await snap(admin.page, "console-risk-approved", "en");
  await admin.page.goto(`${server.base}/console?lang=zh-CN`);
  await admin.page.locator("#risk-areas tr[data-status=in_force]").waitFor();
  assert.match(await admin.page.locator("#risk-areas").textContent(), /生效中/);
  await snap(admin.page, "console-risk-approved", "zh-CN");
  assertNoConsoleErrors(assert, admin.page);
  await admin.context.close();

  // The API agrees: the area is in force and the visitor is yellow.
  const verifier = server.keys["demo-verifier-440305"];
  const listed = await server.api("/v1/risk-areas", { key: verifier });
  const area = listed.risk_areas.find((record) => record.request.region === "440305");
  assert.ok(area, "the county area is listed");
  assert.equal(area.status, "in_force");
  assert.equal(area.request.level, "high");
  const status = await server.api(`/v1/persons/${VISITOR.pid}/status`, { key: verifier });
  assert.equal(status.color, "yellow", "the visitor of a venue in the area turned yellow");
});
