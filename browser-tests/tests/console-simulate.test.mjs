// Simulate before publishing (issue 14, item 5): the console runs the
// policy simulator on a pasted draft profile, shows its progress, then the
// same comparison table and charts as `yimatong simulate policy`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const PROFILE = {
  kind: "parameter-profile", id: "profile-nanshan", region: "440305", ruleSet: "cn-national", version: "1.0.0",
  validFrom: "2022-06-28T00:00:00Z", parameters: { closeContactQuarantineDays: 5 }, reason: "the 20 measures",
};

for (const lang of ["zh-CN", "en"]) {
  test(`a draft profile is simulated before publishing (${lang})`, async () => {
    const { context, page } = await newPage(browser, { locale: lang });
    await page.goto(`${server.base}/console?lang=${lang}`);
    await page.locator("#api-key").fill(server.keys["demo-cdc-440305"]);
    await page.locator("#api-key").press("Enter");
    await page.locator("#console").waitFor({ state: "visible" });
    await page.locator("#preview-version").selectOption("");
    await page.locator("details:has(#preview-body) > summary").click();
    await page.locator("#preview-body").fill(JSON.stringify(PROFILE));
    await page.locator("#simulate-persons").fill("50");
    await page.locator("#simulate-days").fill("10");
    await page.locator("#simulate-seeds").fill("1");
    // The finished job as the page received it, for the charts' words.
    const finished = page.waitForResponse(async (response) => response.url().includes("/v1/simulations/") && (await response.json()).state === "done", { timeout: 300000 });
    await page.locator("#simulate").click();
    await page.locator('[data-simulation="done"]').waitFor({ state: "visible", timeout: 300000 });
    const table = await page.locator("#simulation-table").textContent();
    for (const policy of ["national", "candidate (proposal)", "no-codes"]) assert.ok(table.includes(policy), `${policy} in ${table}`);
    const charts = await page.locator("#simulate-result img").evaluateAll((images) => images.map((image) => image.naturalWidth));
    assert.equal(charts.length, 2);
    assert.ok(charts.every((width) => width > 0), "both charts render");
    // The charts' words are in the page's language.
    const words = (await (await finished).json()).epidemic_svg;
    const title = lang === "en" ? "New infections per day" : "每日新增感染";
    assert.ok(words.includes(title), `${title} in ${words.slice(0, 400)}`);
    await snap(page, "console-simulate", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  });
}
