// Citizen page: sign in, show the live code of the person or a dependent,
// refresh it before it goes stale, and keep the last code on screen (from
// localStorage) when the node cannot be reached.
"use strict";
(() => {
  const { t, when, api, banner, el } = YMT;
  // The citizen page's own words (issue 13, items 7-12); common.js keeps the
  // shared ones.
  const words = {
    "zh-CN": {
      dependent: "家属", pcr: "核酸", antigen: "抗原", negativeWithin: "{h}小时内{test}阴性", testOn: "{test}{result} · 采样于 {at}",
      noTest: "无检测记录", doses: "新冠疫苗已接种 {n} 剂（最近 {at}）", noVaccination: "无疫苗接种记录",
      override: "人工调整为{color}：{reason}（设定者 {by}，{from} 至 {until}）",
      risk_exposure: "{level}区域 {area}：您在该区域停留 {from} 至 {until}", check_in: "场所登记：{venue}，{from} 至 {until}",
      close: "密切接触者", secondary: "次密切接触者", companion: "时空伴随者",
      contact: "{contact}：{venue}{overlap}（判定：{by}）", overlap: "，与病例重叠 {from} 至 {until}",
      testsHave: "最后暴露后已有阴性核酸 {n}/2：{list}", testsNone: "最后暴露后尚无阴性核酸（需 2 次）",
      quarantine: "{kind}：{from} 至 {until}（{reason}）", centralised: "集中隔离", home: "居家隔离",
      travel: "到达 {region}：{from}", colorChanged: "您的码已变为：{color}", copied: "已复制", copyFailed: "请手动选择并复制",
      appealEmpty: "请填写申诉理由", appealDuplicate: "相同理由的申诉已在处理中，编号",
      notifyOn: "已开启码色变化通知", notifyDenied: "浏览器未允许通知；码色变化仍会在页面顶部提示", notifyUnsupported: "此浏览器不支持通知",
      scheduled: "按规则到期", causedBy: "由此引起：", noHistory: "无记录", retraction: "更正（撤销）", override_event: "人工调整",
      contact_designation: "流调判定", quarantine_event: "隔离", vaccination: "疫苗接种", travel_event: "行程",
      outcome: "处理结果", resolvedBy: "处理人", upheld: "维持原判", overturned: "已纠正", unknownVenue: "未登记场所",
      retractedMark: "（已撤销）",
      child: "子女", parent: "父母", grandchild: "孙辈", grandparent: "祖辈", spouse: "配偶", sibling: "兄弟姐妹", other: "其他亲属",
    },
    en: {
      dependent: "Dependent", pcr: "PCR", antigen: "antigen", negativeWithin: "Negative {test} test within {h} h", testOn: "{test} {result} · sampled {at}",
      noTest: "No test recorded", doses: "COVID-19 vaccine: {n} doses (latest {at})", noVaccination: "No vaccination recorded",
      override: "Set to {color} by hand: {reason} (by {by}, {from} to {until})",
      risk_exposure: "{level}-risk area {area}: you stayed there {from} to {until}", check_in: "Check-in: {venue}, {from} to {until}",
      close: "Close contact", secondary: "Contact of a close contact", companion: "Spatiotemporal companion",
      contact: "{contact}: {venue}{overlap} (designated by {by})", overlap: ", overlapping a case {from} to {until}",
      testsHave: "Negative PCR tests since the last exposure: {n} of 2: {list}", testsNone: "No negative PCR test since the last exposure yet (2 needed)",
      quarantine: "{kind}: {from} to {until} ({reason})", centralised: "Centralised quarantine", home: "Home quarantine",
      travel: "Arrived in {region}: {from}", colorChanged: "Your code is now: {color}", copied: "Copied", copyFailed: "Select the text and copy it",
      appealEmpty: "Write the reason for the appeal", appealDuplicate: "An appeal with this reason is already open, number",
      notifyOn: "Notifications on color changes are on", notifyDenied: "The browser did not allow notifications; a change is still shown at the top of the page", notifyUnsupported: "This browser cannot notify",
      scheduled: "as the rules scheduled", causedBy: "Caused by: ", noHistory: "Nothing recorded", retraction: "correction (retraction)", override_event: "set by hand",
      contact_designation: "contact tracing", quarantine_event: "quarantine", vaccination: "vaccination", travel_event: "travel",
      outcome: "Outcome", resolvedBy: "by", upheld: "upheld", overturned: "overturned", unknownVenue: "unregistered venue",
      retractedMark: "(retracted)",
      child: "Child", parent: "Parent", grandchild: "Grandchild", grandparent: "Grandparent", spouse: "Spouse", sibling: "Sibling", other: "Relative",
    },
  };
  const w = (key, fields = {}) => {
    const template = words[YMT.lang][key] || t(key);
    return template.replace(/\{(\w+)\}/g, (_, name) => (fields[name] === undefined || fields[name] === null ? "" : String(fields[name])));
  };
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
      const item = el("li", {}, pick(reason.description) || reason.rule_id || "");
      // The evidence in words: who overrode and why, which area and stay,
      // which tests a companion has, venue names.
      for (const id of reason.evidence || []) {
        const words = evidenceText((data.evidence || {})[id]);
        if (words) item.append(el("span", { class: "evidence", "data-evidence": (data.evidence[id] || {}).kind || "" }, words));
      }
      const clears = pick(reason.clears);
      if (clears) item.append(el("span", { class: "muted evidence" }, clears));
      reasons.append(item);
    }
    renderSummary(data.summary || {});
    $("code-text").value = data.token || "";
    $("copy-result").textContent = "";
    $("clears").textContent = data.valid_until ? t("clearsAt") + " " + when(data.valid_until)
      : t(data.color === "green" ? "clearsNever" : "clearsUnscheduled");
    const recent = $("recent");
    recent.replaceChildren();
    if (!(data.recent || []).length) recent.append(el("li", {}, t("noRecent")));
    for (const event of data.recent || []) {
      const d = event.data || {};
      let detail = "";
      if (event.kind === "test_result") detail = `${w(d.test)} ${t(d.result)} · ${when(d.sampled_at)}`;
      else if (event.kind === "check_in") detail = `${d.venue_name || d.venue || ""} · ${when(d.entered_at)}`;
      const item = el("li", { "data-retracted": String(Boolean(event.retracted)) }, `${t(event.kind)}: ${detail}`);
      if (event.retracted) item.append(" ", el("strong", {}, w("retractedMark")));
      recent.append(item);
    }
    const remaining = Date.parse(data.expires_at) - Date.parse(data.issued_at);
    refreshAt = Date.parse(data.expires_at) - Math.max(remaining * 0.2, 10000);
    tick();
  }

  function pick(text) {
    return (text && (text[YMT.lang] || text["zh-CN"] || text.en)) || "";
  }

  function evidenceText(item) {
    if (!item) return "";
    switch (item.kind) {
      case "override":
        return w("override", { color: t(item.color), reason: item.reason, by: item.by, from: when(item.from), until: when(item.until) });
      case "risk_exposure":
        return (item.stays || []).map((stay) => w("risk_exposure", { level: t(item.level),
          area: (stay.venue_names || []).length ? `${stay.area}（${stay.venue_names.join("、")}）` : stay.area,
          from: when(stay.from), until: when(stay.until) })).join("；");
      case "check_in":
        return w("check_in", { venue: item.venue_name || item.venue, from: when(item.entered_at), until: when(item.left_at) });
      case "test":
        return w("testOn", { test: w(item.test), result: t(item.result), at: when(item.sampled_at) });
      case "contact": {
        const overlap = item.overlap_start ? w("overlap", { from: when(item.overlap_start), until: when(item.overlap_end) }) : "";
        let text = w("contact", { contact: w(item.contact), venue: item.venue_name || item.venue || "", overlap, by: item.designated_by });
        if (item.contact === "companion") {
          const tests = item.negative_tests_since || [];
          text += " · " + (tests.length
            ? w("testsHave", { n: Math.min(tests.length, 2), list: tests.map((test) => `${w(test.test)} ${when(test.sampled_at)}`).join("；") })
            : w("testsNone"));
        }
        return text;
      }
      case "quarantine":
        return w("quarantine", { kind: w(item.quarantine), from: when(item.start), until: when(item.end), reason: item.reason });
      case "travel":
        return w("travel", { region: item.region, from: when(item.arrived_at) });
      default:
        return "";
    }
  }

  // Beside the code: the latest test ("48小时核酸阴性") and the doses.
  function renderSummary(summary) {
    const list = $("code-summary");
    list.replaceChildren();
    const test = summary.latest_test;
    if (!test) list.append(el("li", { "data-summary": "test" }, w("noTest")));
    else {
      const hours = (Date.now() - Date.parse(test.sampled_at)) / 3600000;
      const bucket = [24, 48, 72].find((limit) => hours <= limit);
      list.append(el("li", { "data-summary": "test" }, test.result === "negative" && bucket
        ? w("negativeWithin", { h: bucket, test: w(test.test) })
        : w("testOn", { test: w(test.test), result: t(test.result), at: when(test.sampled_at) })));
    }
    const doses = summary.vaccinations || [];
    list.append(el("li", { "data-summary": "vaccination" }, doses.length
      ? w("doses", { n: Math.max(...doses.map((dose) => dose.dose)), at: when(doses[doses.length - 1].administered_at) })
      : w("noVaccination")));
  }

  // The person's own color changes, newest first.
  async function myHistory() {
    const person = current;
    let body;
    try { body = await api(`/v1/persons/${encodeURIComponent(person)}/history`); } catch { return; }
    if (person !== current) return;
    const list = $("history");
    list.replaceChildren();
    const changes = (body.changes || []).slice().reverse();
    if (!changes.length) list.append(el("li", {}, w("noHistory")));
    for (const change of changes) {
      const item = el("li", { class: change.color, "data-color": change.color },
        el("strong", {}, `${when(change.at)} · ${t(change.color)}`));
      const kinds = [...new Set((change.events || []).map((event) => w(({ override: "override_event", quarantine: "quarantine_event", travel: "travel_event" })[event.kind] || event.kind)))];
      item.append(el("span", { class: "evidence" }, kinds.length ? w("causedBy") + kinds.join("、") : w("scheduled")));
      for (const reason of change.reasons || []) item.append(el("span", { class: "evidence muted" }, pick(reason.description) || reason.rule_id));
      list.append(item);
    }
  }

  // Watching the color: a cheap read every few seconds, so a change shows
  // within seconds (banner, and a notification when allowed), not at the
  // next code refresh. The node bounds the reads (429 with Retry-After).
  const WATCH_INTERVAL_MS = 2000;
  let watchTimer = null;
  let watchedColor = null;
  let watchedPerson = null;
  function watch(delay = WATCH_INTERVAL_MS) {
    clearTimeout(watchTimer);
    watchTimer = setTimeout(poll, delay);
  }
  async function poll() {
    const person = current;
    if (!person) return;
    let body;
    try {
      body = await api(`/v1/persons/${encodeURIComponent(person)}/color`);
    } catch (error) {
      if (error.status === 401) return;
      watch(error.status === 429 || error.status === 503 ? 10000 : 15000);
      return;
    }
    if (person !== current) { watch(); return; }
    if (watchedPerson === person && watchedColor !== null && body.color !== watchedColor) colorChanged(body.color);
    watchedPerson = person;
    watchedColor = body.color;
    watch();
  }
  function colorChanged(color) {
    const text = w("colorChanged", { color: t(color) });
    const box = $("color-change");
    box.textContent = text;
    box.dataset.color = color;
    box.hidden = false;
    try {
      if ("Notification" in window && Notification.permission === "granted") new Notification(document.title, { body: text, tag: "ymt-color" });
    } catch { /* a notification is a courtesy; the banner is the message */ }
    load();
  }

  function tick() {
    $("clock-time").textContent = new Date().toLocaleTimeString(YMT.lang, { hour12: false });
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
      $("other-nodes").hidden = true;
      localStorage.setItem(STORE, JSON.stringify(data));
      render(data);
      if (watchedPerson !== current) { watchedPerson = current; watchedColor = data.color; }
      myAppeals();
      myConsents();
      myHistory();
      if (!watchTimer) watch();
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
      if (appeal.resolved) {
        const outcome = appeal.resolved.outcome ? `${w("outcome")}: ${w(appeal.resolved.outcome)} · ` : "";
        item.append(el("br"), el("em", { "data-outcome": appeal.resolved.outcome || "" }, `${outcome}${when(appeal.resolved.at)}: ${appeal.resolved.note}`));
      }
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
    $("code-summary").replaceChildren();
    $("code-text").value = "";
    if (watchedPerson !== current) { watchedPerson = current; watchedColor = "cannot_compute"; }
    if (!watchTimer) watch();
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { retryTimer = null; load(); }, 60000);
  }

  // The cluster's other nodes (`serve --peer-url`), offered when this one
  // cannot serve: the session cookie is this node's, so the person signs in
  // again there (issue 11 item 8).
  function otherNodes() {
    const section = $("other-nodes");
    const links = $("other-node-links");
    const peers = (section.dataset.peers || "").split(" ").filter(Boolean);
    if (!peers.length) return;
    links.replaceChildren();
    for (const peer of peers) {
      let url;
      try { url = new URL(`/?lang=${encodeURIComponent(YMT.lang)}`, peer); } catch { continue; }
      if (url.protocol !== "https:" && url.protocol !== "http:") continue;
      links.append(el("li", {}, el("a", { href: url.href, rel: "noopener" }, url.origin)));
    }
    section.hidden = links.childElementCount === 0;
  }

  function offline() {
    banner(t("offline"));
    otherNodes();
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
    // Each tab names the relationship and the masked name; two dependents
    // with the same label (两个"子女 · 马*") are still told apart by a number.
    const dependents = session.dependents || [];
    const labels = dependents.map((d) => `${d.relationship ? w(d.relationship) : w("dependent")} · ${d.masked_name || d.pid}`);
    const entries = [{ pid: session.pid, masked_name: `${t("me")} · ${session.masked_name || ""}` }]
      .concat(dependents.map((d, index) => {
        const same = labels.filter((label) => label === labels[index]).length > 1;
        const nth = labels.slice(0, index + 1).filter((label) => label === labels[index]).length;
        return { pid: d.pid, masked_name: same ? `${labels[index]} (${nth})` : labels[index] };
      }));
    if (entries.length < 2) return;
    for (const entry of entries) {
      const button = el("button", { type: "button", "aria-pressed": String(entry.pid === current), "data-pid": entry.pid }, entry.masked_name);
      button.addEventListener("click", () => { current = entry.pid; $("color-change").hidden = true; people(); load(); });
      tabs.append(button);
    }
    // A dependent without a phone: a printed code (纸质码), A6 or A4.
    if (current !== session.pid) {
      const href = (size) => `/print?pid=${encodeURIComponent(current)}&size=${size}&lang=${YMT.lang}`;
      const printLabel = YMT.lang === "en" ? "Print a paper code" : "打印纸质码";
      tabs.append(el("span", { class: "print-links" }, `${printLabel}: `,
        el("a", { href: href("a6"), id: "print-a6" }, "A6"), " · ", el("a", { href: href("a4"), id: "print-a4" }, "A4")));
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
    if (!current) return;
    if (!text) { $("appeal-result").textContent = w("appealEmpty"); $("appeal-text").focus(); return; }
    try {
      // 201 is a new appeal; 200 is the open one with the same grounds,
      // which the node does not file again.
      const response = await fetch("/v1/appeals", { method: "POST", credentials: "same-origin",
        headers: { "Accept": "application/json", "Content-Type": "application/json" }, body: JSON.stringify({ pid: current, text }) });
      const appeal = await response.json().catch(() => ({}));
      if (!response.ok) throw Object.assign(new Error(appeal.detail || response.statusText), { status: response.status });
      $("appeal-result").dataset.outcome = response.status === 201 ? "filed" : "duplicate";
      $("appeal-result").textContent = response.status === 201 ? `${t("appealFiled")} ${appeal.id}` : `${w("appealDuplicate")} ${appeal.id}`;
      $("appeal-text").value = "";
      myAppeals();
    } catch (error) {
      $("appeal-result").dataset.outcome = "error";
      $("appeal-result").textContent = error.message;
    }
  });
  $("copy-code").addEventListener("click", async () => {
    const box = $("code-text");
    try {
      await navigator.clipboard.writeText(box.value);
      $("copy-result").textContent = w("copied");
    } catch {
      box.select();
      $("copy-result").textContent = document.execCommand && document.execCommand("copy") ? w("copied") : w("copyFailed");
    }
  });
  $("notify-enable").addEventListener("click", async () => {
    if (!("Notification" in window)) { banner(w("notifyUnsupported")); return; }
    const permission = await Notification.requestPermission();
    $("notify-enable").setAttribute("aria-pressed", String(permission === "granted"));
    $("notify-enable").textContent = permission === "granted" ? w("notifyOn") : $("notify-enable").textContent;
    if (permission !== "granted") banner(w("notifyDenied"));
  });
  // Elder mode: large type and only the code, why and when it clears;
  // remembered on this device.
  const ELDER = "ymt.elder";
  function elder(on) {
    document.body.classList.toggle("elder", on);
    $("elder-toggle").setAttribute("aria-pressed", String(on));
    try { localStorage.setItem(ELDER, on ? "1" : "0"); } catch { /* private mode */ }
  }
  elder(localStorage.getItem(ELDER) === "1");
  $("elder-toggle").addEventListener("click", () => elder(!document.body.classList.contains("elder")));
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
    clearTimeout(watchTimer); watchTimer = null; watchedColor = null; watchedPerson = null;
    showSignIn();
  });
  setInterval(tick, 1000);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  start();

  // Sign-in errors in the page's language (issue 13, item 14), and the
  // "get a one-time code" step. This node sends no code itself: outside the
  // demo, citizens sign in through the identity service (OpenID Connect), so
  // the page never claims a code was sent; a demo node shows its fixed code.
  const SIGN_IN_WORDS = {
    "zh-CN": { 401: "证件号码或验证码不正确", 422: "证件号码格式不正确", 429: "尝试次数过多，请稍后再试",
      503: "登录暂不可用，请稍后再试", 403: "请求被拒绝，请刷新页面后重试", network: "网络不可用，请稍后再试",
      needNumber: "请先填写证件号码", noCodes: "本节点不发送验证码，请通过国家身份认证登录", demoHint: "演示节点不发送短信，验证码为" },
    en: { 401: "The ID number or the one-time code is not right", 422: "The ID number is not valid for this ID type",
      429: "Too many attempts: try again later", 503: "Sign-in is unavailable now: try again later",
      403: "Request refused: reload the page and try again", network: "No network: try again later",
      needNumber: "Enter your ID number first", noCodes: "This node sends no one-time codes: sign in through the national identity service", demoHint: "Demo node, no text message is sent: the one-time code is" },
  };
  function signInErrorText(error) {
    const words = SIGN_IN_WORDS[YMT.lang];
    if (!error.status) return words.network;
    return words[error.status] || words[error.status >= 500 ? 503 : 422] || error.message;
  }
  $("request-code").addEventListener("click", () => {
    const words = SIGN_IN_WORDS[YMT.lang];
    if (!$("id-number").value.trim()) { $("request-code-result").textContent = words.needNumber; $("id-number").focus(); return; }
    const demo = $("demo-hint").dataset.demoCode;
    $("request-code-result").textContent = demo ? "" : words.noCodes;
    if (demo) { $("demo-hint").textContent = `${words.demoHint} ${demo}`; $("demo-hint").hidden = false; $("otp").focus(); }
  });
})();
