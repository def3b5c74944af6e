// Authority console: signed in through the identity provider (an HttpOnly
// session cookie the page never sees) or, on a node without one (the demo),
// with an API key in sessionStorage; dashboard chart rendered by the server;
// appeals queue; person lookup; rule-set versions with diff and impact
// preview; risk areas when the node offers them. The server enforces role
// and jurisdiction on every call.
"use strict";
(() => {
  const { t, when, el } = YMT;
  const $ = (id) => document.getElementById(id);
  const KEY = "ymt.apiKey";
  const key = () => sessionStorage.getItem(KEY);
  // The console session, if the staff member signed in at the provider.
  let staff = null;
  const signedInAtProvider = () => Boolean(staff && staff.signed_in);
  const authHeaders = () => (signedInAtProvider() || !key() ? {} : { Authorization: `Bearer ${key()}` });
  const call = (path, options = {}) =>
    YMT.api(path, Object.assign({}, options, { headers: Object.assign(authHeaders(), options.headers || {}) }));
  function showSignIn() {
    const provider = Boolean(staff && staff.provider_sign_in);
    $("provider-sign-in").hidden = !provider;
    $("key-form").hidden = provider;
    $("console").hidden = true;
  }

  async function start() {
    try {
      const rules = await call("/v1/rule-sets");
      $("key-form").hidden = true;
      $("provider-sign-in").hidden = true;
      $("console").hidden = false;
      $("who").textContent = signedInAtProvider() ? `${staff.id} · ${staff.role} · ${staff.jurisdiction}` : (key() || "").split(".")[0];
      showRules(rules);
      await Promise.all([chart(), appeals(), riskAreas()]);
    } catch (error) {
      sessionStorage.removeItem(KEY);
      showSignIn();
      if (error.status) $("key-error").textContent = error.message;
    }
  }

  async function chart() {
    try {
      const response = await fetch("/v1/dashboard/colors.svg", { headers: authHeaders(), credentials: "same-origin" });
      if (!response.ok) throw new Error(response.statusText);
      const svg = new DOMParser().parseFromString(await response.text(), "image/svg+xml").documentElement;
      $("chart").replaceChildren(document.importNode(svg, true));
    } catch (error) { $("chart").textContent = error.message; }
  }

  async function appeals() {
    const list = $("appeals");
    list.replaceChildren();
    let body;
    try { body = await call("/v1/appeals"); } catch (error) { list.append(el("li", {}, error.message)); return; }
    if (!body.appeals.length) list.append(el("li", {}, t("noRecent")));
    for (const appeal of body.appeals) {
      const item = el("li", { "data-appeal": appeal.id },
        el("strong", {}, `${appeal.resolved ? t("resolved") : t("pending")} · ${appeal.id}`), el("br"),
        `${appeal.pid} · ${t(appeal.color_at_filing)} · ${when(appeal.filed_at)}`, el("br"), appeal.text);
      if (appeal.resolved) {
        item.append(el("br"), el("em", {}, `${appeal.resolved.by}: ${appeal.resolved.note}`));
      } else {
        const id = `note-${appeal.id}`;
        const input = el("input", { id, "aria-label": "note" });
        const button = el("button", { type: "button" }, t("resolve"));
        button.addEventListener("click", async () => {
          if (!input.value.trim()) { input.focus(); return; }
          try { await call(`/v1/appeals/${encodeURIComponent(appeal.id)}/resolve`, { method: "POST", body: { note: input.value.trim() } }); await appeals(); }
          catch (error) { item.append(el("p", { class: "error" }, error.message)); }
        });
        item.append(el("label", { for: id }, document.querySelector("label[for=preview-body]") ? (YMT.lang === "en" ? "Resolution note" : "处理意见") : "note"), input, button);
      }
      list.append(item);
    }
  }

  function showRules(rules) {
    const list = $("rule-versions");
    list.replaceChildren();
    for (const version of rules.versions) {
      list.append(el("li", {}, `${version.id} ${version.version}${version.version === rules.current ? " ✓" : ""} · ${version.rules} rules · ${when(version.valid_from)}`));
    }
    const versions = rules.versions.map((v) => v.version);
    $("diff-from").value = versions[0] || "";
    $("diff-to").value = versions[versions.length - 1] || "";
  }

  // Risk areas: the designation form, the table of designations and the
  // approvals queue. A designation larger than one community comes back 202
  // with a pending action; national admins other than the proposer decide it.
  const me = () => (signedInAtProvider() ? staff.id : (key() || "").split(".")[0].replace(/^ymt_/, ""));
  const rfc3339 = (local) => new Date(local).toISOString().replace(/\.\d{3}Z$/, "Z");
  const localInput = (date) => {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  };
  const areaOf = (request) => request.region || (request.venues || []).join(", ");

  function impactList(impact) {
    const list = el("ul", { class: "impact" },
      el("li", {}, `${t("personsReached")}: `, el("strong", { "data-reached": "" }, String(impact.persons_reached))),
      el("li", {}, `${t("personsChanging")}: `, el("strong", { "data-changing": "" }, String(impact.persons_changing))));
    for (const [transition, count] of Object.entries(impact.transitions || {})) {
      list.append(el("li", {}, `${transition.split("->").map((c) => t(c).split(" ·")[0]).join(" → ")}: ${count}`));
    }
    return list;
  }

  async function riskAreas() {
    const panel = $("risk-areas");
    let body;
    try { body = await call("/v1/risk-areas"); } catch (error) {
      panel.replaceChildren(el("p", { class: "muted", "data-unavailable": "true" }, error.status === 404 || error.status === 405 ? t("notAvailable") : error.message));
      $("risk-form").hidden = true;
      return;
    }
    const areas = body.risk_areas || [];
    if (!areas.length) { panel.replaceChildren(el("p", { class: "muted" }, t("noRecent"))); }
    else {
      const head = el("tr", {}, ...["area", "level", "window", "status", "designatedBy", "reason"].map((k) => el("th", { scope: "col" }, t(k))));
      const rows = areas.map((area) => el("tr", { "data-area": area.request.id, "data-status": area.status },
        el("td", {}, areaOf(area.request)), el("td", {}, t(area.request.level)),
        el("td", {}, `${when(area.request.from)} – ${when(area.request.until)}`),
        el("td", {}, t(area.status === "pending" ? "status_pending" : area.status)),
        el("td", {}, area.designated_by), el("td", {}, area.request.reason)));
      panel.replaceChildren(el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows))));
    }
    await pendingActions();
  }

  async function pendingActions() {
    const list = $("pending");
    let body;
    try { body = await call("/v1/pending?status=pending"); } catch (error) {
      // Roles that may not list pending actions simply do not see the list.
      $("pending-panel").hidden = true;
      return;
    }
    $("pending-panel").hidden = false;
    list.replaceChildren();
    if (!body.pending.length) list.append(el("li", { class: "muted" }, t("noPending")));
    for (const pending of body.pending) {
      const request = pending.action.request;
      const item = el("li", { "data-pending": pending.id },
        el("strong", {}, `${pending.action.kind === "risk_area" ? `${areaOf(request)} · ${t(request.level)}` : pending.action.kind} · ${pending.id}`), el("br"),
        `${t("proposer")}: ${pending.proposer} · ${when(pending.proposed_at)}`, el("br"),
        `${t("heldBecause")}: ${pending.held_because.join("; ")}`, impactList(pending.impact));
      // The proposer may never decide their own action, and an authority
      // only sees its own proposals, so the buttons are for the others.
      if (pending.proposer !== me()) {
        for (const verb of ["approve", "reject"]) {
          const button = el("button", { type: "button", class: verb === "reject" ? "secondary" : "", "data-verb": verb }, t(verb));
          button.addEventListener("click", async () => {
            try {
              const done = await call(`/v1/pending/${encodeURIComponent(pending.id)}:${verb}`, { method: "POST" });
              const result = $("risk-result");
              result.replaceChildren(el("p", { "data-status": done.pending.status },
                el("strong", {}, t(verb === "approve" ? "riskApproved" : "riskRejected")), ` · ${pending.id}`,
                verb === "approve" ? ` · ${t("personsReached")}: ${done.pending.persons_reached}` : ""));
              await riskAreas();
            } catch (error) { item.append(el("p", { class: "error", role: "alert" }, error.message)); }
          });
          item.append(button, " ");
        }
      }
      list.append(item);
    }
  }

  function riskFormDefaults() {
    const now = new Date();
    $("risk-from").value = localInput(new Date(now.getTime() - 14 * 86400000));
    $("risk-until").value = localInput(new Date(now.getTime() + 86400000));
  }

  $("risk-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = $("risk-result");
    const region = $("risk-region").value.trim();
    const venues = $("risk-venues").value.split(/[\s,，]+/).filter(Boolean);
    if (!region && !venues.length) {
      result.replaceChildren(el("p", { class: "error", role: "alert" }, t("needArea")));
      $("risk-region").focus();
      return;
    }
    const request = { id: YMT.randomId("area-"), level: $("risk-level").value, from: rfc3339($("risk-from").value),
      until: rfc3339($("risk-until").value), reason: $("risk-reason").value.trim() };
    if (region) request.region = region;
    if (venues.length) request.venues = venues;
    try {
      const body = await call("/v1/risk-areas", { method: "POST", body: request });
      const held = body.status === "pending";
      const out = el("div", held ? { "data-status": body.status, "data-pending-id": body.pending.id } : { "data-status": body.status },
        el("p", {}, el("strong", {}, t(held ? "riskHeld" : "riskApplied")), ` · ${held ? body.pending.id : request.id}`));
      if (held) out.append(el("p", {}, `${t("heldBecause")}: ${body.pending.held_because.join("; ")}`), impactList(body.pending.impact));
      else out.append(el("p", {}, `${t("personsReached")}: ${body.persons_reached}`), impactList(body.impact));
      result.replaceChildren(out);
      await riskAreas();
    } catch (error) {
      result.replaceChildren(el("p", { class: "error", role: "alert" }, error.message));
    }
  });
  riskFormDefaults();

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("key-error").textContent = "";
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    start();
  });
  $("console-sign-out").addEventListener("click", async () => {
    sessionStorage.removeItem(KEY);
    if (signedInAtProvider()) {
      // RP-initiated logout: end the session here, then at the provider.
      try {
        const out = await YMT.api("/v1/console/session", { method: "DELETE" });
        if (out && out.logout_url) { location.assign(out.logout_url); return; }
      } catch { /* the session expires anyway */ }
    }
    location.reload();
  });
  $("lookup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("lookup-result");
    try {
      const body = await call(`/v1/persons/${encodeURIComponent($("lookup-pid").value.trim())}/timeline`);
      const decision = body.decision || {};
      const events = el("ul");
      for (const record of body.events) {
        const e = record.event;
        events.append(el("li", {}, `${when(e.recorded_at)} · ${t(e.kind)} · ${record.region}`));
      }
      out.replaceChildren(el("p", { class: decision.color || "" }, el("span", { class: "color-label" }, t(decision.color)), " ", body.masked_name || ""), events);
    } catch (error) {
      out.replaceChildren(el("p", { class: "error", role: "alert" }, error.status === 404 ? t("notFound") : error.message));
    }
  });
  $("diff-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const diff = await call(`/v1/rule-sets:diff?from=${encodeURIComponent($("diff-from").value)}&to=${encodeURIComponent($("diff-to").value)}`);
      $("diff-result").textContent = JSON.stringify(diff, null, 1);
    } catch (error) { $("diff-result").textContent = error.message; }
  });
  $("preview").addEventListener("click", async () => {
    try {
      const body = await call("/v1/rule-sets:preview", { method: "POST", body: $("preview-body").value });
      $("preview-result").textContent = (body.summary || []).join("\n");
    } catch (error) { $("preview-result").textContent = error.message; }
  });
  // Service rule sets (held for a second national admin) and venue
  // profiles (parameters only, inside the rule set's bounds).
  const svc = () => $("svc-name").value;
  const showJson = (id, value) => { $(id).textContent = JSON.stringify(value, null, 1); };
  $("svc-show").addEventListener("click", async () => {
    const venue = $("svc-venue").value.trim();
    try {
      const query = venue ? `?venue=${encodeURIComponent(venue)}` : "";
      const body = await call(`/v1/services/${svc()}/rule-set${query}`);
      showJson("svc-current", { version: body.rule_set.version, parameters: body.parameters || null, profile: body.profile });
      if (!$("svc-document").value.trim()) $("svc-document").value = JSON.stringify(body.rule_set, null, 1);
    } catch (error) { $("svc-current").textContent = error.message; }
  });
  $("svc-propose").addEventListener("click", async () => {
    try {
      showJson("svc-result", await call(`/v1/services/${svc()}/rule-sets`, { method: "POST", body: $("svc-document").value,
        headers: { "Content-Type": "application/json" } }));
    } catch (error) { $("svc-result").textContent = error.message; }
  });
  $("svc-profile").addEventListener("click", async () => {
    const venue = $("svc-venue").value.trim();
    try {
      showJson("svc-result", await call(`/v1/services/${svc()}/venues/${encodeURIComponent(venue)}/profile`, {
        method: "POST", body: $("svc-document").value, headers: { "Content-Type": "application/json" } }));
    } catch (error) { $("svc-result").textContent = error.message; }
  });
  (async () => {
    try { staff = await YMT.api("/v1/console/session"); } catch { staff = null; }
    if (signedInAtProvider() || key()) start();
    else showSignIn();
  })();
})();
