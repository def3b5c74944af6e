// Browser tests of the services on the verifier and citizen pages (docs/services.md):
// hospital entrance lanes, care-home visits, and a consent revoked on the
// citizen page, after which the hospital can no longer read the results.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, registerPerson, positiveTest, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

const HOSPITAL = "hospital-440305-01";
const CARE_HOME = "care-home-440305-01";
const RED = { id: "S20000001", name: "赵红" };
const YELLOW = { id: "S20000002", name: "赵黄" };
const GREEN = { id: "S20000003", name: "赵绿" };
const TESTED_VISITOR = { id: "S20000004", name: "钱多" };
const UNTESTED_VISITOR = { id: "S20000005", name: "钱少" };
const RESIDENT = { id: "S20000006", name: "孙老" };
const CITIZEN = { id: "S20000007", name: "李明" };

let server;
let browser;

/// A test result of a registered person, sampled `hoursAgo` hours ago.
async function testResult(idNumber, kind, result, hoursAgo) {
  const sampled = new Date(Math.floor(Date.now() / 1000) * 1000 - hoursAgo * 3600 * 1000);
  const reported = new Date(Math.min(sampled.getTime() + 1800 * 1000, Math.floor(Date.now() / 1000) * 1000));
  const iso = (d) => d.toISOString().replace(".000Z", "Z");
  await server.api("/v1/events", { key: server.keys["demo-lab-440305"], method: "POST", body: {
    id: `t-${kind}-${idNumber}`, subject: { id_type: "passport", id_number: idNumber }, region: "440305",
    kind: "test_result", data: { test: kind, result, sampled_at: iso(sampled), reported_at: iso(reported), lab: "lab-440305-01" } } });
}

before(async () => {
  server = await startServer();
  browser = await launch();
  for (const person of [RED, YELLOW, GREEN, TESTED_VISITOR, UNTESTED_VISITOR, RESIDENT, CITIZEN]) {
    person.pid = await registerPerson(server, person.id, person.name);
  }
  await positiveTest(server, RED.id);
  await testResult(YELLOW.id, "antigen", "positive", 2);
  await testResult(TESTED_VISITOR.id, "pcr", "negative", 10);
  await testResult(CITIZEN.id, "pcr", "negative", 5);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/// The verifier page set up as a service's door: the staff key and the venue.
async function door(lang, service, key, venue) {
  const { context, page } = await newPage(browser);
  await page.goto(`${server.base}/verify?lang=${lang}`);
  await page.evaluate(() => window.ymtVerifierReady);
  await page.locator("#settings summary").click();
  await page.locator("#verifier-key").fill(key);
  await page.locator("#venue").fill(venue);
  await page.locator("#region").fill("440305");
  await page.locator("#save-settings").click();
  await page.locator("#service").selectOption(service);
  return { context, page };
}

/// Checks a person by ID card at the door and waits for the node's answer.
async function byIdCard(page, idNumber) {
  await page.evaluate(() => { document.getElementById("service-result").dataset.outcome = ""; });
  await page.locator("#card-type").selectOption("passport");
  await page.locator("#card-number").fill(idNumber);
  await page.locator("#card-check").click();
  await page.waitForFunction(() => document.getElementById("service-result").dataset.outcome !== "");
  return page.locator("#service-result").getAttribute("data-outcome");
}

for (const lang of ["zh-CN", "en"]) {
  test(`hospital entrance lanes for a red, a yellow and a green person (${lang})`, async () => {
    const { context, page } = await door(lang, "hospital", server.keys["demo-hospital-440305"], HOSPITAL);
    for (const [person, lane, color, label] of [
      [RED, "isolation_ward", "red", lang === "en" ? /Isolation ward/ : /隔离病区/],
      [YELLOW, "fever_clinic", "yellow", lang === "en" ? /Fever clinic/ : /发热门诊/],
      [GREEN, "outpatient", "green", lang === "en" ? /Ordinary outpatients/ : /普通门诊/],
    ]) {
      assert.equal(await byIdCard(page, person.id), lane, person.name);
      assert.match(await page.locator("#service-result").getAttribute("class"), new RegExp(`\\b${color}\\b`));
      assert.match(await page.locator("#service-outcome").textContent(), label);
      // Each lane names its reasons; nobody is turned away.
      assert.ok(await page.locator("#service-reasons li").count() >= 1);
      if (lane !== "outpatient") assert.ok(await page.locator("#service-reasons li[data-rule]").count() >= 1);
      await snap(page, `hospital-${lane}`, lang);
    }
    // The same code, scanned: no hospital card, no ID number typed.
    const code = await server.api(`/v1/persons/${RED.pid}/code`, { key: server.keys["demo-admin"] });
    await page.evaluate(() => { document.getElementById("service-result").dataset.outcome = ""; });
    await page.locator("#token").fill(code.token);
    await page.locator("#check").click();
    await page.waitForFunction(() => document.getElementById("service-result").dataset.outcome !== "");
    assert.equal(await page.locator("#service-result").getAttribute("data-outcome"), "isolation_ward");
    assertNoConsoleErrors(assert, page);
    await context.close();
  });
}

test("a care-home visit allowed with a recent negative PCR and refused without one", async () => {
  const { context, page } = await door("zh-CN", "care", server.keys["demo-care-home-440305"], CARE_HOME);
  await page.locator("#resident").fill(RESIDENT.pid);
  assert.equal(await byIdCard(page, TESTED_VISITOR.id), "allowed");
  assert.match(await page.locator("#service-outcome").textContent(), /允许探视/);
  await snap(page, "care-visit-allowed", "zh-CN");
  assert.equal(await byIdCard(page, UNTESTED_VISITOR.id), "refused");
  assert.match(await page.locator("#service-outcome").textContent(), /不予探视/);
  assert.match(await page.locator("#service-reasons").textContent(), /核酸/);
  await snap(page, "care-visit-refused", "zh-CN");
  // Another venue's staff key is refused at this door.
  await page.evaluate(() => { document.getElementById("settings").open = true; });
  await page.locator("#verifier-key").fill(server.keys["demo-hospital-440305"]);
  await page.locator("#save-settings").click();
  page.allowedErrors.push(/403/);
  assert.equal(await byIdCard(page, TESTED_VISITOR.id), "error");
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("a consent revoked on the citizen page: the hospital can no longer read the results", async () => {
  const results = `/v1/hospitals/${HOSPITAL}/persons/${CITIZEN.pid}/test-results`;
  const hospitalKey = server.keys["demo-hospital-440305"];
  await assert.rejects(server.api(results, { key: hospitalKey }), /403/, "no consent yet");
  const { context, page } = await newPage(browser);
  await page.goto(`${server.base}/?lang=zh-CN`);
  await page.locator("#sign-in").waitFor({ state: "visible" });
  await page.locator("#id-type").selectOption("passport");
  await page.locator("#id-number").fill(CITIZEN.id);
  await page.locator("#otp").fill(server.demo_code);
  await page.locator("#sign-in button[type=submit]").click();
  await page.locator("#code-view").waitFor({ state: "visible" });
  await page.locator("#consent-venue").fill(HOSPITAL);
  await page.locator("#give-consent").click();
  await page.locator(`#consents li[data-venue="${HOSPITAL}"][data-state="given"]`).waitFor();
  const read = await server.api(results, { key: hospitalKey });
  assert.equal(read.tests.length, 1, "the hospital reads the result with consent");
  await snap(page, "citizen-consent-given", "zh-CN");
  await page.locator(`button[data-revoke="${HOSPITAL}"]`).click();
  await page.locator(`#consents li[data-venue="${HOSPITAL}"][data-state="revoked"]`).waitFor();
  await assert.rejects(server.api(results, { key: hospitalKey }), /403/, "revoked");
  await snap(page, "citizen-consent-revoked", "zh-CN");
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("the console proposes a service rule set, held for a second admin, and publishes a care home's visitor policy within the bounds", async () => {
  const { context, page } = await newPage(browser);
  await page.goto(`${server.base}/console?lang=zh-CN`);
  await page.locator("#api-key").fill(server.keys["demo-admin"]);
  await page.keyboard.press("Enter");
  await page.locator("#console").waitFor({ state: "visible" });
  await page.locator("#svc-name").selectOption("care-visit");
  await page.locator("#svc-show").click();
  await page.waitForFunction(() => /"version": "1\.0\.0"/.test(document.getElementById("svc-current").textContent));
  const ruleSet = JSON.parse(await page.locator("#svc-document").inputValue());
  ruleSet.version = "1.1.0";
  await page.locator("#svc-document").fill(JSON.stringify(ruleSet));
  await page.locator("#svc-propose").click();
  await page.waitForFunction(() => /"pending"/.test(document.getElementById("svc-result").textContent));
  const policy = (hours, version) => JSON.stringify({ kind: "parameter-profile", id: "care-home-policy", region: "440305001001",
    ruleSet: "care-visit", version, validFrom: "2022-06-28T00:00:00Z", parameters: { visitorPcrValidHours: hours }, reason: "visitor policy" });
  // Beyond the bounds (at most 72 h): refused, and nothing changes.
  page.allowedErrors.push(/422/);
  await page.locator("#svc-venue").fill(CARE_HOME);
  await page.locator("#svc-document").fill(policy(720, "1.0.0"));
  await page.locator("#svc-profile").click();
  await page.waitForFunction(() => /72/.test(document.getElementById("svc-result").textContent));
  await page.locator("#svc-document").fill(policy(24, "1.0.0"));
  await page.locator("#svc-profile").click();
  await page.waitForFunction(() => /visitorPcrValidHours/.test(document.getElementById("svc-result").textContent));
  await snap(page, "console-services", "zh-CN");
  const described = await server.api(`/v1/services/care-visit/rule-set?venue=${CARE_HOME}`, { key: server.keys["demo-admin"] });
  assert.equal(described.rule_set.version, "1.0.0", "held, not in force");
  assert.equal(described.parameters.visitorPcrValidHours, 24);
  assertNoConsoleErrors(assert, page);
  await context.close();
});
