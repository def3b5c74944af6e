// The printable page of a printed code (纸质码): asks the node to sign one
// for the pid in the address (as the signed-in guardian, or the console's
// staff with the API key the console keeps in this tab), draws it with its
// color in words and a symbol, its issue time and lifetime, and prints.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const en = YMT.lang === "en";
  const words = en
    ? { issued: "Printed at", expires: "Valid until", lifetime: "Lifetime", by: "Printed by", days: "days", hours: "hours",
        guardian: "guardian", health_authority: "health authority", failed: "No printed code", kind: "Printed code" }
    : { issued: "打印时间", expires: "有效至", lifetime: "有效期", by: "打印人", days: "天", hours: "小时",
        guardian: "监护人", health_authority: "卫生健康部门", failed: "无法打印纸质码", kind: "纸质码" };
  const SYMBOL = { green: "✓", yellow: "!", red: "✕" };
  const main = $("main");
  const pid = main.dataset.pid;
  const key = sessionStorage.getItem("ymt.apiKey");
  const headers = key ? { Authorization: `Bearer ${key}` } : {};

  function lifetimeText(secs) {
    return secs % 86400 === 0 ? `${secs / 86400} ${words.days}` : `${Math.round(secs / 3600)} ${words.hours}`;
  }

  async function load() {
    try {
      const code = await YMT.api(`/v1/persons/${encodeURIComponent(pid)}/printed-code`, { method: "POST", headers });
      $("printed-name").textContent = code.masked_name;
      const color = ["green", "yellow", "red"].includes(code.color) ? code.color : "red";
      $("printed-color").className = `printed-color ${color}`;
      $("printed-color").dataset.color = color;
      $("printed-color").textContent = `${SYMBOL[color]} ${code.label[YMT.lang] || code.label["zh-CN"]} · ${words.kind}`;
      const url = URL.createObjectURL(new Blob([code.svg], { type: "image/svg+xml" }));
      $("printed-qr").src = url;
      $("printed-qr").alt = `${words.kind} · ${code.masked_name}`;
      $("printed-qr").dataset.token = code.token;
      $("printed-issued-label").textContent = words.issued;
      $("printed-issued").textContent = YMT.when(code.issued_at);
      $("printed-expires-label").textContent = words.expires;
      // A color that ends before the code ends it early.
      const until = code.valid_until && code.valid_until < code.expires_at ? code.valid_until : code.expires_at;
      $("printed-expires").textContent = YMT.when(until);
      $("printed-lifetime-label").textContent = words.lifetime;
      $("printed-lifetime").textContent = lifetimeText(code.lifetime_secs);
      $("printed-by-label").textContent = words.by;
      $("printed-by").textContent = words[code.printed_by] || code.printed_by;
      $("print-status").hidden = true;
      $("printed").hidden = false;
      $("print-button").disabled = false;
    } catch (error) {
      $("print-status").textContent = words.failed;
      $("print-error").hidden = false;
      $("print-error").textContent = `${words.failed}: ${error.message}`;
    }
  }
  $("print-button").addEventListener("click", () => window.print());
  load();
})();
