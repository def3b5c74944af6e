// 规则公示: the rules in force, for anyone, without sign-in. Renders
// GET /v1/public/rules: the national rules in plain language, every regional
// profile with each parameter beside its national bound, a destination
// picker showing what the rules mean there, and the publication history with
// readable diffs.
"use strict";
(() => {
  const { el, when } = YMT;
  const $ = (id) => document.getElementById(id);
  const en = YMT.lang === "en";
  const words = en ? {
    green: "Green", yellow: "Yellow", red: "Red", when: "When it applies", clears: "How it clears", color: "Color",
    rule: "Rule", parameter: "Parameter", value: "Value here", national: "National default", bounds: "National bounds",
    setHere: "set by the region", region: "Region", version: "Version", validFrom: "In force from", reason: "Reason",
    published: "Published", proposedBy: "Proposed by", approvedBy: "Approved by", noApproval: "shipped with the node or published below the circuit breaker",
    added: "Rules added", removed: "Rules removed", changed: "Rules changed", paramsChanged: "Parameters changed",
    noChange: "No change to rules or parameters", first: "First version", profile: "Regional profile", ruleSet: "National rule set",
    noProfiles: "No region has a profile: the national defaults apply everywhere", from: "Before", to: "After", change: "Change",
    source: "Basis", nationalHere: "No profile for this region: the national rules apply as above.",
  } : {
    green: "绿码", yellow: "黄码", red: "红码", when: "适用情形", clears: "如何转绿", color: "码色",
    rule: "规则", parameter: "参数", value: "本地取值", national: "国家默认值", bounds: "国家允许范围",
    setHere: "地区设定", region: "地区", version: "版本", validFrom: "生效时间", reason: "理由",
    published: "发布时间", proposedBy: "提出者", approvedBy: "批准者", noApproval: "随系统发布，或影响低于熔断阈值而直接发布",
    added: "新增规则", removed: "删除规则", changed: "修改规则", paramsChanged: "参数变更",
    noChange: "规则与参数无变化", first: "首个版本", profile: "地区参数配置", ruleSet: "全国规则集",
    noProfiles: "暂无地区参数配置：各地均适用国家默认值", from: "变更前", to: "变更后", change: "变更",
    source: "依据", nationalHere: "该地区无参数配置：适用上方全国规则。",
  };
  // Units as the rule set names them, in the page's language.
  const UNITS = { hour: "小时", day: "天", minute: "分钟" };
  const unit = (name) => (en ? name : UNITS[name] || name);
  const text = (localized) => (localized ? (en ? localized.en : localized["zh-CN"]) : "");
  // A wide table scrolls in its own box, which keyboard users reach by Tab.
  const table = (headers, rows) => el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": headers.join(" · ") }, el("table", {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows)));
  const colorCell = (color) => el("td", { class: `swatch ${color}` }, words[color] || color);

  function rulesTable(rules) {
    return table([words.rule, words.color, words.when, words.clears], rules.map((rule) =>
      el("tr", { "data-rule": rule.id }, el("td", {}, rule.id), colorCell(rule.color),
        el("td", {}, text(rule.description)), el("td", {}, text(rule.clears)))));
  }

  function parametersTable(parameters) {
    return table([words.parameter, words.value, words.national, words.bounds], parameters.map((p) =>
      el("tr", { "data-parameter": p.name }, el("td", {}, text(p.description) || p.name, el("br"), el("small", { class: "muted" }, p.name)),
        el("td", {}, el("strong", {}, `${p.value} ${unit(p.unit)}`), p.set_by_profile ? ` (${words.setHere})` : ""),
        el("td", {}, `${p.national_default} ${unit(p.unit)}`),
        el("td", { "data-bounds": "" }, `${p.national_min} – ${p.national_max} ${unit(p.unit)}`))));
  }

  function approvalLine(approval) {
    if (!approval) return el("p", { class: "muted" }, words.noApproval);
    return el("p", {}, `${words.proposedBy}: ${approval.proposed_by} · ${words.approvedBy}: ${approval.approved_by || "—"}`,
      approval.approved_at ? ` · ${when(approval.approved_at)}` : "");
  }

  function diffTable(diff) {
    if (!diff) return el("p", { class: "muted" }, words.first);
    const rows = [];
    for (const [key, label] of [["rules_added", words.added], ["rules_removed", words.removed], ["rules_changed", words.changed]]) {
      for (const id of diff[key] || []) rows.push(el("tr", {}, el("td", {}, label), el("td", {}, id), el("td", {}, ""), el("td", {}, "")));
    }
    const describe = (spec) => (spec ? `${spec.default} (${spec.min} – ${spec.max}) ${unit(spec.unit)}` : "—");
    for (const p of diff.parameters || []) {
      rows.push(el("tr", { "data-diff-parameter": p.name }, el("td", {}, words.paramsChanged), el("td", {}, p.name),
        el("td", {}, describe(p.from)), el("td", {}, describe(p.to))));
    }
    if (!rows.length) return el("p", { class: "muted" }, words.noChange);
    return table([words.change, words.rule, words.from, words.to], rows);
  }

  function render(data) {
    const national = data.national;
    $("national").replaceChildren(
      el("p", {}, `${national.id} ${national.version} · ${words.validFrom}: ${when(national.valid_from)}`),
      el("p", {}, text(national.description)),
      rulesTable(national.rules));
    const profiles = $("profiles");
    profiles.replaceChildren();
    if (!data.profiles.length) profiles.append(el("p", { class: "muted" }, words.noProfiles));
    for (const profile of data.profiles) {
      profiles.append(el("section", { "data-profile": profile.region, class: "profile" },
        el("h3", {}, `${words.region} ${profile.region} · ${profile.id} ${profile.version}`),
        el("p", {}, `${words.validFrom}: ${when(profile.valid_from)}`, profile.reason ? ` · ${words.reason}: ${profile.reason}` : ""),
        approvalLine(profile.approval), parametersTable(profile.parameters)));
    }
    const select = $("destination");
    for (const profile of data.profiles) {
      if (![...select.options].some((o) => o.value === profile.region)) select.append(el("option", { value: profile.region }, profile.region));
    }
    const history = $("history");
    history.replaceChildren();
    for (const entry of data.history) {
      const title = entry.kind === "rule-set" ? `${words.ruleSet} ${entry.id} ${entry.version}` : `${words.profile} ${entry.region} · ${entry.id} ${entry.version}`;
      const item = el("article", { class: "history-entry", "data-kind": entry.kind, "data-version": entry.version },
        el("h3", {}, title),
        el("p", {}, `${words.validFrom}: ${when(entry.valid_from)}`, entry.published_at ? ` · ${words.published}: ${when(entry.published_at)}` : ""),
        approvalLine(entry.approval));
      if (entry.kind === "rule-set") item.append(diffTable(entry.diff));
      else item.append(el("p", {}, Object.entries(entry.parameters || {}).map(([k, v]) => `${k} = ${v}`).join(", ")));
      history.append(item);
    }
    showDestination(data);
    select.onchange = () => showDestination(data);
  }

  function showDestination(data) {
    const region = $("destination").value;
    const out = $("destination-rules");
    const profile = data.profiles.find((p) => p.region === region);
    if (!profile) {
      out.replaceChildren(el("p", { class: "muted" }, region ? words.nationalHere : ""));
      return;
    }
    out.replaceChildren(el("p", {}, `${words.region} ${profile.region} · ${profile.id} ${profile.version}`), rulesTable(profile.rules));
  }

  YMT.api("/v1/public/rules").then(render).catch((error) => {
    $("national").replaceChildren(el("p", { class: "error", role: "alert" }, error.message));
  });
})();
