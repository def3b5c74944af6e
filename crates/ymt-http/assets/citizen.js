// Citizen page: sign in, show the live code of the person or a dependent,
// refresh it before it goes stale, and keep the last code on screen (from
// localStorage) when the node cannot be reached.
"use strict";
(() => {
  const { t, when, api, banner, el } = YMT;
  const STORE = "ymt.lastCode";
  const $ = (id) => document.getElementById(id);
  let session = null;
  let current = null; // pid shown
  let code = null;
  let refreshAt = 0;
  let retryTimer = null;

  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch { return null; }
  }

  function render(data) {
    code = data;
    $("code-view").hidden = false;
    $("sign-in").hidden = true;
    const card = $("code-card");
    card.className = "card code-card " + data.color;
    $("color-label").textContent = t(data.color);
    const qr = $("qr");
    qr.innerHTML = data.svg;
    qr.setAttribute("aria-label", t(data.color) + " " + (data.masked_name || ""));
    $("masked-name").textContent = data.masked_name || "";
    $("expires").textContent = t("expires") + " " + when(data.expires_at);
    const reasons = $("reasons");
    reasons.replaceChildren();
    const list = data.reasons || [];
    if (list.length === 0) reasons.append(el("li", {}, t("noReasons")));
    for (const reason of list) {
      const pick = (text) => (text && (text[YMT.lang] || text["zh-CN"] || text.en)) || "";
      const item = el("li", {}, pick(reason.description) || reason.rule_id || "");
      const clears = pick(reason.clears);
      if (clears) item.append(el("br"), el("span", { class: "muted" }, clears));
      reasons.append(item);
    }
    $("clears").textContent = data.valid_until ? t("clearsAt") + " " + when(data.valid_until)
      : t(data.color === "green" ? "clearsNever" : "clearsUnscheduled");
    const recent = $("recent");
    recent.replaceChildren();
    if (!(data.recent || []).length) recent.append(el("li", {}, t("noRecent")));
    for (const event of data.recent || []) {
      const d = event.data || {};
      let detail = "";
      if (event.kind === "test_result") detail = `${d.test || ""} ${t(d.result)} · ${when(d.sampled_at)}`;
      else if (event.kind === "check_in") detail = `${d.venue || ""} · ${when(d.entered_at)}`;
      recent.append(el("li", {}, `${t(event.kind)}: ${detail}`));
    }
    const remaining = Date.parse(data.expires_at) - Date.parse(data.issued_at);
    refreshAt = Date.parse(data.expires_at) - Math.max(remaining * 0.2, 10000);
    tick();
  }

  function tick() {
    if (!code) return;
    const seconds = Math.max(0, Math.round((refreshAt - Date.now()) / 1000));
    $("countdown").textContent = `${seconds} ${t("refreshIn")}`;
    // Offline past expiry: the code stays visible but says it has expired.
    if (Date.now() >= Date.parse(code.expires_at)) $("expires").textContent = `${t("expired")} · ${when(code.expires_at)}`;
    if (seconds === 0 && !retryTimer) load();
  }

  async function load() {
    if (!current) return;
    try {
      const data = await api(`/v1/persons/${encodeURIComponent(current)}/code`);
      banner("");
      localStorage.setItem(STORE, JSON.stringify(data));
      render(data);
      myAppeals();
      myConsents();
    } catch (error) {
      if (error.status === 401) { showSignIn(); return; }
      // 409: the status cannot be computed. No code is issued, and the
      // last one kept must not be shown in its place.
      if (error.status === 409) { cannotCompute(error.message); return; }
      offline();
    }
  }

  // The appeals about the person shown, with their status and outcome.
  async function myAppeals() {
    const list = $("my-appeals");
    let body;
    try { body = await api("/v1/appeals"); } catch { return; }
    list.replaceChildren();
    for (const appeal of body.appeals.filter((a) => a.pid === current)) {
      const item = el("li", { "data-appeal": appeal.id },
        el("strong", {}, `${appeal.resolved ? t("resolved") : t("pending")} · ${appeal.id}`), el("br"),
        `${when(appeal.filed_at)} · ${appeal.text}`);
      if (appeal.resolved) item.append(el("br"), el("em", {}, `${when(appeal.resolved.at)}: ${appeal.resolved.note}`));
      list.append(item);
    }
  }

  // The person's consents to hospitals (each revocable here) and, for a
  // care-home resident, their visits.
  async function myConsents() {
    const person = current;
    let consents;
    let visits;
    try {
      consents = (await api(`/v1/persons/${encodeURIComponent(person)}/consents`)).consents;
      visits = (await api(`/v1/persons/${encodeURIComponent(person)}/visits`)).visits;
    } catch { return; }
    const list = $("consents");
    list.replaceChildren();
    if (!consents.length) list.append(el("li", {}, t("noConsents")));
    for (const consent of consents) {
      const item = el("li", { "data-venue": consent.venue, "data-state": consent.revoked_at ? "revoked" : "given" },
        el("strong", {}, `${consent.venue_name} (${consent.venue})`), el("br"),
        `${t("consentGiven")} ${when(consent.given_at)}`);
      if (consent.revoked_at) item.append(el("br"), `${t("consentRevoked")} ${when(consent.revoked_at)}`);
      else {
        const revoke = el("button", { type: "button", class: "secondary", "data-revoke": consent.venue }, t("revoke"));
        revoke.addEventListener("click", async () => {
          try {
            await api(`/v1/persons/${encodeURIComponent(person)}/consents/${encodeURIComponent(consent.venue)}/revoke`, { method: "POST" });
            $("consent-result").textContent = t("consentRevoked");
          } catch (error) { $("consent-result").textContent = error.message; }
          myConsents();
        });
        item.append(" ", revoke);
      }
      list.append(item);
    }
    const visitList = $("visits");
    visitList.replaceChildren();
    if (!visits.length) visitList.append(el("li", {}, t("noRecent")));
    for (const visit of visits) {
      visitList.append(el("li", { "data-outcome": visit.outcome },
        `${when(visit.at)} · ${visit.venue_name} · ${visit.visitor_masked_name || visit.visitor} · ${t(visit.outcome)}`));
    }
  }

  function cannotCompute(detail) {
    code = null;
    localStorage.removeItem(STORE);
    banner("");
    $("code-view").hidden = false;
    $("sign-in").hidden = true;
    $("code-card").className = "card code-card cannot_compute";
    $("color-label").textContent = t("cannot_compute");
    $("qr").replaceChildren();
    $("qr").setAttribute("aria-label", t("cannot_compute"));
    $("expires").textContent = "";
    $("countdown").textContent = "";
    $("clears").textContent = "";
    $("reasons").replaceChildren(el("li", {}, detail || t("cannot_compute")));
    $("recent").replaceChildren();
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { retryTimer = null; load(); }, 60000);
  }

  function offline() {
    banner(t("offline"));
    const last = code || saved();
    if (last && !current) current = last.pid;
    if (last) render(last);
    // Retry a little later without hammering the node.
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { retryTimer = null; load(); }, 15000);
  }

  function showSignIn() {
    $("code-view").hidden = true;
    // A node with an identity provider signs citizens in there; the
    // one-time-code form is the demo's.
    const provider = Boolean(session && session.provider_sign_in);
    $("provider-sign-in").hidden = !provider;
    $("sign-in").hidden = provider;
    if (!provider) $("id-number").focus();
  }

  function people() {
    const tabs = $("people");
    tabs.replaceChildren();
    const entries = [{ pid: session.pid, masked_name: t("me") + " " + (session.masked_name || "") }]
      .concat((session.dependents || []).map((d) => ({ pid: d.pid, masked_name: d.masked_name || d.pid })));
    if (entries.length < 2) return;
    for (const entry of entries) {
      const button = el("button", { type: "button", "aria-pressed": String(entry.pid === current), "data-pid": entry.pid }, entry.masked_name);
      button.addEventListener("click", () => { current = entry.pid; people(); load(); });
      tabs.append(button);
    }
  }

  async function start() {
    try {
      session = await api("/v1/session");
      if (!session.signed_in) { showSignIn(); return; }
      current = session.pid;
      people();
      await load();
    } catch (error) {
      if (error.status === 401) showSignIn();
      else offline();
    }
  }

  $("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    try {
      session = await api("/v1/session", { method: "POST", body: {
        id_type: $("id-type").value, id_number: $("id-number").value.trim(), code: $("otp").value.trim() } });
      current = session.pid;
      people();
      await load();
    } catch (error) {
      $("sign-in-error").textContent = `${t("signInFailed")}: ${signInErrorText(error)}`;
    }
  });
  $("refresh").addEventListener("click", () => { clearTimeout(retryTimer); retryTimer = null; load(); });
  $("appeal").addEventListener("click", async () => {
    const text = $("appeal-text").value.trim();
    if (!text || !current) return;
    try {
      const appeal = await api("/v1/appeals", { method: "POST", body: { pid: current, text } });
      $("appeal-result").textContent = `${t("appealFiled")} ${appeal.id}`;
      $("appeal-text").value = "";
      myAppeals();
    } catch (error) {
      $("appeal-result").textContent = error.message;
    }
  });
  $("give-consent").addEventListener("click", async () => {
    const venue = $("consent-venue").value.trim();
    if (!venue || !current) return;
    try {
      await api(`/v1/persons/${encodeURIComponent(current)}/consents`, { method: "POST", body: { venue } });
      $("consent-result").textContent = t("consentGiven");
      $("consent-venue").value = "";
    } catch (error) { $("consent-result").textContent = error.message; }
    myConsents();
  });
  $("sign-out").addEventListener("click", async () => {
    try { await api("/v1/session", { method: "DELETE" }); } catch { /* the cookie expires anyway */ }
    localStorage.removeItem(STORE);
    session = null; code = null; current = null;
    showSignIn();
  });
  setInterval(tick, 1000);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  start();

  // Sign-in errors in the page's language (issue 13, item 14), and the
  // "get a one-time code" step: a deployment's authenticator sends the code
  // (SMS, the national identity app); a demo node hints at its fixed code.
  const SIGN_IN_WORDS = {
    "zh-CN": { 401: "证件号码或验证码不正确", 422: "证件号码格式不正确", 429: "尝试次数过多，请稍后再试",
      503: "登录暂不可用，请稍后再试", 403: "请求被拒绝，请刷新页面后重试", network: "网络不可用，请稍后再试",
      needNumber: "请先填写证件号码", codeSent: "验证码已发送，请查收", demoHint: "演示模式：验证码为" },
    en: { 401: "The ID number or the one-time code is not right", 422: "The ID number is not valid for this ID type",
      429: "Too many attempts: try again later", 503: "Sign-in is unavailable now: try again later",
      403: "Request refused: reload the page and try again", network: "No network: try again later",
      needNumber: "Enter your ID number first", codeSent: "A one-time code has been sent", demoHint: "Demo mode: the one-time code is" },
  };
  function signInErrorText(error) {
    const words = SIGN_IN_WORDS[YMT.lang];
    if (!error.status) return words.network;
    return words[error.status] || words[error.status >= 500 ? 503 : 422] || error.message;
  }
  $("request-code").addEventListener("click", () => {
    const words = SIGN_IN_WORDS[YMT.lang];
    if (!$("id-number").value.trim()) { $("request-code-result").textContent = words.needNumber; $("id-number").focus(); return; }
    $("request-code-result").textContent = words.codeSent;
    const demo = $("demo-hint").dataset.demoCode;
    if (demo) { $("demo-hint").textContent = `${words.demoHint} ${demo}`; $("demo-hint").hidden = false; }
    $("otp").focus();
  });
})();
