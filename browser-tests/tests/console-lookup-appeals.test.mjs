// Browser test of the console's person lookup by ID number (resolved to the
// pseudonym, then the timeline with each event's details and the fired
// rules translated) and of the appeals queue (masked name, current color, a
// resolution's outcome).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, registerPerson, positiveTest, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;
const PERSON = { id: "E20000021", name: "赵查询" };

before(async () => {
  server = await startServer();
  browser = await launch();
  PERSON.pid = await registerPerson(server, PERSON.id, PERSON.name);
  await positiveTest(server, PERSON.id);
  await server.api("/v1/appeals", { key: server.keys["demo-cdc-440305"], method: "POST", body: { pid: PERSON.pid, text: "核酸结果不是我的" } });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function consoleSignIn(page, lang) {
  await page.goto(`${server.base}/console?lang=${lang}`);
  await page.locator("#api-key").fill(server.keys["demo-cdc-440305"]);
  await page.locator("#api-key").press("Enter");
  await page.locator("#console").waitFor({ state: "visible" });
}

test("a person is looked up by ID number, and an appeal is resolved with its outcome", async () => {
  for (const lang of ["en", "zh-CN"]) {
    const { context, page } = await newPage(browser, { viewport: { width: 1280, height: 800 }, locale: lang });
    await consoleSignIn(page, lang);
    await page.locator("#lookup-id-type").selectOption("passport");
    await page.locator("#lookup-id-number").fill(PERSON.id);
    await page.locator("#lookup-id-number").press("Enter");
    const rule = page.locator("#lookup-result li[data-rule=CN-CASE-01]");
    await rule.waitFor();
    assert.equal(await page.locator("#lookup-pid").inputValue(), PERSON.pid, "resolved to the pseudonym");
    const result = await page.locator("#lookup-result").textContent();
    assert.match(result, /赵\*/);
    assert.match(result, lang === "en" ? /PCR · positive/ : /PCR · 阳性/);
    assert.match(await rule.textContent(), lang === "en" ? /Positive PCR test/ : /核酸检测阳性/);
    assert.match(result, /← CN-CASE-01/, "the event the rule rests on is marked");
    const appeal = page.locator("#appeals li").filter({ hasText: PERSON.pid }).first();
    await appeal.waitFor();
    assert.match(await appeal.textContent(), /赵\*/);
    assert.match(await appeal.textContent(), lang === "en" ? /Red/ : /红码/);
    await snap(page, "console-lookup-appeals", lang);
    if (lang === "zh-CN") {
      await appeal.locator("select").selectOption("upheld");
      await appeal.locator("input[id^=note-]").fill("已复核，维持红码");
      await appeal.locator("button").click();
      await page.locator("#appeals li em[data-outcome=upheld]").waitFor();
      assert.match(await page.locator("#appeals").textContent(), /维持原码/);
    }
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});
