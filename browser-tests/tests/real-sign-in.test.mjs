// Browser tests of real sign-in: a node started WITHOUT --demo, configured
// with a real OpenID provider (oidc-provider on loopback, ../oidc/provider.mjs),
// signs a citizen in through the provider's own login page, who then sees
// their code; and signs a health authority in to the console, who designates
// a risk area inside their jurisdiction. Nobody types an API key.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ROOT, launch, newPage, assertNoConsoleErrors, snap } from "./helpers.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.YMT_BIN || join(ROOT, "target", "debug", "yimatong");
const CITIZEN = { login: "zhang-san", id: "44030519900101123X", name: "张三" };
const STAFF = { login: "dr-wang", principal: "cdc-wang" };

let dir;
let provider;
let node;
let browser;
let base;
let adminKey;
let issuer;

/// Waits for a line of a child's stdout starting with `prefix` (the child's
/// readiness signal), failing if the child exits first.
function lineStarting(child, prefix) {
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`no ${prefix} within 120 s`)), 120000);
    lines.on("line", (line) => {
      if (line.startsWith(prefix)) { clearTimeout(timer); resolvePromise(line.slice(prefix.length)); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`exited ${code} before ${prefix}`)); });
  });
}

/// A loopback port the node will listen on: its URL must be registered at
/// the provider (the redirect URI) before the node starts.
function freePort() {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

function cli(args) {
  return JSON.parse(execFileSync(BIN, args, { encoding: "utf8" }).trim().split("\n").pop());
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "ymt-real-sign-in-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, "provider.json"), JSON.stringify({
    clients: [{
      client_id: "yimatong-browser-test", client_secret: "browser-test-secret",
      redirect_uris: [`${base}/v1/session/oidc/callback`], post_logout_redirect_uris: [`${base}/console`],
      response_types: ["code"], grant_types: ["authorization_code"],
    }],
    accounts: { [CITIZEN.login]: { id_number: CITIZEN.id, name: CITIZEN.name }, [STAFF.login]: { name: "王医生" } },
    identity_claims: ["id_number"],
  }));
  provider = spawn("node", [resolve(here, "..", "oidc", "provider.mjs"), join(dir, "provider.json")],
    { cwd: resolve(here, ".."), stdio: ["pipe", "pipe", "inherit"] });
  ({ issuer } = JSON.parse(await lineStarting(provider, "OIDC_READY ")));

  // The registry, before the node serves: a national admin (for the test's
  // own set-up calls) and the health authority, matched by the provider's
  // subject.
  const data = join(dir, "data");
  adminKey = cli(["admin", "principal", "add", "--data", data, "--id", "admin", "--role", "national_admin", "--jurisdiction", "nation"]).api_key;
  cli(["admin", "principal", "add", "--data", data, "--id", STAFF.principal, "--role", "health_authority",
    "--jurisdiction", "440305", "--oidc-subject", STAFF.login]);
  writeFileSync(join(dir, "client-secret"), "browser-test-secret\n", { mode: 0o600 });
  node = spawn(BIN, ["serve", "--data", data, "--listen", `127.0.0.1:${port}`, "--public-url", base,
    "--oidc-issuer", issuer, "--oidc-client-id", "yimatong-browser-test",
    "--oidc-client-secret-file", join(dir, "client-secret")], { stdio: ["ignore", "pipe", "inherit"] });
  await lineStarting(node, "YMT_READY ");
  const response = await fetch(`${base}/v1/persons`, {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ id_type: "resident_id", id_number: CITIZEN.id, display_name: CITIZEN.name, region: "440305" }),
  });
  assert.equal(response.status, 200, await response.text());
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const child of [node, provider]) {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/// The provider's login page (oidc-provider's development login) links a web
/// font from the internet, which this machine does not reach, and has no
/// favicon: errors of the provider's page are the provider's, so they are set
/// aside (by where they happened, never by their text); the node's pages must
/// have none. Called before the page first goes to the provider.
function setAsideProviderErrors(page) {
  page.on("console", (message) => {
    const url = message.location().url || "";
    if (message.type() === "error" && (url.startsWith(issuer) || url.startsWith("https://fonts.googleapis.com/"))) {
      const index = page.consoleErrors.lastIndexOf(message.text());
      if (index >= 0) page.consoleErrors.splice(index, 1);
    }
  });
}

/// The provider's own login page: any password, the login names the account.
async function signInAtProvider(page, login) {
  await page.locator("input[name=login]").waitFor();
  await page.locator("input[name=login]").fill(login);
  await page.locator("input[name=password]").fill("any password");
  await page.locator("button[type=submit]").click();
}

test("a citizen signs in through the provider's login page and sees their code", async () => {
  const { context, page } = await newPage(browser);
  setAsideProviderErrors(page);
  await page.goto(`${base}/?lang=zh-CN`);
  const button = page.locator("#provider-sign-in-link");
  await button.waitFor({ state: "visible" });
  assert.equal(await page.locator("#sign-in").isHidden(), true, "no one-time-code form outside the demo");
  await button.click();
  await signInAtProvider(page, CITIZEN.login);
  await page.waitForURL(`${base}/`);
  await page.locator("#code-view").waitFor({ state: "visible" });
  assert.match(await page.locator("#code-card").getAttribute("class"), /green/);
  await snap(page, "real-sign-in-citizen", "zh-CN");
  assertNoConsoleErrors(assert, page);
  await context.close();
});

test("a health authority signs in to the console and designates a risk area in its jurisdiction", async () => {
  const { context, page } = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  setAsideProviderErrors(page);
  await page.goto(`${base}/console?lang=en`);
  const button = page.locator("#provider-sign-in-link");
  await button.waitFor({ state: "visible" });
  assert.equal(await page.locator("#key-form").isHidden(), true, "the console asks for no API key");
  await button.click();
  await signInAtProvider(page, STAFF.login);
  await page.waitForURL(`${base}/console`);
  await page.locator("#console").waitFor({ state: "visible" });
  assert.match(await page.locator("#who").textContent(), /cdc-wang · health_authority · 440305/);
  const form = page.locator("#risk-form");
  await form.locator("#risk-region").fill("440305001001");
  await form.locator("#risk-level").selectOption("high");
  // No default window: the authority states it (datetime-local values in
  // the page's time zone, Asia/Shanghai here or the browser's own).
  const local = (ms) => { const d = new Date(ms); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); };
  await form.locator("#risk-from").fill(await page.evaluate(`(${local})(${Date.now() - 86400000})`));
  await form.locator("#risk-until").fill(await page.evaluate(`(${local})(${Date.now() + 86400000})`));
  await form.locator("#risk-reason").fill("browser test: one community");
  await form.locator("#risk-reason").press("Enter");
  // The preview comes first; the designation applies on confirmation.
  await page.locator("#risk-result [data-preview]").waitFor();
  await page.locator("#risk-confirm").click();
  await page.locator("#risk-result [data-status]").waitFor();
  assert.notEqual(await page.locator("#risk-result [data-status]").getAttribute("data-status"), "rejected");
  await snap(page, "real-sign-in-console", "en");
  assertNoConsoleErrors(assert, page);
  await context.close();
});
