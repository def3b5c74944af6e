// Authority console: signed in through the identity provider (an HttpOnly
// session cookie the page never sees) or, on a node without one (the demo),
// with an API key in sessionStorage; dashboard chart rendered by the server;
// appeals queue; person lookup; rule-set versions with diff and impact
// preview; risk areas when the node offers them. The server enforces role
// and jurisdiction on every call.
"use strict";
(() => {
  const { when, el } = YMT;
  const $ = (id) => document.getElementById(id);
  // Labels of the console's own parts (designation preview and lift, rule
  // diffs and previews); the rest come from the shared dictionary.
  const consoleWords = YMT.lang === "en" ? {
    previewTitle: "Preview: nothing is applied until you confirm", confirmDesignation: "Confirm and designate", cancel: "Cancel",
    wouldHold: "Would be held for a second national admin", ofPopulation: "of", persons: "persons", lift: "Lift early",
    liftReason: "Why it is lifted", liftConfirm: "Confirm the lift", lifted: "Lifted", liftHeld: "Lift held for a second national admin",
    liftApplied: "Lifted", risk_area_lift: "Lift of", change: "Change", rule: "Rule / parameter", before: "Before", after: "After",
    rulesAdded: "Rule added", rulesRemoved: "Rule removed", rulesChanged: "Rule changed", parameter: "Parameter", noDiff: "No difference",
    publishedVersion: "published", proposedVersion: "proposed, awaiting approval", previewVersion: "Version to preview",
    changing: "would change color", actions: "Actions", noWindow: "Enter the window (from and until): there is no default",
    publishHeld: "Proposed: awaiting a second national admin",
    duplicates: "same grounds filed", atFiling: "at filing", upheld: "Upheld", overturned: "Overturned",
    outcome: "Outcome", causedBy: "Override or retraction that corrected it (event id, for overturned)", note: "Resolution note",
    simulating: "Simulating: day {done} of {total}", simulated: "Simulated {persons} persons for {days} days, {seeds} seeds, in {seconds} s (the real node in the loop; larger cities: yimatong simulate policy)",
    simulationFailed: "The simulation failed", epidemicChart: "New infections per day", restrictedChart: "Persons restricted per day",
  } : {
    previewTitle: "预览：确认前不会生效", confirmDesignation: "确认划定", cancel: "取消",
    wouldHold: "将提交另一名国家管理员审批", ofPopulation: "/", persons: "人", lift: "提前解除",
    liftReason: "解除理由", liftConfirm: "确认解除", lifted: "已解除", liftHeld: "解除已提交另一名国家管理员审批",
    liftApplied: "已解除", risk_area_lift: "解除", change: "变更", rule: "规则 / 参数", before: "变更前", after: "变更后",
    rulesAdded: "新增规则", rulesRemoved: "删除规则", rulesChanged: "修改规则", parameter: "参数", noDiff: "无差异",
    publishedVersion: "已发布", proposedVersion: "待审批", previewVersion: "预估版本",
    changing: "将变色", actions: "操作", noWindow: "请填写起止时间（无默认值）",
    publishHeld: "已提交，待另一名国家管理员批准",
    duplicates: "相同理由重复提交", atFiling: "申诉时", upheld: "维持原码", overturned: "已纠正",
    outcome: "处理结果", causedBy: "纠正所用的改码或撤回事件编号（纠正时填写）", note: "处理意见",
    simulating: "模拟中：第 {done} / {total} 天", simulated: "已模拟 {persons} 人、{days} 天、{seeds} 个随机种子，用时 {seconds} 秒（真实节点参与；更大规模请用 yimatong simulate policy）",
    simulationFailed: "模拟失败", epidemicChart: "每日新增感染", restrictedChart: "每日受限人数",
  };
  const t = (key) => consoleWords[key] || YMT.t(key);
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
      if (!chartTimer) chartTimer = setInterval(chart, 60000);
    } catch (error) {
      sessionStorage.removeItem(KEY);
      showSignIn();
      if (error.status) $("key-error").textContent = error.message;
    }
  }

  // The chart in the page's language, for the jurisdiction or one region
  // in it; redrawn every minute while the console is open.
  async function chart() {
    try {
      const region = $("chart-region").value.trim();
      const query = `?lang=${YMT.lang === "en" ? "en" : "zh-CN"}${region ? `&region=${encodeURIComponent(region)}` : ""}`;
      const response = await fetch(`/v1/dashboard/colors.svg${query}`, { headers: authHeaders(), credentials: "same-origin" });
      if (!response.ok) throw new Error(response.statusText);
      const svg = new DOMParser().parseFromString(await response.text(), "image/svg+xml").documentElement;
      $("chart").replaceChildren(document.importNode(svg, true));
    } catch (error) { $("chart").textContent = error.message; }
    // The jurisdiction's venues and risk areas, drawn by the node (every
    // text in it escaped there).
    try {
      const response = await fetch(`/v1/dashboard/map.svg?lang=${YMT.lang === "en" ? "en" : "zh-CN"}`, { headers: authHeaders(), credentials: "same-origin" });
      if (!response.ok) throw new Error(response.statusText);
      const map = new DOMParser().parseFromString(await response.text(), "image/svg+xml").documentElement;
      $("venue-map").replaceChildren(document.importNode(map, true));
    } catch (error) { $("venue-map").textContent = error.message; }
  }

  let chartTimer = null;
  $("chart-form").addEventListener("submit", (event) => { event.preventDefault(); chart(); });

  // The appeals queue: each person's masked name and current color; the
  // same grounds filed again are grouped under one entry; a resolution has
  // an outcome, and an overturned one names the override or retraction
  // (posted first) that corrected the color.
  async function appeals() {
    const list = $("appeals");
    list.replaceChildren();
    let body;
    try { body = await call("/v1/appeals"); } catch (error) { list.append(el("li", {}, error.message)); return; }
    if (!body.appeals.length) list.append(el("li", {}, t("noRecent")));
    const groups = new Map();
    for (const appeal of body.appeals) {
      const key = `${appeal.pid}\u0000${appeal.text.trim().replace(/\s+/g, " ")}\u0000${appeal.resolved ? "r" : "o"}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(appeal);
    }
    for (const group of groups.values()) {
      const appeal = group[0];
      const color = appeal.current_color || "";
      const item = el("li", { "data-appeal": appeal.id, "data-duplicates": String(group.length) },
        el("strong", {}, `${appeal.resolved ? t("resolved") : t("pending")} · ${appeal.masked_name || appeal.pid}`),
        group.length > 1 ? el("span", { class: "muted" }, ` · ${t("duplicates")} ×${group.length}`) : "", el("br"),
        el("span", { class: color }, el("span", { class: "color-label small" }, t(color).split(" ·")[0] || "—")),
        ` ${t("atFiling")}: ${t(appeal.color_at_filing).split(" ·")[0]} · ${when(appeal.filed_at)} · ${appeal.pid}`, el("br"), appeal.text);
      if (appeal.resolved) {
        const r = appeal.resolved;
        item.append(el("br"), el("em", { "data-outcome": r.outcome || "" },
          `${r.outcome ? t(r.outcome) : t("resolved")}${r.caused ? ` → ${r.caused}` : ""} · ${r.by}: ${r.note}`));
      } else {
        const id = `note-${appeal.id}`;
        const input = el("input", { id, maxlength: "2000" });
        const outcome = el("select", { id: `outcome-${appeal.id}` },
          el("option", { value: "upheld" }, t("upheld")), el("option", { value: "overturned" }, t("overturned")));
        const caused = el("input", { id: `caused-${appeal.id}`, maxlength: "64", autocomplete: "off" });
        const button = el("button", { type: "button" }, t("resolve"));
        button.addEventListener("click", async () => {
          if (!input.value.trim()) { input.focus(); return; }
          const request = { note: input.value.trim(), outcome: outcome.value };
          if (outcome.value === "overturned") {
            if (!caused.value.trim()) { caused.focus(); return; }
            request.caused = caused.value.trim();
          }
          try {
            // Duplicates are resolved together, with the same outcome.
            for (const one of group) await call(`/v1/appeals/${encodeURIComponent(one.id)}/resolve`, { method: "POST", body: request });
            await appeals();
          } catch (error) { item.append(el("p", { class: "error", role: "alert" }, error.message)); }
        });
        item.append(el("label", { for: outcome.id }, t("outcome")), outcome,
          el("label", { for: caused.id }, t("causedBy")), caused,
          el("label", { for: id }, t("note")), input, button);
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
    for (const id of ["diff-from", "diff-to"]) {
      $(id).replaceChildren(...versions.map((v) => el("option", { value: v }, v)));
    }
    $("diff-from").value = versions.length > 1 ? versions[versions.length - 2] : versions[0] || "";
    $("diff-to").value = versions[versions.length - 1] || "";
    previewVersions(versions, rules.current);
  }

  // The impact preview picks a published version or a proposal awaiting
  // approval; pasting a document stays possible for drafts.
  async function previewVersions(versions, current) {
    const select = $("preview-version");
    const options = versions.filter((v) => v !== current).map((v) => el("option", { value: `published:${v}` }, `${v} · ${t("publishedVersion")}`));
    try {
      const body = await call("/v1/pending?status=pending");
      for (const pending of body.pending.filter((p) => p.action.kind === "rule_set" || p.action.kind === "profile")) {
        options.push(el("option", { value: `pending:${pending.id}` }, `${pending.action.request.id} · ${t("proposedVersion")}`));
        proposals.set(pending.id, pending.action.request.document);
      }
    } catch { /* roles that may not list pending actions preview published versions */ }
    select.replaceChildren(el("option", { value: "" }, "—"), ...options);
  }
  const proposals = new Map();

  function diffTable(diff) {
    const rows = [];
    for (const [key, label] of [["rules_added", "rulesAdded"], ["rules_removed", "rulesRemoved"], ["rules_changed", "rulesChanged"]]) {
      for (const id of diff[key] || []) rows.push(el("tr", {}, el("td", {}, t(label)), el("td", {}, id), el("td", {}, ""), el("td", {}, "")));
    }
    const spec = (value) => (value ? `${value.default} (${value.min}–${value.max}) ${value.unit}` : "—");
    for (const p of diff.parameters || []) {
      rows.push(el("tr", { "data-diff-parameter": p.name }, el("td", {}, `${t("parameter")} · ${p.change}`), el("td", {}, p.name), el("td", {}, spec(p.from)), el("td", {}, spec(p.to))));
    }
    if (!rows.length) return el("p", { class: "muted" }, t("noDiff"));
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("change") }, el("table", {},
      el("thead", {}, el("tr", {}, ...["change", "rule", "before", "after"].map((k) => el("th", { scope: "col" }, t(k))))),
      el("tbody", {}, ...rows)));
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
      const head = el("tr", {}, ...["area", "level", "window", "status", "designatedBy", "reason", "actions"].map((k) => el("th", { scope: "col" }, t(k))));
      const rows = areas.map((area) => el("tr", { "data-area": area.request.id, "data-status": area.status },
        el("td", {}, areaOf(area.request)), el("td", {}, t(area.request.level)),
        el("td", {}, `${when(area.request.from)} – ${when(area.lifted ? area.lifted.at : area.request.until)}`),
        el("td", {}, t(area.status === "pending" ? "status_pending" : area.status),
          area.lifted ? el("small", {}, el("br"), `${area.lifted.by}: ${area.lifted.reason}`) : ""),
        el("td", {}, area.designated_by), el("td", {}, area.request.reason), liftCell(area)));
      panel.replaceChildren(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("area") }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows))));
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
        el("strong", {}, `${pending.action.kind === "risk_area" ? `${areaOf(request)} · ${t(request.level)}`
          : pending.action.kind === "risk_area_lift" ? `${t("risk_area_lift")} ${request.id}` : pending.action.kind} · ${pending.id}`), el("br"),
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

  // A designation is previewed first (who it reaches, whose color changes,
  // whether it would be held) and applied only on a second, explicit
  // confirmation of exactly the previewed request. The window has no
  // default: an authority states it.
  function riskRequest() {
    const region = $("risk-region").value.trim();
    const venues = $("risk-venues").value.split(/[\s,，]+/).filter(Boolean);
    if (!region && !venues.length) return { error: t("needArea"), focus: "risk-region" };
    if (!$("risk-from").value || !$("risk-until").value) return { error: t("noWindow"), focus: $("risk-from").value ? "risk-until" : "risk-from" };
    const request = { id: YMT.randomId("area-"), level: $("risk-level").value, from: rfc3339($("risk-from").value),
      until: rfc3339($("risk-until").value), reason: $("risk-reason").value.trim() };
    if (region) request.region = region;
    if (venues.length) request.venues = venues;
    return { request };
  }

  function populationLine(impact, population) {
    return el("p", { "data-population": String(population) }, el("strong", {}, `${impact.persons_changing} ${t("ofPopulation")} ${population}`),
      ` ${t("persons")} ${t("changing")}`);
  }

  async function designate(request) {
    const result = $("risk-result");
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
  }

  $("risk-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = $("risk-result");
    const { request, error, focus } = riskRequest();
    if (error) {
      result.replaceChildren(el("p", { class: "error", role: "alert" }, error));
      $(focus).focus();
      return;
    }
    try {
      const preview = await call("/v1/risk-areas:preview", { method: "POST", body: request });
      const confirm = el("button", { type: "button", id: "risk-confirm" }, t("confirmDesignation"));
      const cancel = el("button", { type: "button", class: "secondary", id: "risk-cancel" }, t("cancel"));
      confirm.addEventListener("click", () => { confirm.disabled = true; designate(request); });
      cancel.addEventListener("click", () => result.replaceChildren());
      const box = el("div", { "data-preview": request.id, class: "preview" },
        el("h4", {}, t("previewTitle")),
        el("p", {}, `${areaOf(request)} · ${t(request.level)} · ${when(request.from)} – ${when(request.until)}`),
        populationLine(preview.impact, preview.population), impactList(preview.impact));
      if (preview.held_because.length) box.append(el("p", { "data-would-hold": "" }, `${t("wouldHold")}: ${preview.held_because.join("; ")}`));
      box.append(confirm, " ", cancel);
      result.replaceChildren(box);
      confirm.focus();
    } catch (failure) {
      result.replaceChildren(el("p", { class: "error", role: "alert" }, failure.message));
    }
  });

  // Lifting a designation early: a reason, then an explicit confirmation.
  // A large area's lift comes back held for a second national admin.
  function liftCell(area) {
    const cell = el("td", {});
    if (area.status !== "in_force") return cell;
    const open = el("button", { type: "button", class: "secondary", "data-lift": area.request.id }, t("lift"));
    open.addEventListener("click", () => {
      const id = `lift-reason-${area.request.id}`;
      const input = el("input", { id, maxlength: "500", autocomplete: "off", required: "" });
      const confirm = el("button", { type: "button", "data-lift-confirm": area.request.id }, t("liftConfirm"));
      const out = el("p", { role: "status" });
      confirm.addEventListener("click", async () => {
        if (!input.value.trim()) { input.focus(); return; }
        try {
          const body = await call(`/v1/risk-areas/${encodeURIComponent(area.request.id)}:lift`, { method: "POST", body: { reason: input.value.trim() } });
          const held = body.status === "pending";
          $("risk-result").replaceChildren(el("p", { "data-lift-status": body.status },
            el("strong", {}, t(held ? "liftHeld" : "liftApplied")), ` · ${area.request.id}`));
          await riskAreas();
        } catch (error) { out.replaceChildren(el("span", { class: "error", role: "alert" }, error.message)); }
      });
      cell.replaceChildren(el("label", { for: id }, t("liftReason")), input, confirm, out);
      input.focus();
    });
    cell.append(open);
    return cell;
  }

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
  // Person lookup: an ID number is resolved to its pseudonym first (the
  // node audits both reads); the timeline lists each event with its details
  // and marks the events the fired rules rest on, the rules translated.
  const localized = (text) => (text ? (YMT.lang === "en" ? text.en : text["zh-CN"]) : "");
  const venueNames = new Map();
  async function venueName(id) {
    if (!venueNames.has(id)) {
      venueNames.set(id, call(`/v1/venues/${encodeURIComponent(id)}`).then((v) => v.name || id, () => id));
    }
    return venueNames.get(id);
  }
  async function eventDetails(e) {
    const d = e.data || {};
    switch (e.kind) {
      case "test_result": return [d.test && d.test.toUpperCase(), t(d.result), d.sampled_at && when(d.sampled_at)].filter(Boolean).join(" · ");
      case "check_in": return `${await venueName(d.venue)} · ${when(d.entered_at)}${d.left_at ? ` – ${when(d.left_at)}` : ""}`;
      case "vaccination": return [d.product, d.dose && `#${d.dose}`, d.administered_at && when(d.administered_at)].filter(Boolean).join(" · ");
      case "override": case "retraction": return [d.color && t(d.color), d.reason, d.target].filter(Boolean).join(" · ");
      default: return Object.entries(d).slice(0, 4).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ");
    }
  }
  $("lookup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("lookup-result");
    try {
      let pid = $("lookup-pid").value.trim();
      const idNumber = $("lookup-id-number").value.trim();
      if (idNumber) {
        const resolved = await call("/v1/persons:resolve", { method: "POST", body: { id_type: $("lookup-id-type").value, id_number: idNumber } });
        pid = resolved.pid;
        $("lookup-pid").value = pid;
      }
      if (!pid) { $("lookup-id-number").focus(); return; }
      const body = await call(`/v1/persons/${encodeURIComponent(pid)}/timeline`);
      const decision = body.decision || {};
      const evidence = new Map();
      for (const rule of decision.fired || []) for (const id of rule.evidence || []) evidence.set(id, rule.rule_id);
      const fired = el("ul", { class: "fired" }, ...(decision.fired || []).map((rule) =>
        el("li", { "data-rule": rule.rule_id }, el("strong", {}, `${rule.rule_id} · ${t(rule.color).split(" ·")[0]}`), el("br"),
          localized(rule.description), el("br"), el("small", {}, localized(rule.clears)))));
      const events = el("ul", { class: "list" });
      for (const record of body.events) {
        const e = record.event;
        const rule = evidence.get(e.id);
        events.append(el("li", { "data-event": e.id }, `${when(e.recorded_at)} · ${t(e.kind)} · ${await eventDetails(e)} · ${record.region}`,
          rule ? el("strong", {}, ` ← ${rule}`) : ""));
      }
      // A printed code (纸质码) for a person without a phone, A6 or A4.
      const printHref = (size) => `/print?pid=${encodeURIComponent(pid)}&size=${size}&lang=${YMT.lang}`;
      const printLinks = el("p", { class: "print-links" }, `${YMT.lang === "en" ? "Print a paper code" : "打印纸质码"}: `,
        el("a", { href: printHref("a6"), id: "lookup-print-a6" }, "A6"), " · ", el("a", { href: printHref("a4"), id: "lookup-print-a4" }, "A4"));
      out.replaceChildren(el("p", { class: decision.color || "" }, el("span", { class: "color-label" }, t(decision.color)), " ", body.masked_name || "", el("br"), el("small", { class: "muted" }, pid)),
        printLinks, fired, events);
    } catch (error) {
      out.replaceChildren(el("p", { class: "error", role: "alert" }, error.status === 404 ? t("notFound") : error.message));
    }
  });
  $("diff-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const diff = await call(`/v1/rule-sets:diff?from=${encodeURIComponent($("diff-from").value)}&to=${encodeURIComponent($("diff-to").value)}`);
      $("diff-result").replaceChildren(diffTable(diff));
    } catch (error) { $("diff-result").textContent = error.message; }
  });
  $("preview").addEventListener("click", async () => {
    const out = $("preview-result");
    try {
      const body = await call("/v1/rule-sets:preview", { method: "POST", body: await chosenDocument(), headers: { "Content-Type": "application/json" } });
      const report = body.impact || {};
      out.replaceChildren(el("p", { "data-changed": String(report.persons_changed) },
        el("strong", {}, `${report.persons_changed} ${t("ofPopulation")} ${report.persons_total}`), ` ${t("persons")} ${t("changing")}`),
        el("ul", {}, ...(body.summary || []).map((line) => el("li", {}, line))));
    } catch (error) { out.textContent = error.message; }
  });
  // The document the preview would use: a published version, a proposal
  // awaiting approval, or the pasted draft.
  async function chosenDocument() {
    const chosen = $("preview-version").value;
    if (chosen.startsWith("published:")) return JSON.stringify(await call(`/v1/rule-sets/${encodeURIComponent(chosen.slice(10))}`));
    if (chosen.startsWith("pending:")) return proposals.get(chosen.slice(8)) || "";
    return $("preview-body").value;
  }
  // Simulate before publishing (issue 14): a job on the node, polled; the
  // same table and charts as `yimatong simulate policy`.
  $("simulate").addEventListener("click", async () => {
    const out = $("simulate-result");
    const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
    try {
      const size = new URLSearchParams({ persons: $("simulate-persons").value, days: $("simulate-days").value, seeds: $("simulate-seeds").value, lang: YMT.lang === "en" ? "en" : "zh-CN" });
      const started = await call(`/v1/rule-sets:simulate?${size}`, { method: "POST", body: await chosenDocument(), headers: { "Content-Type": "application/json" } });
      let job = started;
      while (job.state === "running") {
        out.replaceChildren(el("p", { "data-simulation": "running" }, fill(t("simulating"), { done: job.days_done || 0, total: job.days_total || "…" })));
        await new Promise((resolve) => setTimeout(resolve, 1500));
        job = await call(started.poll);
      }
      if (job.state === "failed") { out.replaceChildren(el("p", { class: "error", role: "alert" }, `${t("simulationFailed")}: ${job.error}`)); return; }
      const chart = (svg, label) => {
        const image = el("img", { alt: label, class: "chart" });
        image.src = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
        return image;
      };
      out.replaceChildren(
        el("p", { "data-simulation": "done" }, fill(t("simulated"), job)),
        el("div", { class: "table-wrap", tabindex: "0" }, el("pre", { id: "simulation-table" }, job.table)),
        el("pre", {}, job.goals),
        chart(job.epidemic_svg, t("epidemicChart")),
        chart(job.restricted_svg, t("restrictedChart")));
    } catch (error) { out.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
  });
  // Publishing the pasted draft: a national rule set is always held for a
  // second national admin (the approvals list above), a profile goes
  // through the circuit breaker.
  $("publish").addEventListener("click", async () => {
    const out = $("publish-result");
    const document = $("preview-body").value;
    let kind = "";
    try { kind = JSON.parse(document).kind; } catch { /* the node names the error */ }
    try {
      const body = await call(kind === "parameter-profile" ? "/v1/profiles" : "/v1/rule-sets",
        { method: "POST", body: document, headers: { "Content-Type": "application/json" } });
      const held = body.status === "pending";
      out.replaceChildren(el("p", { "data-status": body.status }, el("strong", {}, held ? t("publishHeld") : t("riskApplied")),
        held ? ` · ${body.pending.id}` : ""));
      await pendingActions();
    } catch (error) { out.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
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
