// Printed codes (纸质码, issue 13 item 13): a guardian prints a code for a
// ward registered without a phone, A6 and A4 (CSS @page: the PDF's page
// size is checked), and the verifier shows it as a printed code with its
// print time and lifetime; online with the device key, a door shows the
// color now when it is worse than the printed one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;
const GUARDIAN = { id: "E50000001", name: "周建华" };
const WARD = { id: "E50000002", name: "周老太" };

const iso = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

before(async () => {
  server = await startServer();
  browser = await launch();
  WARD.pid = (await server.api("/v1/persons", { key: server.keys["demo-admin"], method: "POST", body: {
    id_type: "passport", id_number: WARD.id, display_name: WARD.name, region: "440305", has_phone: false } })).pid;
  GUARDIAN.pid = (await server.api("/v1/persons", { key: server.keys["demo-admin"], method: "POST", body: {
    id_type: "passport", id_number: GUARDIAN.id, display_name: GUARDIAN.name, region: "440305",
    guardian_of: [WARD.pid], relationships: { [WARD.pid]: "grandparent" } } })).pid;
  await server.api("/v1/guardianships:confirm", { key: server.keys["demo-cdc-440305"], method: "POST", body: { guardian: GUARDIAN.pid, ward: WARD.pid } });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function signIn(page, lang) {
  await page.goto(`${server.base}/?lang=${lang}`);
  await page.locator("#sign-in").waitFor({ state: "visible" });
  await page.locator("#id-type").selectOption("passport");
  await page.locator("#id-number").fill(GUARDIAN.id);
  await page.locator("#otp").fill(server.demo_code);
  await page.locator("#otp").press("Enter");
  await page.locator("#code-view").waitFor({ state: "visible" });
}

/// The width and height in points of the first page of a PDF.
function pdfPageSize(pdf) {
  const match = /\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/.exec(pdf.toString("latin1"));
  assert.ok(match, "the PDF names its page size");
  return [Number(match[1]), Number(match[2])];
}

test("a guardian prints a ward's code on A6 and A4, and the verifier shows it as a printed code", async () => {
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser, { locale: lang });
    await signIn(page, lang);
    await page.locator(`#people button[data-pid="${WARD.pid}"]`).click();
    await page.locator("#print-a6").click();
    await page.locator("#printed").waitFor({ state: "visible" });
    assert.match(await page.locator("#printed-color").textContent(), lang === "en" ? /Printed code/ : /纸质码/);
    assert.equal(await page.locator("#printed-color").getAttribute("data-color"), "green");
    assert.match(await page.locator("#printed-lifetime").textContent(), lang === "en" ? /3 days/ : /3 天/);
    const token = await page.locator("#printed-qr").getAttribute("data-token");
    assert.match(token, /^YMT1:/);
    await snap(page, "printed-code-a6", lang);
    // In print, only the sheet: the controls are not printed, and the page
    // is an A6 card (105 × 148 mm = 297.6 × 419.5 pt).
    await page.emulateMedia({ media: "print" });
    assert.equal(await page.locator("#print-controls").isVisible(), false);
    // page.pdf() lays out with print media unless screen is emulated.
    await page.emulateMedia({ media: null });
    const [width, height] = pdfPageSize(await page.pdf({ preferCSSPageSize: true }));
    assert.ok(Math.abs(width - 297.6) < 2 && Math.abs(height - 419.5) < 2, `A6: ${width} × ${height}`);
    await page.locator("#size-a4").click();
    await page.locator("#printed").waitFor({ state: "visible" });
    const [a4Width, a4Height] = pdfPageSize(await page.pdf({ preferCSSPageSize: true }));
    assert.ok(Math.abs(a4Width - 595.3) < 2 && Math.abs(a4Height - 841.9) < 2, `A4: ${a4Width} × ${a4Height}`);
    await snap(page, "printed-code-a4", lang);
    assertNoConsoleErrors(assert, page);

    // The door, offline in effect (no device key): the printed color, with
    // the kind, its print time and lifetime.
    await page.goto(`${server.base}/verify?lang=${lang}`);
    await page.evaluate(() => window.ymtVerifierReady);
    await page.locator("#token").fill(token);
    await page.locator("#check").click();
    await page.waitForFunction(() => document.getElementById("result").dataset.valid === "true");
    assert.match(await page.locator("#result").getAttribute("class"), /\bgreen\b/);
    assert.match(await page.locator("#result-label").textContent(), lang === "en" ? /Printed code/ : /纸质码/);
    assert.match(await page.locator("#result-expiry").textContent(), lang === "en" ? /printed .* lifetime 3 days/ : /打印于 .* 有效期 3 天/);
    await snap(page, "printed-code-verified", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});

test("a door online shows a printed green code of a person now red as red", async () => {
  const printed = await (async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, "zh-CN");
    await page.goto(`${server.base}/print?pid=${WARD.pid}&size=a6`);
    await page.locator("#printed").waitFor({ state: "visible" });
    const token = await page.locator("#printed-qr").getAttribute("data-token");
    await context.close();
    return token;
  })();
  const sampled = Date.now() - 3600 * 1000;
  await server.api("/v1/events", { key: server.keys["demo-lab-440305"], method: "POST", body: {
    id: "pos-ward", subject: { pid: WARD.pid }, region: "440305", kind: "test_result",
    data: { test: "pcr", result: "positive", sampled_at: iso(sampled), reported_at: iso(sampled + 1800 * 1000), lab: "lab-440305-01" } } });
  const { context, page } = await newPage(browser);
  await page.goto(`${server.base}/verify`);
  await page.evaluate(() => window.ymtVerifierReady);
  await page.locator("#settings summary").click();
  await page.locator("#verifier-key").fill(server.keys["demo-verifier-440305"]);
  await page.locator("#save-settings").click();
  await page.locator("#token").fill(printed);
  await page.locator("#check").click();
  await page.waitForFunction(() => document.getElementById("result").dataset.valid === "true");
  assert.match(await page.locator("#result").getAttribute("class"), /\bred\b/);
  assert.match(await page.locator("#result-detail").textContent(), /已联网核对当前码色/);
  assertNoConsoleErrors(assert, page);
  await context.close();
});
