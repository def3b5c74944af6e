// Authority console: API key in sessionStorage; dashboard chart rendered by
// the server; appeals queue; person lookup; rule-set versions with diff and
// impact preview; risk areas when the node offers them. Every call carries
// the key, so the server enforces role and jurisdiction.
"use strict";
(() => {
  const { t, when, el } = YMT;
  const $ = (id) => document.getElementById(id);
  const KEY = "ymt.apiKey";
  const key = () => sessionStorage.getItem(KEY);
  const call = (path, options = {}) =>
    YMT.api(path, Object.assign({}, options, { headers: Object.assign({ Authorization: `Bearer ${key()}` }, options.headers || {}) }));

  async function start() {
    try {
      const rules = await call("/v1/rule-sets");
      $("key-form").hidden = true;
      $("console").hidden = false;
      $("who").textContent = (key() || "").split(".")[0];
      showRules(rules);
      await Promise.all([chart(), appeals(), riskAreas()]);
    } catch (error) {
      sessionStorage.removeItem(KEY);
      $("key-form").hidden = false;
      $("console").hidden = true;
      if (error.status) $("key-error").textContent = error.message;
    }
  }

  async function chart() {
    try {
      const response = await fetch("/v1/dashboard/colors.svg", { headers: { Authorization: `Bearer ${key()}` } });
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

  async function riskAreas() {
    const panel = $("risk-areas");
    try {
      const areas = await call("/v1/risk-areas");
      panel.replaceChildren(el("pre", {}, JSON.stringify(areas, null, 1)));
    } catch (error) {
      panel.replaceChildren(el("p", { class: "muted", "data-unavailable": "true" }, error.status === 404 || error.status === 405 ? t("notAvailable") : error.message));
    }
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("key-error").textContent = "";
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    start();
  });
  $("console-sign-out").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
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
  if (key()) start();
})();
