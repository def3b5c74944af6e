// Accessibility: axe-core (from npm, a devDependency) on every page, signed
// in where the page has a signed-in view, in both languages; no serious or
// critical violation. And reflow: at 320 px width and at 200 % zoom (a
// 1280 px window shows 640 CSS px) the public rules page and the console do
// not scroll horizontally (a wide table scrolls inside its own box).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { startServer, launch } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

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

// The pages are served with a strict CSP ('self' scripts only): the test
// context bypasses it to inject axe, which the pages themselves never load.
async function openPage({ width = 390, height = 844, scale = 1 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: scale,
    locale: "zh-CN", timezoneId: "Asia/Shanghai", bypassCSP: true });
  return { context, page: await context.newPage() };
}

async function seriousViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const run = await axe.run(document, { resultTypes: ["violations"] });
    return run.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  });
  return results.filter((v) => v.impact === "serious" || v.impact === "critical");
}

async function signInConsole(page) {
  await page.locator("#api-key").fill(server.keys["demo-cdc-440305"]);
  await page.locator("#api-key").press("Enter");
  await page.locator("#console").waitFor({ state: "visible" });
  await page.locator("#rule-versions li").first().waitFor();
  // The parts the console fills in are checked too: a diff table.
  await page.locator("#diff-form button[type=submit]").click();
  await page.locator("#diff-result p, #diff-result table").first().waitFor();
}

const PAGES = [
  { path: "/rules", ready: (page) => page.locator("#national tr[data-rule]").first().waitFor() },
  { path: "/console", ready: signInConsole },
  { path: "/", ready: async () => {} },
  { path: "/verify", ready: async () => {} },
];

for (const { path, ready } of PAGES) {
  for (const lang of ["zh-CN", "en"]) {
    test(`axe finds no serious or critical violation on ${path} (${lang})`, async () => {
      const { context, page } = await openPage();
      await page.goto(`${server.base}${path}?lang=${lang}`);
      await ready(page);
      const violations = await seriousViolations(page);
      assert.deepEqual(violations, [], `${path} ${lang}: ${JSON.stringify(violations, null, 1)}`);
      await context.close();
    });
  }
}

for (const { path, ready } of PAGES.slice(0, 2)) {
  for (const [label, size] of [["320 px", { width: 320, height: 640 }], ["200 % zoom", { width: 640, height: 400, scale: 2 }]]) {
    test(`${path} does not scroll horizontally at ${label}`, async () => {
      const { context, page } = await openPage(size);
      await page.goto(`${server.base}${path}`);
      await ready(page);
      const overflow = await page.evaluate(() => {
        const root = document.documentElement;
        const wide = [...document.querySelectorAll("body *")]
          .filter((element) => element.getBoundingClientRect().right > root.clientWidth + 1)
          .filter((element) => !element.closest(".table-wrap"))
          .slice(0, 5)
          .map((element) => `${element.tagName.toLowerCase()}#${element.id}.${element.className}`);
        return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide };
      });
      assert.ok(overflow.scrollWidth <= overflow.clientWidth, `${path} at ${label}: ${JSON.stringify(overflow)}`);
      await context.close();
    });
  }
}
