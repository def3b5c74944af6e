// The door (issue 13): a real camera (Chromium's fake camera playing a
// video this test makes from a QR code the node's CLI renders), scanner
// guns and ID-card readers typing with Enter, an unregistered ID number,
// /verify offline through its own service worker, and the layout at 320 px
// and 200 % zoom.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { inflateSync } from "node:zlib";
import { chromium } from "playwright-core";
import { ROOT, startServer, launch, newPage, snap, assertNoConsoleErrors, registerPerson, positiveTest } from "./helpers.mjs";

const BIN = process.env.YMT_BIN || join(ROOT, "target", "debug", "yimatong");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const VIDEO_WIDTH = 640;
const VIDEO_HEIGHT = 480;

let server;
let browser;
let scratch;
const GREEN = { id: "E70000001", name: "李小绿" };
const RED = { id: "E70000002", name: "王小红" };
const VENUE = "V440305004009-DOOR01";

before(async () => {
  server = await startServer();
  browser = await launch();
  scratch = mkdtempSync(join(tmpdir(), "ymt-door-"));
  GREEN.pid = await registerPerson(server, GREEN.id, GREEN.name);
  RED.pid = await registerPerson(server, RED.id, RED.name);
  await positiveTest(server, RED.id);
  await server.api("/v1/venues", { key: server.keys["demo-cdc-440305"], method: "POST", body: {
    id: VENUE, name: "南山门口测试场所", region: "440305004009", category: "market", indoor: true } });
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const codeOf = (person) => server.api(`/v1/persons/${person.pid}/code`, { key: server.keys["demo-admin"] });

// ---- A video showing a QR code -------------------------------------------------

/// The gray pixels of the PNG `yimatong keys qr` writes: 8-bit grayscale,
/// not interlaced, every row unfiltered (ymt_token::render_qr_png).
function grayPixelsOfPng(bytes) {
  let at = 8;
  let width = 0;
  let height = 0;
  const data = [];
  while (at < bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString("latin1", at + 4, at + 8);
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.equal(body[8], 8, "8-bit");
      assert.equal(body[9], 0, "grayscale");
    }
    if (type === "IDAT") data.push(body);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width + 1)], 0, "unfiltered rows");
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, pixels };
}

/// A y4m video (two identical 4:2:0 frames, which Chromium loops) showing
/// `text` as a QR code on a white background.
function videoOf(text, name) {
  const png = join(scratch, `${name}.png`);
  execFileSync(BIN, ["keys", "qr", text, "--png", png]);
  const qr = grayPixelsOfPng(readFileSync(png));
  // Whole pixels per QR pixel where it fits; a little smaller otherwise
  // (the QR's modules are 4 pixels, so 3 still read).
  const scale = Math.min(2, (VIDEO_HEIGHT - 16) / qr.height);
  const side = Math.floor(qr.width * scale);
  const left = Math.floor((VIDEO_WIDTH - side) / 2);
  const top = Math.floor((VIDEO_HEIGHT - side) / 2);
  const luma = new Uint8Array(VIDEO_WIDTH * VIDEO_HEIGHT).fill(235);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const value = qr.pixels[Math.floor(y / scale) * qr.width + Math.floor(x / scale)];
      luma[(top + y) * VIDEO_WIDTH + left + x] = value < 128 ? 16 : 235;
    }
  }
  const chroma = new Uint8Array((VIDEO_WIDTH / 2) * (VIDEO_HEIGHT / 2)).fill(128);
  const frame = Buffer.concat([Buffer.from("FRAME\n"), luma, chroma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${VIDEO_WIDTH} H${VIDEO_HEIGHT} F10:1 Ip A1:1 C420jpeg\n`);
  const path = join(scratch, `${name}.y4m`);
  writeFileSync(path, Buffer.concat([header, frame, frame]));
  return path;
}

/// A browser whose camera plays the video.
function launchWithCamera(video) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
      `--use-file-for-fake-video-capture=${resolve(video)}`],
  });
}

async function cameraPage(cameraBrowser, lang) {
  const { context, page } = await newPage(cameraBrowser, { locale: lang });
  await context.grantPermissions(["camera"], { origin: server.base });
  return { context, page };
}

/// Scans with the camera on /verify and waits for the result card.
async function scanOnVerify(page, lang) {
  await page.goto(`${server.base}/verify?lang=${lang}`);
  await page.evaluate(() => window.ymtVerifierReady);
  const before = await page.evaluate(() => document.getElementById("scan-log").children.length);
  await page.locator("#scan").click();
  await page.waitForFunction((count) => document.getElementById("scan-log").children.length > count, before);
  // The camera stops on the first code.
  await page.waitForFunction(() => document.getElementById("camera").hidden);
  return {
    valid: await page.locator("#result").getAttribute("data-valid"),
    className: await page.locator("#result").getAttribute("class"),
    label: await page.locator("#result-label").textContent(),
    name: await page.locator("#result-name").textContent(),
  };
}

test("the verifier's camera reads a valid code, refuses a tampered one and shows an expired one as expired", async () => {
  const code = await codeOf(GREEN);
  const chars = code.token.split("");
  const at = Math.floor(chars.length / 2);
  chars[at] = chars[at] === "A" ? "B" : "A";
  const tampered = chars.join("");

  const validBrowser = await launchWithCamera(videoOf(code.token, "valid"));
  try {
    for (const lang of ["zh-CN", "en"]) {
      const { context, page } = await cameraPage(validBrowser, lang);
      const seen = await scanOnVerify(page, lang);
      assert.equal(seen.valid, "true", JSON.stringify(seen));
      assert.match(seen.className, /\bgreen\b/);
      assert.equal(seen.name, "李*绿");
      await page.waitForFunction(() => !document.getElementById("result").classList.contains("overlay"));
      await snap(page, "door-camera-valid", lang);

      // The same code, seen once its lifetime is over.
      await page.clock.setFixedTime(new Date(Date.parse(code.expires_at) + 60000));
      const expired = await scanOnVerify(page, lang);
      assert.equal(expired.valid, "false", JSON.stringify(expired));
      assert.match(expired.label, lang === "en" ? /Code expired/ : /码已过期/);
      await snap(page, "door-camera-expired", lang);
      assertNoConsoleErrors(assert, page);
      await context.close();
    }
  } finally {
    await validBrowser.close();
  }

  const tamperedBrowser = await launchWithCamera(videoOf(tampered, "tampered"));
  try {
    for (const lang of ["zh-CN", "en"]) {
      const { context, page } = await cameraPage(tamperedBrowser, lang);
      const seen = await scanOnVerify(page, lang);
      assert.equal(seen.valid, "false", JSON.stringify(seen));
      assert.match(seen.className, /\binvalid\b/);
      assert.doesNotMatch(seen.className, /\bgreen\b/);
      assert.match(seen.label, lang === "en" ? /forged or damaged code/ : /伪造或损坏的码/);
      assert.doesNotMatch(seen.label, /inflate_failed|bad_signature/);
      await page.waitForFunction(() => !document.getElementById("result").classList.contains("overlay"));
      await snap(page, "door-camera-tampered", lang);
      assertNoConsoleErrors(assert, page);
      await context.close();
    }
  } finally {
    await tamperedBrowser.close();
  }
});

test("a scanner gun typing two codes, each with Enter, gives two results", async () => {
  const green = await codeOf(GREEN);
  const red = await codeOf(RED);
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser, { locale: lang });
    await page.goto(`${server.base}/verify?lang=${lang}`);
    await page.evaluate(() => window.ymtVerifierReady);
    await page.locator("#settings summary").click();
    await page.locator("#verifier-key").fill(server.keys["demo-verifier-440305"]);
    await page.locator("#venue").fill(VENUE);
    await page.locator("#region").fill("440305");
    await page.locator("#save-settings").click();
    await page.locator("#token").focus();
    await page.keyboard.type(green.token);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("scan-log").children.length === 1);
    // A green code's entry is registered with the device's key.
    await page.waitForFunction(() => /\S/.test(document.getElementById("checkin-result").textContent));
    assert.match(await page.locator("#checkin-result").textContent(), lang === "en" ? /Check-in recorded/ : /已登记入场/);
    // The field is empty again, and keeps the focus for the next scan.
    assert.equal(await page.locator("#token").inputValue(), "");
    await page.keyboard.type(red.token);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("scan-log").children.length === 2);
    const log = await page.locator("#scan-log li").evaluateAll((items) => items.map((item) => item.dataset.kind));
    assert.deepEqual(log, ["red", "green"], "newest first");
    assert.match(await page.locator("#result").getAttribute("class"), /\bred\b/);
    assert.equal(await page.locator("#result-name").textContent(), "王*红");
    // A red code is never "entry registered".
    assert.doesNotMatch(await page.locator("#checkin-result").textContent(), /已登记入场|Check-in recorded/);
    await snap(page, "door-scanner-gun", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});

test("an ID-card reader typing with Enter: an unregistered number is never green", async () => {
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser, { locale: lang });
    await page.goto(`${server.base}/verify?lang=${lang}`);
    await page.evaluate(() => window.ymtVerifierReady);
    await page.locator("#settings summary").click();
    await page.locator("#verifier-key").fill(server.keys["demo-verifier-440305"]);
    await page.locator("#save-settings").click();
    // Saving says so.
    assert.match(await page.locator("#settings-saved").textContent(), lang === "en" ? /saved/ : /已保存/);
    await page.locator("#card-type").selectOption("passport");
    await page.locator("#card-number").focus();
    await page.keyboard.type("E79999999");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("result").dataset.source === "id-card");
    const className = await page.locator("#result").getAttribute("class");
    assert.doesNotMatch(className, /\bgreen\b/);
    assert.match(className, /\bunregistered\b/);
    assert.match(await page.locator("#result-label").textContent(), lang === "en" ? /Not registered: check manually/ : /未登记，请人工核验/);
    assert.equal(await page.locator("#card-number").inputValue(), "", "the field is cleared for the next card");
    await snap(page, "door-id-card-unregistered", lang);

    // A registered person without restriction: green, on the same card.
    await page.locator("#card-number").focus();
    await page.keyboard.type(GREEN.id);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /\bgreen\b/.test(document.getElementById("result").className));
    assert.equal(await page.locator("#result-name").textContent(), "李*绿");
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});

test("/verify loads offline on a device that has only ever opened /verify", async () => {
  const code = await codeOf(RED);
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser, { locale: lang });
    await page.goto(`${server.base}/verify?lang=${lang}`);
    await page.evaluate(() => window.ymtVerifierReady);
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    page.allowedErrors.push(/ERR_INTERNET_DISCONNECTED/);
    await context.setOffline(true);
    await page.reload();
    await page.locator("#token").waitFor();
    await page.evaluate(() => window.ymtVerifierReady);
    await page.locator("#token").fill(code.token);
    await page.locator("#check").click();
    await page.waitForFunction(() => document.getElementById("result").dataset.valid === "true");
    assert.match(await page.locator("#result").getAttribute("class"), /\bred\b/);
    await snap(page, "door-offline", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});

test("/verify does not scroll sideways at 320 px width nor at 200 % zoom", async () => {
  const code = await codeOf(RED);
  for (const lang of ["zh-CN", "en"]) {
    for (const [label, viewport, zoom] of [["320px", { width: 320, height: 640 }, 1], ["zoom200", { width: 640, height: 800 }, 2]]) {
      const { context, page } = await newPage(browser, { viewport, locale: lang });
      await page.goto(`${server.base}/verify?lang=${lang}`);
      await page.evaluate(() => window.ymtVerifierReady);
      if (zoom !== 1) await page.evaluate((z) => { document.documentElement.style.zoom = String(z); }, zoom);
      await page.locator("#settings summary").click();
      await page.locator("#token").fill(code.token);
      await page.locator("#check").click();
      await page.waitForFunction(() => document.getElementById("result").dataset.valid === "true");
      for (const overlay of [true, false]) {
        if (!overlay) await page.waitForFunction(() => !document.getElementById("result").classList.contains("overlay"));
        const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
        assert.ok(widths.scroll <= widths.client, `${lang} ${label} overlay=${overlay}: ${JSON.stringify(widths)}`);
      }
      await page.screenshot({ path: join(ROOT, "target", "screenshots", `door-layout-${label}-${lang}.png`), fullPage: true });
      assertNoConsoleErrors(assert, page);
      await context.close();
    }
  }
});


test("sign-in: a 获取验证码 step hints the demo code, and errors are in the page's language", async () => {
  for (const lang of ["zh-CN", "en"]) {
    const { context, page } = await newPage(browser, { locale: lang });
    await page.goto(`${server.base}/?lang=${lang}`);
    await page.locator("#sign-in").waitFor({ state: "visible" });
    await page.locator("#id-type").selectOption("passport");
    await page.locator("#id-number").fill(GREEN.id);
    await page.locator("#request-code").click();
    assert.match(await page.locator("#demo-hint").textContent(), new RegExp(server.demo_code));
    // The node sends no code: the page must not say one was sent.
    assert.doesNotMatch(await page.locator("main").textContent(), /已发送|has been sent/);
    assert.equal(await page.evaluate(() => document.activeElement.id), "otp");
    page.allowedErrors.push(/status of 401/);
    await page.keyboard.type("000000");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /\S/.test(document.getElementById("sign-in-error").textContent));
    const error = await page.locator("#sign-in-error").textContent();
    assert.match(error, lang === "en" ? /The ID number or the one-time code is not right/ : /证件号码或验证码不正确/);
    if (lang === "zh-CN") assert.doesNotMatch(error, /[a-z]{3,}/, "no English on the Chinese page");
    await snap(page, "door-sign-in-error", lang);
    assertNoConsoleErrors(assert, page);
    await context.close();
  }
});

test("the citizen checks in at a venue from its QR code with the camera", async () => {
  const venue = await server.api(`/v1/venues/${VENUE}`, { key: server.keys["demo-cdc-440305"] });
  const cameraBrowser = await launchWithCamera(videoOf(venue.qr_payload, "venue"));
  try {
    for (const lang of ["zh-CN", "en"]) {
      const { context, page } = await cameraPage(cameraBrowser, lang);
      await page.goto(`${server.base}/?lang=${lang}`);
      await page.locator("#sign-in").waitFor({ state: "visible" });
      await page.locator("#id-type").selectOption("passport");
      await page.locator("#id-number").fill(GREEN.id);
      await page.locator("#otp").fill(server.demo_code);
      await page.locator("#otp").press("Enter");
      await page.locator("#code-view").waitFor({ state: "visible" });
      await page.locator("#venue-scan").click();
      await page.locator("#venue-confirm-row").waitFor({ state: "visible" });
      assert.equal(await page.locator("#venue-name").textContent(), "南山门口测试场所");
      await snap(page, "door-citizen-venue-confirm", lang);
      await page.locator("#venue-confirm").click();
      await page.waitForFunction((id) => document.getElementById("venue-result").dataset.venue === id, VENUE);
      assert.match(await page.locator("#venue-result").textContent(), lang === "en" ? /Checked in: 南山门口测试场所/ : /已登记入场: 南山门口测试场所/);
      await snap(page, "door-citizen-venue-checked-in", lang);
      assertNoConsoleErrors(assert, page);
      await context.close();
    }
  } finally {
    await cameraBrowser.close();
  }
  const timeline = await server.api(`/v1/persons/${GREEN.pid}/timeline`, { key: server.keys["demo-admin"] });
  assert.ok(JSON.stringify(timeline).includes(VENUE), "the check-in is on the person's timeline");
});
