// Test harness: start `yimatong serve --demo` on a free port with a fresh
// data directory, read its YMT_READY line, and drive Debian's chromium with
// playwright-core. Every page collects console errors; a test fails on any
// it did not expect.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, "..", "..");
export const SHOTS = join(ROOT, "target", "screenshots");
mkdirSync(SHOTS, { recursive: true });

const BIN = process.env.YMT_BIN || join(ROOT, "target", "debug", "yimatong");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export async function startServer(extraArgs = []) {
  const data = mkdtempSync(join(tmpdir(), "ymt-browser-"));
  const child = spawn(BIN, ["serve", "--demo", "--demo-persons", "60", "--data", data, "--listen", "127.0.0.1:0", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr += chunk; });
  const ready = await new Promise((resolvePromise, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error("server did not start: " + stderr)), 120000);
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      const line = buffer.split("\n").find((l) => l.startsWith("YMT_READY "));
      if (line) { clearTimeout(timer); resolvePromise(JSON.parse(line.slice("YMT_READY ".length))); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${stderr}`)); });
  });
  child.stdout.resume();
  const server = {
    ...ready,
    child,
    stopped: false,
    async stop() {
      if (server.stopped) return;
      server.stopped = true;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
    async close() { await server.stop(); rmSync(data, { recursive: true, force: true }); },
    async api(path, { key, method = "GET", body } = {}) {
      const headers = { "Content-Type": "application/json" };
      if (key) headers.Authorization = `Bearer ${key}`;
      const response = await fetch(server.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
  };
  return server;
}

/// Registers a person in 440305 and returns the pid. Each guardianship is
/// confirmed by the city's authority (the consent step: an authority of the
/// ward's region other than the registrar).
export async function registerPerson(server, idNumber, name, guardianOf = []) {
  const body = await server.api("/v1/persons", { key: server.keys["demo-admin"], method: "POST", body: {
    id_type: "passport", id_number: idNumber, display_name: name, region: "440305", guardian_of: guardianOf } });
  for (const ward of guardianOf) {
    await server.api("/v1/guardianships:confirm", { key: server.keys["demo-cdc-440305"], method: "POST", body: {
      guardian: body.pid, ward } });
  }
  return body.pid;
}

export async function positiveTest(server, idNumber) {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 3600 * 1000);
  const iso = (d) => d.toISOString().replace(".000Z", "Z");
  await server.api("/v1/events", { key: server.keys["demo-lab-440305"], method: "POST", body: {
    id: `t-${idNumber}-${Date.now()}`, subject: { id_type: "passport", id_number: idNumber }, region: "440305",
    kind: "test_result", data: { test: "pcr", result: "positive", sampled_at: iso(now), reported_at: iso(new Date(now.getTime() + 1800 * 1000)), lab: "lab-440305-01" } } });
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/// A page that records console errors; `allowed` lists regexps of errors a
/// test provokes on purpose (a cut network, an expected refusal).
export async function newPage(browser, { viewport = PHONE, locale = "zh-CN" } = {}) {
  const context = await browser.newContext({ viewport, locale, timezoneId: "Asia/Shanghai" });
  const page = await context.newPage();
  page.consoleErrors = [];
  page.allowedErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") page.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => page.consoleErrors.push(String(error)));
  return { context, page };
}

export function assertNoConsoleErrors(assert, page) {
  const unexpected = page.consoleErrors.filter((text) => !page.allowedErrors.some((pattern) => pattern.test(text)));
  assert.deepEqual(unexpected, [], "console errors");
}

/// Screenshots at phone and desktop size: NAME-LANG-phone.png, NAME-LANG-desktop.png.
export async function snap(page, name, lang) {
  const original = page.viewportSize();
  for (const [label, size] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(SHOTS, `${name}-${lang}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(original);
}
