// Failover of the citizen page (issue 11 item 8): a node started with
// `--peer-url` names its peers; when it stops answering, the page keeps
// the last code on screen and offers the other nodes, where the person
// signs in again (the session cookie is the first node's alone).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, registerPerson, launch, newPage, assertNoConsoleErrors } from "./helpers.mjs";

let peer;
let browser;
const PERSON = { id: "E30000001", name: "周敏" };

before(async () => {
  peer = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await peer?.close();
});

for (const lang of ["zh-CN", "en"]) {
  test(`citizen page offers the other nodes when its node stops answering (${lang})`, async () => {
    // The node the person uses, which knows its peer.
    const home = await startServer(["--peer-url", peer.base]);
    await registerPerson(home, PERSON.id, PERSON.name);
    const { context, page } = await newPage(browser, { locale: lang });
    page.allowedErrors.push(/ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|Failed to load resource/);
    await page.goto(`${home.base}/?lang=${lang}`);
    await page.locator("#sign-in").waitFor({ state: "visible" });
    await page.locator("#id-type").selectOption("passport");
    await page.locator("#id-number").fill(PERSON.id);
    await page.locator("#otp").fill(home.demo_code);
    await page.locator("#otp").press("Enter");
    await page.locator("#code-view").waitFor({ state: "visible" });
    assert.equal(await page.locator("#other-nodes").isHidden(), true, "nothing offered while the node answers");
    const codeText = await page.locator("#code-text").inputValue();

    await home.stop();
    await page.locator("#refresh").click();
    await page.locator("#other-nodes").waitFor({ state: "visible" });
    const links = await page.locator("#other-node-links a").evaluateAll((anchors) => anchors.map((a) => a.href));
    assert.deepEqual(links, [`${peer.base}/?lang=${encodeURIComponent(lang)}`]);
    assert.equal(await page.locator("#code-text").inputValue(), codeText, "the last code stays on screen");
    assert.equal(await page.locator("#offline").isVisible(), true, "the page says it is offline");

    // The peer's page signs the person in anew.
    await page.locator("#other-node-links a").click();
    await page.locator("#sign-in").waitFor({ state: "visible" });
    assert.equal(new URL(page.url()).origin, new URL(peer.base).origin);
    assertNoConsoleErrors(assert, page);
    await context.close();
    await home.close();
  });
}
