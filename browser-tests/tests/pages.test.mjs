// Browser tests of the citizen, verifier and console pages against a real
// node started in demo mode.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, registerPerson, positiveTest, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;
const PERSON = { id: "E10000001", name: "王小明" };
const CHILD = { id: "E10000002", name: "王小红" };

before(async () => {
  server = await startServer();
  browser = await launch();
  CHILD.pid = await registerPerson(server, CHILD.id, CHILD.name);
  PERSON.pid = await registerPerson(server, PERSON.id, PERSON.name, [CHILD.pid]);
  await positiveTest(server, PERSON.id);
  // Check-ins name registered venues; this test venue is not one of the demo city's.
  await server.api("/v1/venues", { key: server.keys["demo-cdc-440305"], method: "POST", body: {
    id: "V440305004009-TEST01", name: "南山测试场所", region: "440305004009", category: "market", indoor: true } });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/// Signs in with the keyboard alone: Tab to the ID type, arrow to passport,
/// type the number and the one-time code, Enter.
async function signInByKeyboard(page, lang) {
  await page.goto(`${server.base}/?lang=${lang}`);
  await page.locator("#sign-in").waitFor({ state: "visible" });
  for (let i = 0; i < 20; i++) {
    if (await page.evaluate(() => document.activeElement?.id) === "id-number") break;
    await page.keyboard.press("Tab");
  }
  assert.equal(await page.evaluate(() => document.activeElement?.id), "id-number");
  await page.keyboard.press("Shift+Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "id-type");
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.locator("#id-type").inputValue(), "passport");
  await page.keyboard.press("Tab");
  await page.keyboard.type(PERSON.id);
  await page.keyboard.press("Tab");
  await page.keyboard.type(server.demo_code);
  await page.keyboard.press("Enter");
  await page.locator("#code-view").waitFor({ state: "visible" });
  await page.locator("#qr svg").waitFor();
}

for (const lang of ["zh-CN", "en"]) {
  test(`citizen signs in and sees the color, reasons and dependents (${lang})`, async () => {
    const { context, page } = await newPage(browser);
    await signInByKeyboard(page, lang);
    const label = await page.locator("#color-label").textContent();
    assert.match(label, lang === "en" ? /Red/ : /红码/);
    assert.match(await page.locator("#code-card").getAttribute("class"), /\bred\b/);
    assert.equal(await page.locator("#masked-name").textContent(), "王*明");
    assert.ok(await page.locator("#reasons li").count() >= 1);
    assert.match(await page.locator("#reasons").textContent(), lang === "en" ? /PCR|positive|test/i : /阳性|核酸|检测/);
    assert.match(await page.locator("#countdown").textContent(), /\d+/);
    assert.ok(await page.locator("#recent li").count() >= 1);
    await snap(page, "citizen", lang);
    // A guardian sees the dependent's code.
    await page.locator('#people button[data-pid="' + CHILD.pid + '"]').click();
    await page.waitForFunction(() => document.getElementById("masked-name").textContent === "王*红");
    assert.match(await page.locator("#code-card").getAttribute("class"), /\bgreen\b/);
    await snap(page, "citizen-dependent", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  });
}

test("citizen files an appeal", async () => {
  const { context, page } = await newPage(browser);
  await signInByKeyboard(page, "zh-CN");
  await page.locator("#appeal-text").fill("检测结果有误，请复核");
  await page.locator("#appeal").click();
  await page.waitForFunction(() => /ap-/.test(document.getElementById("appeal-result").textContent));
  // The citizen sees the appeal they filed, with its status.
  await page.waitForFunction(() => /ap-/.test(document.getElementById("my-appeals").textContent));
  await snap(page, "citizen-appeal", "zh-CN");
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("verifier checks a valid code offline, rejects a tampered and an expired one", async () => {
  const code = await server.api(`/v1/persons/${PERSON.pid}/code`, { key: server.keys["demo-admin"] });
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser);
    await page.goto(`${server.base}/verify?lang=${lang}`);
    await page.evaluate(() => window.ymtVerifierReady);
    // Settings: the verifier device's key, venue and region; a check-in is recorded online.
    await page.locator("#settings summary").click();
    await page.locator("#verifier-key").fill(server.keys["demo-verifier-440305"]);
    await page.locator("#venue").fill("V440305004009-TEST01");
    await page.locator("#region").fill("440305");
    await page.locator("#save-settings").click();
    await page.locator("#token").fill(code.token);
    await page.locator("#check").click();
    await page.waitForFunction(() => /\S/.test(document.getElementById("checkin-result").textContent));
    // The person's code is red: never "entry registered" (issue 13).
    assert.match(await page.locator("#checkin-result").textContent(), lang === "en" ? /Do not admit/ : /请勿放行/);
    assert.doesNotMatch(await page.locator("#checkin-result").textContent(), /Check-in recorded|已登记入场/);
    await snap(page, "verify-valid-online", lang);

    // Offline from here on: the trust list is cached, verification is local.
    page.allowedErrors.push(/ERR_INTERNET_DISCONNECTED/);
    await context.setOffline(true);
    await page.locator("#token").fill(code.token);
    await page.locator("#check").click();
    await page.waitForFunction(() => document.getElementById("result").dataset.valid === "true");
    assert.match(await page.locator("#result").getAttribute("class"), /\bred\b/);
    assert.equal(await page.locator("#result-name").textContent(), "王*明");
    assert.match(await page.locator("#result-expiry").textContent(), /\d/);
    await page.waitForFunction(() => /\S/.test(document.getElementById("checkin-result").textContent));

    const chars = code.token.split("");
    const at = chars.length - 12;
    chars[at] = chars[at] === "A" ? "B" : "A";
    await page.locator("#token").fill(chars.join(""));
    await page.locator("#check").click();
    await page.waitForFunction(() => document.getElementById("result").dataset.valid === "false");
    assert.match(await page.locator("#result-label").textContent(), lang === "en" ? /Invalid/ : /无效/);
    await snap(page, "verify-tampered", lang);

    // A well-formed code whose signature was altered: re-encoded with the
    // last signature byte flipped, so only the WebCrypto check can catch it.
    const forged = await page.evaluate(async (token) => {
      const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
      const compressed = YmtCose.base45Decode(token.slice(5));
      const inflated = new Uint8Array(await new Response(new Blob([compressed]).stream().pipeThrough(new DecompressionStream("deflate"))).arrayBuffer());
      inflated[inflated.length - 1] ^= 1;
      const deflated = new Uint8Array(await new Response(new Blob([inflated]).stream().pipeThrough(new CompressionStream("deflate"))).arrayBuffer());
      let out = "";
      for (let i = 0; i < deflated.length; i += 2) {
        if (i + 1 < deflated.length) {
          let n = deflated[i] * 256 + deflated[i + 1];
          out += ALPHABET[n % 45]; n = Math.floor(n / 45); out += ALPHABET[n % 45]; out += ALPHABET[Math.floor(n / 45)];
        } else {
          out += ALPHABET[deflated[i] % 45] + ALPHABET[Math.floor(deflated[i] / 45)];
        }
      }
      return "YMT1:" + out;
    }, code.token);
    await page.locator("#token").fill(forged);
    await page.locator("#check").click();
    await page.waitForFunction(() => document.getElementById("result").dataset.valid === "false"
      && /signature/.test(document.getElementById("result-detail").textContent));
    assert.match(await page.locator("#result-detail").textContent(), /bad_signature/);
    await snap(page, "verify-forged", lang);

    const expiredAt = Date.parse(code.expires_at) + 60000;
    await page.clock.setFixedTime(new Date(expiredAt));
    await page.locator("#token").fill(code.token);
    await page.locator("#check").click();
    await page.waitForFunction(() => document.getElementById("result").dataset.valid === "false"
      && /validity_window/.test(document.getElementById("result-detail").textContent));
    assert.match(await page.locator("#result-detail").textContent(), /expired/);
    assert.match(await page.locator("#result-label").textContent(), lang === "en" ? /expired/ : /过期/);
    await snap(page, "verify-expired", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});

async function consoleSignIn(page, key, lang = "zh-CN") {
  await page.goto(`${server.base}/console?lang=${lang}`);
  await page.locator("#api-key").focus();
  await page.keyboard.type(key);
  await page.keyboard.press("Enter");
  await page.locator("#console").waitFor({ state: "visible" });
}

test("authority resolves the appeal; sees the dashboard; risk areas only when offered", async () => {
  const { context, page } = await newPage(browser);
  await consoleSignIn(page, server.keys["demo-cdc-440305"]);
  await page.locator("#chart svg").waitFor();
  const appeal = page.locator("#appeals li").filter({ hasText: PERSON.pid }).first();
  await appeal.waitFor();
  await appeal.locator("input[id^=note-]").fill("已复核，维持红码");
  await appeal.locator("button").click();
  await page.waitForFunction(() => /已处理/.test(document.getElementById("appeals").textContent));
  const panel = page.locator("#risk-areas");
  await panel.locator("p, pre").first().waitFor();
  const unavailable = await panel.locator("[data-unavailable]").count();
  if (unavailable) {
    assert.match(await panel.textContent(), /本节点不提供/);
    page.allowedErrors.push(/status of 404/);
  }
  await page.locator("#lookup-pid").fill(PERSON.pid);
  await page.keyboard.press("Enter");
  await page.locator("#lookup-result li").first().waitFor();
  assert.match(await page.locator("#lookup-result").textContent(), /王\*明/);
  await snap(page, "console", "zh-CN");
  await page.goto(`${server.base}/console?lang=en`);
  await page.locator("#console").waitFor({ state: "visible" });
  await page.locator("#chart svg").waitFor();
  await snap(page, "console", "en");
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("a city authority does not see another city's persons", async () => {
  const other = await server.api("/v1/admin/principals", { key: server.keys["demo-admin"], method: "POST", body: {
    id: "cdc-440106", role: "health_authority", jurisdiction: "440106", display_name: "Tianhe CDC" } });
  const { context, page } = await newPage(browser);
  page.allowedErrors.push(/status of 404/);
  await consoleSignIn(page, other.api_key, "en");
  await page.locator("#lookup-pid").fill(PERSON.pid);
  await page.keyboard.press("Enter");
  await page.locator("#lookup-result .error").waitFor();
  assert.match(await page.locator("#lookup-result").textContent(), /Not found/);
  assert.doesNotMatch(await page.locator("#lookup-result").textContent(), /王/);
  // The appeal of a 440305 person is not in this authority's queue either.
  assert.doesNotMatch(await page.locator("#appeals").textContent(), new RegExp(PERSON.pid));
  await snap(page, "console-other-city", "en");
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("with the server stopped the citizen page keeps the last code and its expiry", async () => {
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser);
    await signInByKeyboard(page, lang);
    const expires = await page.locator("#expires").textContent();
    if (lang === "en") await server.stop();
    else await context.setOffline(true);
    // A stopped node refuses new connections and resets kept-alive ones
    // (which of the two a request meets depends on timing).
    page.allowedErrors.push(/ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_INTERNET_DISCONNECTED/);
    await page.locator("#refresh").click();
    await page.locator("#offline").waitFor({ state: "visible" });
    assert.ok(await page.locator("#qr svg").isVisible());
    assert.equal(await page.locator("#expires").textContent(), expires);
    assert.match(await page.locator("#color-label").textContent(), lang === "en" ? /Red/ : /红码/);
    await snap(page, "citizen-offline", lang);
    // A reload without the node: the service worker serves the page and the
    // page shows the last code from localStorage, never a blank page.
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    if (lang === "zh-CN") {
      await page.reload();
      await page.locator("#qr svg").waitFor();
      await page.locator("#offline").waitFor({ state: "visible" });
      assert.equal(await page.locator("#expires").textContent(), expires);
      await snap(page, "citizen-offline-reloaded", lang);
    }
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});
