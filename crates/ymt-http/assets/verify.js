// Verifier page: read a code (camera or image through scan.js, pasted text,
// or a scanner gun typing it with Enter), verify it in the browser against the cached signed trust list so
// it works offline, show color, masked name and expiry, and record the
// check-in with the device's key when online.
"use strict";
(() => {
  const { when, api, el } = YMT;
  const t = YmtScan.t;
  const $ = (id) => document.getElementById(id);
  const TRUST = "ymt.trustList";
  const ANCHOR = "ymt.trustAnchor";
  const SETTINGS = "ymt.verifierSettings";
  let trust = null;

  function settings() {
    try { return JSON.parse(localStorage.getItem(SETTINGS) || "{}"); } catch { return {}; }
  }

  // As ymt_token::trust::TrustListCache: the list is fetched again every
  // refresh interval (the list says; 300 s by default), so a revoked key's
  // codes are refused within it; a list not refreshed for a day passes no
  // code; an older list (smaller serial) never replaces a newer one.
  const FETCHED_AT = "ymt.trustListFetchedAt";
  const REFRESH_SECS_DEFAULT = 300;
  const AGE_SECS_MAX = 24 * 3600;
  const nowSecs = () => Math.floor(Date.now() / 1000);
  const refreshSecs = () => (trust && Number.isInteger(trust.refresh_interval_secs) && trust.refresh_interval_secs > 0
    ? Math.min(trust.refresh_interval_secs, AGE_SECS_MAX) : REFRESH_SECS_DEFAULT);
  const fetchedAt = () => Number(localStorage.getItem(FETCHED_AT) || 0);

  // The trust list's signer is pinned on first use; later lists must carry
  // the same signer. A deployment would ship the anchor with the app.
  async function loadTrust() {
    if (!trust) {
      try { trust = JSON.parse(localStorage.getItem(TRUST) || "null"); } catch { trust = null; }
    }
    try {
      // Past the HTTP cache: a refresh must see a revocation made since.
      const signed = await api("/v1/trust-list", { cache: "no-cache", public: true });
      const document = await YmtCose.verifyTrustList(signed, localStorage.getItem(ANCHOR));
      if (trust && Number(document.serial) < Number(trust.serial)) throw new Error("older trust list refused");
      localStorage.setItem(ANCHOR, signed.signer.public_key);
      localStorage.setItem(TRUST, JSON.stringify(document));
      localStorage.setItem(FETCHED_AT, String(nowSecs()));
      trust = document;
    } catch (error) {
      if (!trust) YMT.banner(t("offline"));
    }
  }

  // Refresh on the interval while the page is open, and before a check
  // when the held list is due.
  function scheduleRefresh() {
    setTimeout(async () => { await loadTrust(); scheduleRefresh(); }, refreshSecs() * 1000);
  }

  function staleReport() {
    return { valid: false, error: { code: "trust_list_stale" }, steps: [{ step: "kid_lookup", status: "failed", detail: "trust_list_stale" }], claims: null };
  }

  const ERRORS = {
    expired: "expired", not_yet_valid: "notYetValid", bad_signature: "badSignature", unknown_kid: "unknownKid",
    color_expired: "colorExpired", key_revoked: "keyRevoked", lifetime_too_long: "lifetimeTooLong",
    trust_list_stale: "trustListStale",
  };

  // The service the device decides for: the health code itself, a
  // hospital entrance (a lane) or a care-home door (a visit). The two
  // services are decided by the node, with the staff key and the venue of
  // the device settings; nobody is turned away at a hospital.
  const service = () => $("service").value;
  const OUTCOME_COLOR = { outpatient: "green", fever_clinic: "yellow", isolation_ward: "red", allowed: "green", refused: "red" };
  const pick = (text) => (text && (text[YMT.lang] || text["zh-CN"] || text.en)) || "";
  function serviceFields() {
    $("symptoms-row").hidden = service() !== "hospital";
    $("resident-row").hidden = service() !== "care";
    $("service-hint").hidden = service() === "health";
    $("service-result").hidden = true;
  }
  async function serviceCheck(person) {
    const s = settings();
    const box = $("service-result");
    box.hidden = false;
    $("service-reasons").replaceChildren();
    if (!s.key || !s.venue) { box.dataset.outcome = "error"; $("service-outcome").textContent = t("needKey"); return; }
    try {
      const headers = { Authorization: `Bearer ${s.key}` };
      const venue = encodeURIComponent(s.venue);
      const decision = service() === "hospital"
        ? await api(`/v1/hospitals/${venue}/entrance`, { method: "POST", headers, body: Object.assign({ symptoms: $("symptoms").checked }, person) })
        : (await api(`/v1/care-homes/${venue}/visits`, { method: "POST", headers, body: { visitor: person, resident: $("resident").value.trim() } })).decision;
      box.className = "card result " + (OUTCOME_COLOR[decision.outcome] || "red");
      box.dataset.outcome = decision.outcome;
      $("service-outcome").textContent = pick(decision.label);
      const reasons = decision.reasons || [];
      if (!reasons.length) $("service-reasons").append(el("li", {}, t("noReasons")));
      for (const reason of reasons) $("service-reasons").append(el("li", { "data-rule": reason.rule }, pick(reason.description) || reason.rule));
    } catch (error) {
      box.className = "card result invalid";
      box.dataset.outcome = "error";
      $("service-outcome").textContent = error.message;
    }
  }
  $("service").addEventListener("change", serviceFields);
  serviceFields();

  // Human, localized messages for a refused code (issue 13): the step
  // that failed stays in the detail line below, for the technician.
  function refusalMessage(report) {
    const code = report.error && report.error.code;
    if (ERRORS[code]) return t(ERRORS[code]);
    return t("forgedOrDamaged");
  }

  // The full-screen color card over the page for a moment, a sound and a
  // vibration, then back to scanning; the card stays below the scan field.
  const OVERLAY_MS = 2500;
  let overlayTimer = null;
  let audio = null;
  function signal(kind) {
    const result = $("result");
    result.classList.add("overlay");
    clearTimeout(overlayTimer);
    overlayTimer = setTimeout(() => result.classList.remove("overlay"), OVERLAY_MS);
    try {
      if (navigator.vibrate) navigator.vibrate(kind === "green" ? 120 : [250, 120, 250]);
    } catch { /* not supported */ }
    try {
      audio = audio || new AudioContext();
      const tones = kind === "green" ? [880] : [330, 330];
      tones.forEach((hz, i) => {
        const oscillator = audio.createOscillator();
        const gain = audio.createGain();
        oscillator.frequency.value = hz;
        gain.gain.value = 0.15;
        oscillator.connect(gain).connect(audio.destination);
        const at = audio.currentTime + i * 0.25;
        oscillator.start(at);
        oscillator.stop(at + 0.18);
      });
    } catch { /* no audio */ }
  }

  // One card for every result: a scanned code, an ID card, a refusal.
  // `kind` is the card's class: green, yellow, red, cannot_compute,
  // unregistered or invalid. Only "green" ever shows green.
  function showCard(kind, { valid, label, name = "", expiry = "", detail = "", source }) {
    const result = $("result");
    result.hidden = false;
    result.className = "card result " + kind;
    result.dataset.valid = String(valid);
    result.dataset.source = source;
    $("result-label").textContent = label;
    $("result-name").textContent = name;
    $("result-expiry").textContent = expiry;
    $("result-detail").textContent = detail;
    $("checkin-result").textContent = "";
    // The last few results, newest first: one line per scan, so two scans
    // in a row are two results.
    const line = el("li", { "data-kind": kind }, `${new Date(Date.now()).toLocaleTimeString(YMT.lang)} · ${label}${name ? " · " + name : ""}`);
    $("scan-log").prepend(line);
    while ($("scan-log").children.length > SCAN_LOG_MAX) $("scan-log").lastElementChild.remove();
    signal(kind);
  }
  const SCAN_LOG_MAX = 5;

  async function check(token) {
    token = token.trim();
    if (!token) return null;
    if (!trust || nowSecs() - fetchedAt() >= refreshSecs()) await loadTrust();
    const report = !trust || nowSecs() - fetchedAt() > AGE_SECS_MAX
      ? staleReport()
      : await YmtCose.verify(token, trust, nowSecs());
    if (!report.valid) {
      showCard("invalid", { valid: false, source: "code", label: `${t("invalid")}: ${refusalMessage(report)}`,
        detail: report.steps.filter((s) => s.status === "failed").map((s) => `${s.step}: ${s.detail}`).join("; ") });
      return report;
    }
    const claims = report.claims;
    let color = ["green", "yellow", "red"].includes(claims.color) ? claims.color : "invalid";
    const iso = (secs) => new Date(secs * 1000).toISOString();
    let expiry = `${t("expires")} ${when(iso(claims.expires_at))}`;
    let detail = t("offlineVerify");
    let label = t(color);
    if (claims.kind === "printed" && color !== "invalid") {
      // A printed code (纸质码) cannot refresh: its color is the one when it
      // was printed. Online with the device key, the door asks the node for
      // the color now and shows the worse of the two (never better).
      const lifetime = claims.expires_at - claims.issued_at;
      expiry = `${PRINTED.kind} · ${PRINTED.printedAt} ${when(iso(claims.issued_at))} · ${PRINTED.lifetime} ${lifetimeText(lifetime)} · ${expiry}`;
      const now = await currentColor(token);
      if (now && now.shown_color) {
        color = now.shown_color;
        detail = `${PRINTED.online}: ${t(now.current.color) || now.current.color}`;
      } else detail = PRINTED.offline;
      label = `${t(color)} · ${PRINTED.kind}`;
    }
    showCard(color, { valid: true, source: "code", label, name: claims.masked_name, expiry, detail });
    if (service() !== "health") await serviceCheck({ code: token });
    else if (color === "green") await checkIn(claims.person);
    // A red or yellow code is never "entry registered".
    else $("checkin-result").textContent = t("notAdmitted");
    return report;
  }

  const PRINTED = YMT.lang === "en"
    ? { kind: "Printed code", printedAt: "printed", lifetime: "lifetime", days: "days", hours: "hours",
        online: "Printed code: color now, checked online", offline: "Printed code: the color when printed (offline; check the ID card online when you can)" }
    : { kind: "纸质码", printedAt: "打印于", lifetime: "有效期", days: "天", hours: "小时",
        online: "纸质码：已联网核对当前码色", offline: "纸质码：显示的是打印时的码色（离线；联网时请核验身份证）" };
  function lifetimeText(secs) {
    return secs % 86400 === 0 ? `${secs / 86400} ${PRINTED.days}` : `${Math.round(secs / 3600)} ${PRINTED.hours}`;
  }
  // The color now of a printed code's holder, from the node with the
  // device key; null offline or without a key.
  async function currentColor(token) {
    const s = settings();
    if (!s.key || !navigator.onLine) return null;
    try {
      const answer = await api("/v1/verify/token", { method: "POST", headers: { Authorization: `Bearer ${s.key}` }, body: { token } });
      return answer.valid && answer.current ? answer : null;
    } catch { return null; }
  }

  async function checkIn(pid) {
    const s = settings();
    if (!s.key || !s.venue || !s.region) return;
    try {
      await api("/v1/events", { method: "POST", headers: { Authorization: `Bearer ${s.key}` }, body: {
        id: YMT.randomId("ci-"), subject: { pid }, region: s.region, kind: "check_in",
        data: { venue: s.venue, entered_at: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "Z") } } });
      $("checkin-result").textContent = t("checkedIn");
    } catch (error) {
      $("checkin-result").textContent = `${t("checkinFailed")}: ${error.message}`;
    }
  }

  // Scanner guns type the code and press Enter: Enter verifies and clears
  // the field, so the next scan replaces the last instead of appending.
  $("scan-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value;
    $("token").value = "";
    $("token").focus();
    await check(token);
  });
  $("image").addEventListener("change", async () => {
    const file = $("image").files[0];
    if (!file) return;
    try {
      const text = await YmtScan.readImage(file);
      if (text) await check(text);
      else showCard("invalid", { valid: false, source: "image", label: t("noCodeInImage") });
    } catch (error) { showCard("invalid", { valid: false, source: "image", label: t("noCodeInImage"), detail: error.message }); }
  });

  // The camera runs continuously and stops on the first code.
  let camera = null;
  function scanStatus(state) { $("scan-status").textContent = t("scan_" + state); }
  $("scan").addEventListener("click", async () => {
    if (camera) { camera.stop(); return; }
    $("scan").setAttribute("aria-pressed", "true");
    $("scan").textContent = t("stopScan");
    camera = YmtScan.startCamera($("camera"), scanStatus);
    let text = null;
    try {
      text = await camera.done;
      $("scan-status").textContent = "";
    } catch (error) {
      $("scan-status").textContent = `${t("cameraFailed")}: ${error.message}`;
    }
    camera = null;
    $("scan").setAttribute("aria-pressed", "false");
    $("scan").textContent = t("startScan");
    if (text) await check(text);
  });
  const s = settings();
  // The node's peers (`serve --peer-url`, also the only other origins the
  // page's Content-Security-Policy lets it call): requests with the device
  // key, and the public trust list, fail over to them when this node
  // cannot answer.
  YMT.setPeers(($("settings").dataset.peers || "").split(" ").filter(Boolean));
  $("verifier-key").value = s.key || "";
  $("venue").value = s.venue || "";
  $("region").value = s.region || "";
  $("save-settings").addEventListener("click", () => {
    localStorage.setItem(SETTINGS, JSON.stringify({ key: $("verifier-key").value.trim(), venue: $("venue").value.trim(), region: $("region").value.trim() }));
    $("settings-saved").textContent = t("settingsSaved");
  });
  // ID-card readers in keyboard mode type the number and Enter, like a
  // scanner gun: Enter checks and clears the field.
  $("card-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = $("card-number").value.trim();
    $("card-number").value = "";
    if (!number) return;
    if (service() !== "health") {
      await serviceCheck({ id_type: $("card-type").value, id_number: number });
      return;
    }
    const key = settings().key;
    if (!key) { $("card-result").textContent = t("needKey"); return; }
    try {
      const result = await api("/v1/verify/id-card", { method: "POST", headers: { Authorization: `Bearer ${key}` },
        body: { id_type: $("card-type").value, id_number: number } });
      // Never green unless the node knows the person and says green.
      const kind = result.known === false ? "unregistered"
        : (["green", "yellow", "red", "cannot_compute"].includes(result.color) ? result.color : "cannot_compute");
      const label = kind === "unregistered" || kind === "cannot_compute" ? t(kind) : t(result.color);
      showCard(kind, { valid: kind !== "unregistered", source: "id-card", label, name: result.masked_name || "",
        expiry: result.valid_until ? `${t("colorUntil")} ${when(result.valid_until)}` : "", detail: t("idCardChecked") });
      $("card-result").textContent = `${label}${result.masked_name ? " · " + result.masked_name : ""}`;
      $("card-result").className = kind;
    } catch (error) { $("card-result").textContent = error.message; }
  });
  // The page's own service worker: /verify loads offline on a device that
  // has only ever opened /verify.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").catch(() => {});
  }
  window.ymtVerifierReady = loadTrust().then(scheduleRefresh);
})();
