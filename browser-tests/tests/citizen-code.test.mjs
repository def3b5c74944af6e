// The citizen page (issue 13, items 7-12): the code in its color with a
// live clock, its text to copy and the summary beside it; dependents' tabs;
// elder mode; reasons in words; the color history and the notification of
// a change; appeals; reflow at 320 px and 200 % zoom.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, registerPerson, launch, newPage, assertNoConsoleErrors, snap, SHOTS } from "./helpers.mjs";

let server;
let browser;
const GUARDIAN = { id: "E20000001", name: "马建国" };
const SON = { id: "E20000002", name: "马丽" };
const DAUGHTER = { id: "E20000003", name: "马力" };
const WATCHED = { id: "E20000004", name: "陈静" };
const ELDER = { id: "E20000006", name: "马德明" };
const OVERRIDDEN = { id: "E20000005", name: "林海" };
const MODULE_RED = "#c62828";

const iso = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

async function postEvent(key, body) {
  return server.api("/v1/events", { key, method: "POST", body });
}

function testResult(id, person, result, hoursAgo = 1) {
  const sampled = Date.now() - hoursAgo * 3600 * 1000;
  return { id, subject: { id_type: "passport", id_number: person.id }, region: "440305", kind: "test_result",
    data: { test: "pcr", result, sampled_at: iso(sampled), reported_at: iso(sampled + 1800 * 1000), lab: "lab-440305-01" } };
}

before(async () => {
  server = await startServer();
  browser = await launch();
  SON.pid = await registerPerson(server, SON.id, SON.name);
  DAUGHTER.pid = await registerPerson(server, DAUGHTER.id, DAUGHTER.name);
  ELDER.pid = await registerPerson(server, ELDER.id, ELDER.name);
  // Two wards whose masked names are the same (马*), named as what they are
  // to the guardian.
  GUARDIAN.pid = (await server.api("/v1/persons", { key: server.keys["demo-admin"], method: "POST", body: {
    id_type: "passport", id_number: GUARDIAN.id, display_name: GUARDIAN.name, region: "440305",
    guardian_of: [SON.pid, DAUGHTER.pid, ELDER.pid], relationships: { [SON.pid]: "child", [DAUGHTER.pid]: "child", [ELDER.pid]: "parent" } } })).pid;
  for (const ward of [SON.pid, DAUGHTER.pid, ELDER.pid]) {
    await server.api("/v1/guardianships:confirm", { key: server.keys["demo-cdc-440305"], method: "POST", body: { guardian: GUARDIAN.pid, ward } });
  }
  WATCHED.pid = await registerPerson(server, WATCHED.id, WATCHED.name);
  OVERRIDDEN.pid = await registerPerson(server, OVERRIDDEN.id, OVERRIDDEN.name);
  const lab = server.keys["demo-lab-440305"];
  // The guardian: a negative test 20 h ago and two vaccine doses (the summary).
  await postEvent(lab, testResult("neg-guardian", GUARDIAN, "negative", 20));
  for (const dose of [1, 2]) {
    await postEvent(server.keys["demo-cdc-440305"], { id: `vac-${dose}`, subject: { pid: GUARDIAN.pid }, region: "440305",
      kind: "vaccination", data: { product: "CoronaVac", dose, administered_at: iso(Date.now() - (100 - dose * 30) * 86400 * 1000) } });
  }
  // A positive, then retracted: red for a while, in the history.
  await postEvent(lab, testResult("pos-guardian", GUARDIAN, "positive", 2));
  // The node records instants in whole seconds: the retraction must fall in
  // a later second than the positive for the red to have lasted at all.
  const answered = Date.now();
  while (Math.floor(Date.now() / 1000) <= Math.floor(answered / 1000)) await new Promise((r) => setTimeout(r, 50));
  await postEvent(server.keys["demo-cdc-440305"], { id: "retract-pos-guardian", subject: { pid: GUARDIAN.pid }, region: "440305", kind: "retraction",
    data: { target: "demo-lab-440305:pos-guardian", reason: "sample mix-up" } });
  // An override with its reason, by the city's authority.
  await postEvent(server.keys["demo-cdc-440305"], { id: "ov-lin", subject: { pid: OVERRIDDEN.pid }, region: "440305", kind: "override",
    data: { color: "yellow", reason: "返深人员居家健康监测", from: iso(Date.now() - 60000), until: iso(Date.now() + 86400000) } });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function signIn(page, person, lang) {
  await page.goto(`${server.base}/?lang=${lang}`);
  await page.locator("#sign-in").waitFor({ state: "visible" });
  await page.locator("#id-type").selectOption("passport");
  await page.locator("#id-number").fill(person.id);
  await page.locator("#otp").fill(server.demo_code);
  await page.locator("#otp").press("Enter");
  await page.locator("#code-view").waitFor({ state: "visible" });
  await page.locator("#qr svg").waitFor();
}

for (const lang of ["zh-CN", "en"]) {
  test(`the code: its color, a live clock, its text, the summary and the dependents' tabs (${lang})`, async () => {
    const { context, page } = await newPage(browser, { locale: lang });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
    await signIn(page, GUARDIAN, lang);
    // The summary beside the code.
    const summary = await page.locator("#code-summary").textContent();
    assert.match(summary, lang === "en" ? /Negative PCR test within 24 h/ : /24小时内核酸阴性/);
    assert.match(summary, lang === "en" ? /2 doses/ : /已接种 2 剂/);
    // The live clock moves (a screenshot does not).
    const first = await page.locator("#clock-time").textContent();
    await page.waitForFunction((shown) => document.getElementById("clock-time").textContent !== shown, first);
    // The code text, copied.
    const token = await page.locator("#code-text").inputValue();
    assert.match(token, /^YMT1:/);
    await page.locator("#code-text-box summary").click();
    await page.locator("#copy-code").click();
    await page.waitForFunction(() => /\S/.test(document.getElementById("copy-result").textContent));
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    // Two dependents with the same masked name get different tabs, each
    // naming the relationship and the name.
    const tabs = await page.locator("#people button").allTextContents();
    assert.equal(tabs.length, 4, tabs.join(" | "));
    assert.equal(new Set(tabs).size, 4, `distinct tabs: ${tabs.join(" | ")}`);
    assert.deepEqual(tabs.slice(1).sort(), lang === "en"
      ? ["Child · 马* (1)", "Child · 马* (2)", "Parent · 马*明"]
      : ["子女 · 马* (1)", "子女 · 马* (2)", "父母 · 马*明"]);
    // The history: the retracted positive's red, then green again.
    await page.locator("#history li[data-color='red']").waitFor();
    const history = await page.locator("#history").textContent();
    assert.match(history, lang === "en" ? /correction \(retraction\)/ : /更正（撤销）/);
    // The retracted positive stays in the recent list, marked.
    assert.equal(await page.locator("#recent li[data-retracted='true']").count(), 1);
    await snap(page, "citizen-code", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  });

  test(`reasons tell the whole story: an override's reason and author (${lang})`, async () => {
    const { context, page } = await newPage(browser, { locale: lang });
    await signIn(page, OVERRIDDEN, lang);
    await page.locator("#reasons [data-evidence='override']").waitFor();
    const reasons = await page.locator("#reasons").textContent();
    assert.match(reasons, /返深人员居家健康监测/);
    assert.match(reasons, /demo-cdc-440305/);
    assert.doesNotMatch(reasons, /ov-lin/, "not a bare event id");
    // The yellow code's modules are drawn in its color.
    assert.match((await page.locator("#qr").innerHTML()).toLowerCase(), /#8a6500/);
    await snap(page, "citizen-reasons", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  });
}

test("a test event posted through the API turns the open page's banner within 5 s, with a notification", async () => {
  const { context, page } = await newPage(browser);
  await context.grantPermissions(["notifications"], { origin: server.base });
  // Record notifications instead of showing them.
  await page.addInitScript(() => {
    window.shown = [];
    window.Notification = class { constructor(title, options) { window.shown.push(options.body); } static get permission() { return "granted"; } static requestPermission() { return Promise.resolve("granted"); } };
  });
  await signIn(page, WATCHED, "zh-CN");
  assert.match(await page.locator("#code-card").getAttribute("class"), /\bgreen\b/);
  await page.locator("#notify-enable").click();
  // Let the page learn the current color first.
  await page.waitForFunction(() => performance.getEntriesByType("resource").some((entry) => entry.name.endsWith("/color")));
  await postEvent(server.keys["demo-lab-440305"], testResult("pos-watched", WATCHED, "positive"));
  await page.locator("#color-change").waitFor({ state: "visible", timeout: 5000 });
  assert.match(await page.locator("#color-change").textContent(), /红码/);
  await page.waitForFunction(() => window.shown.length === 1);
  // The code follows.
  await page.waitForFunction(() => /\bred\b/.test(document.getElementById("code-card").className));
  assert.match((await page.locator("#qr").innerHTML()).toLowerCase(), new RegExp(MODULE_RED));
  await snap(page, "citizen-color-change", "zh-CN");
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("elder mode: large type, remembered across a reload", async () => {
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser, { locale: lang });
    await signIn(page, GUARDIAN, lang);
    await page.locator("#elder-toggle").click();
    await page.reload();
    await page.locator("#code-view").waitFor({ state: "visible" });
    assert.equal(await page.evaluate(() => document.body.classList.contains("elder")), true);
    assert.equal(await page.locator("#elder-toggle").getAttribute("aria-pressed"), "true");
    assert.equal(await page.locator("#history-panel").isVisible(), false, "simplified");
    const size = await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
    assert.ok(size >= 22, `large type: ${size}px`);
    await snap(page, "citizen-elder", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});

test("layout: at 320 px width and at 200 % zoom / does not scroll horizontally", async () => {
  // 200 % zoom of a 1280×800 window is a 640×400 CSS-pixel viewport at a
  // device scale of 2; 320 px is the narrowest phone.
  for (const [label, viewport, scale] of [["320px", { width: 320, height: 640 }, 1], ["zoom200", { width: 640, height: 400 }, 2]]) {
    for (const elder of [false, true]) {
      const context = await browser.newContext({ viewport, deviceScaleFactor: scale, locale: "zh-CN" });
      const page = await context.newPage();
      if (elder) await page.addInitScript(() => localStorage.setItem("ymt.elder", "1"));
      const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      await page.goto(`${server.base}/`);
      await page.locator("#sign-in").waitFor({ state: "visible" });
      assert.equal(await overflow(), 0, `${label} sign-in`);
      await signIn(page, GUARDIAN, "zh-CN");
      assert.equal(await overflow(), 0, `${label} code${elder ? " elder" : ""}`);
      // The QR stays inside its card.
      const [qr, card] = await Promise.all([page.locator("#qr").boundingBox(), page.locator("#code-card").boundingBox()]);
      assert.ok(qr.x >= card.x && qr.x + qr.width <= card.x + card.width + 0.5, `${label}: QR inside its card`);
      // The navigation does not fill the first screen.
      const header = await page.locator("header.bar").boundingBox();
      assert.ok(header.height < viewport.height / 3, `${label}: header ${header.height}px`);
      await page.screenshot({ path: join(SHOTS, `citizen-layout-${label}${elder ? "-elder" : ""}.png`), fullPage: true });
      await context.close();
    }
  }
});

test("appeals: an empty reason gets a message, a duplicate is refused, the outcome is shown", async () => {
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser, { locale: lang });
    await signIn(page, OVERRIDDEN, lang);
    await page.locator("#appeal").click();
    assert.match(await page.locator("#appeal-result").textContent(), lang === "en" ? /Write the reason/ : /请填写申诉理由/);
    const reason = `我已在外地完成隔离 ${lang}`;
    await page.locator("#appeal-text").fill(reason);
    await page.locator("#appeal").click();
    await page.waitForFunction(() => document.getElementById("appeal-result").dataset.outcome === "filed");
    await page.locator("#appeal-text").fill(reason);
    await page.locator("#appeal").click();
    await page.waitForFunction(() => document.getElementById("appeal-result").dataset.outcome === "duplicate");
    assert.match(await page.locator("#appeal-result").textContent(), lang === "en" ? /already open/ : /已在处理中/);
    await page.locator("#my-appeals li").first().waitFor();
    assert.equal(await page.locator("#my-appeals li").filter({ hasText: reason }).count(), 1, "one appeal, not two");
    // The authority resolves it; the citizen sees the outcome.
    const appeals = await server.api("/v1/appeals", { key: server.keys["demo-cdc-440305"] });
    const appeal = appeals.appeals.find((item) => item.pid === OVERRIDDEN.pid && item.text === reason);
    await server.api(`/v1/appeals/${appeal.id}/resolve`, { key: server.keys["demo-cdc-440305"], method: "POST", body: { note: "已核实，解除黄码" } });
    await page.reload();
    await page.locator("#code-view").waitFor({ state: "visible" });
    await page.waitForFunction(() => /已核实，解除黄码/.test(document.getElementById("my-appeals").textContent));
    await snap(page, "citizen-appeals", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});
