// Verifier page: read a code (camera via BarcodeDetector, pasted text or an
// image), verify it in the browser against the cached signed trust list so
// it works offline, show color, masked name and expiry, and record the
// check-in with the device's key when online.
"use strict";
(() => {
  const { t, when, api, el } = YMT;
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
      const signed = await api("/v1/trust-list", { cache: "no-cache" });
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

  async function check(token) {
    if (!trust || nowSecs() - fetchedAt() >= refreshSecs()) await loadTrust();
    const report = !trust || nowSecs() - fetchedAt() > AGE_SECS_MAX
      ? staleReport()
      : await YmtCose.verify(token, trust, nowSecs());
    const result = $("result");
    result.hidden = false;
    $("checkin-result").textContent = "";
    if (!report.valid) {
      result.className = "card result invalid";
      result.dataset.valid = "false";
      $("result-label").textContent = `${t("invalid")}: ${t(ERRORS[report.error.code] || "malformed")}`;
      $("result-name").textContent = "";
      $("result-expiry").textContent = "";
      $("result-detail").textContent = report.steps.filter((s) => s.status === "failed").map((s) => `${s.step}: ${s.detail}`).join("; ");
      return report;
    }
    const claims = report.claims;
    result.className = "card result " + claims.color;
    result.dataset.valid = "true";
    $("result-label").textContent = t(claims.color);
    $("result-name").textContent = claims.masked_name;
    $("result-expiry").textContent = `${t("expires")} ${when(new Date(claims.expires_at * 1000).toISOString())}`;
    $("result-detail").textContent = t("offlineVerify");
    if (service() !== "health") await serviceCheck({ code: token.trim() });
    else await checkIn(claims.person);
    return report;
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

  async function detect(source) {
    if (!("BarcodeDetector" in window)) throw new Error(t("scanUnsupported"));
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    const codes = await detector.detect(source);
    return codes.length ? codes[0].rawValue : null;
  }

  $("check").addEventListener("click", () => check($("token").value));
  $("image").addEventListener("change", async () => {
    const file = $("image").files[0];
    if (!file) return;
    try {
      const text = await detect(await createImageBitmap(file));
      if (text) { $("token").value = text; await check(text); }
    } catch (error) { $("result-detail").textContent = error.message; $("result").hidden = false; }
  });
  $("scan").addEventListener("click", async () => {
    const video = $("camera");
    try {
      if (!("BarcodeDetector" in window)) throw new Error(t("scanUnsupported"));
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.hidden = false;
      await video.play();
      for (let i = 0; i < 600; i++) {
        const text = await detect(video);
        if (text) { $("token").value = text; await check(text); break; }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } catch (error) {
      $("result").hidden = false;
      $("result-detail").textContent = error.message;
    } finally {
      if (video.srcObject) video.srcObject.getTracks().forEach((track) => track.stop());
      video.hidden = true;
    }
  });
  const s = settings();
  $("verifier-key").value = s.key || "";
  $("venue").value = s.venue || "";
  $("region").value = s.region || "";
  $("save-settings").addEventListener("click", () => {
    localStorage.setItem(SETTINGS, JSON.stringify({ key: $("verifier-key").value.trim(), venue: $("venue").value.trim(), region: $("region").value.trim() }));
  });
  $("card-check").addEventListener("click", async () => {
    if (service() !== "health") {
      await serviceCheck({ id_type: $("card-type").value, id_number: $("card-number").value.trim() });
      return;
    }
    const key = settings().key;
    if (!key) { $("card-result").textContent = t("needKey"); return; }
    try {
      const result = await api("/v1/verify/id-card", { method: "POST", headers: { Authorization: `Bearer ${key}` },
        body: { id_type: $("card-type").value, id_number: $("card-number").value.trim() } });
      $("card-result").textContent = `${t(result.color)} · ${result.masked_name || ""}`;
      $("card-result").className = result.color;
    } catch (error) { $("card-result").textContent = error.message; }
  });
  window.ymtVerifierReady = loadTrust().then(scheduleRefresh);
})();
