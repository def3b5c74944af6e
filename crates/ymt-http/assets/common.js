// Shared helpers: language, dictionary for dynamic text, time formatting,
// JSON fetch with problem+json errors, and the offline banner.
"use strict";
const YMT = (() => {
  const lang = document.documentElement.lang === "en" ? "en" : "zh-CN";
  const dict = {
    "zh-CN": {
      green: "绿码 · 通行", yellow: "黄码 · 限制通行", red: "红码 · 隔离或治疗中", cannot_compute: "无法计算 · 请人工核验",
      invalid: "无效码", offline: "网络不可用：显示的是最后一次获取的码", expires: "码有效至",
      refreshIn: "秒后刷新", noReasons: "无", noRecent: "无记录", clearsNever: "当前无限制", clearsUnscheduled: "无预定转绿时间，见上方原因",
      clearsAt: "预计转绿时间", appealFiled: "申诉已提交，编号", signInFailed: "登录失败",
      expired: "码已过期", notYetValid: "码尚未生效", badSignature: "签名无效", unknownKid: "未知签发密钥",
      malformed: "码格式错误", checkedIn: "已登记入场", checkinFailed: "登记失败", needKey: "请先在设备设置中填写验码设备密钥",
      offlineVerify: "离线核验（本地信任列表）", resolve: "处理", resolved: "已处理", pending: "待处理",
      notAvailable: "本节点不提供此功能", notFound: "未找到（或不在您的辖区）", colorExpired: "码颜色已失效",
      keyRevoked: "签发密钥已吊销", lifetimeTooLong: "码有效期过长", trustListStale: "信任列表已过期，请联网更新",
      test_result: "核酸/抗原检测", check_in: "场所登记", positive: "阳性", negative: "阴性",
      scanUnsupported: "此浏览器不支持摄像头扫码，请粘贴码文本", me: "本人",
      high: "高风险", medium: "中风险", low: "低风险", in_force: "生效中", status_pending: "待审批", rejected: "已驳回",
      riskApplied: "已生效", riskHeld: "范围超过一个社区，已提交国家管理员审批", riskApproved: "已批准并生效", riskRejected: "已驳回",
      personsReached: "涉及人数", personsChanging: "将变色人数", eventsStored: "写入事件数", heldBecause: "暂缓原因",
      approve: "批准", reject: "驳回", area: "区域", level: "等级", window: "时间段", status: "状态", designatedBy: "划定者",
      reason: "理由", proposer: "提出者", noPending: "无待审批事项", needArea: "请填写地区代码或场所编号",
      noConsents: "未授权任何医院", consentGiven: "已授权", consentRevoked: "已撤销授权", revoke: "撤销",
      allowed: "允许探视", refused: "不予探视",
    },
    en: {
      green: "Green · no restriction", yellow: "Yellow · restricted", red: "Red · quarantine or isolation", cannot_compute: "Cannot be computed · check in person",
      invalid: "Invalid code", offline: "Offline: showing the last code fetched", expires: "Code valid until",
      refreshIn: "s to refresh", noReasons: "None", noRecent: "Nothing recorded", clearsNever: "No restriction now", clearsUnscheduled: "No set time; see the reasons above",
      clearsAt: "Expected to clear at", appealFiled: "Appeal filed, number", signInFailed: "Sign-in failed",
      expired: "Code expired", notYetValid: "Code not yet valid", badSignature: "Bad signature", unknownKid: "Unknown signing key",
      malformed: "Malformed code", checkedIn: "Check-in recorded", checkinFailed: "Check-in failed", needKey: "Enter the verifier device key in the settings first",
      offlineVerify: "Verified offline (local trust list)", resolve: "Resolve", resolved: "Resolved", pending: "Pending",
      notAvailable: "Not available on this node", notFound: "Not found (or outside your jurisdiction)", colorExpired: "Code color has lapsed",
      keyRevoked: "Signing key revoked", lifetimeTooLong: "Code lifetime too long", trustListStale: "Trust list out of date: go online to refresh",
      test_result: "Test", check_in: "Check-in", positive: "positive", negative: "negative",
      scanUnsupported: "This browser cannot scan with the camera; paste the code text", me: "Me",
      high: "High", medium: "Medium", low: "Low", in_force: "In force", status_pending: "Awaiting approval", rejected: "Rejected",
      riskApplied: "Applied", riskHeld: "Larger than one community: held for national approval", riskApproved: "Approved and applied", riskRejected: "Rejected",
      personsReached: "Persons reached", personsChanging: "Persons changing color", eventsStored: "Events stored", heldBecause: "Held because",
      approve: "Approve", reject: "Reject", area: "Area", level: "Level", window: "Window", status: "Status", designatedBy: "Designated by",
      reason: "Reason", proposer: "Proposed by", noPending: "Nothing awaiting approval", needArea: "Enter a region code or venue ids",
      noConsents: "No hospital may read your results", consentGiven: "Allowed", consentRevoked: "Consent revoked", revoke: "Revoke",
      allowed: "Visit allowed", refused: "Visit refused",
    },
  };
  const t = (key) => dict[lang][key] || key;
  const when = (iso) => iso ? new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" }) : "";
  // Other nodes of the cluster (issue 11 item 8), set by a page that may
  // fail over: the node's own list (`serve --peer-url`) and the device's.
  // Only requests that carry a bearer key, or are public, fail over: a
  // citizen's session cookie belongs to this node and is never sent away.
  let peers = [];
  const PREFERRED = "ymt.preferredNode";
  function setPeers(list) {
    peers = [];
    for (const item of list) {
      try {
        const url = new URL(item);
        if ((url.protocol === "https:" || url.protocol === "http:") && url.origin !== location.origin
          && !peers.includes(url.origin)) peers.push(url.origin);
      } catch { /* not a URL: ignored */ }
    }
  }
  // This node first, unless another answered last time (it stays preferred
  // for this tab until it fails too).
  function candidates() {
    const all = ["", ...peers];
    const preferred = sessionStorage.getItem(PREFERRED);
    return preferred && all.includes(preferred) ? [preferred, ...all.filter((node) => node !== preferred)] : all;
  }
  async function api(path, options = {}) {
    const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
    if (options.body !== undefined && typeof options.body !== "string") {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.body);
    }
    const mayFailOver = peers.length > 0 && (headers.Authorization !== undefined || options.public === true);
    const nodes = mayFailOver ? candidates() : [""];
    let response = null;
    let failure = null;
    for (const node of nodes) {
      try {
        response = await fetch(node + path, Object.assign({}, options, { headers, credentials: node ? "omit" : "same-origin" }));
      } catch (error) {
        failure = error;
        response = null;
        continue;
      }
      // A node that is overloaded, stale or without its broker says so with
      // 502–504; any other answer is the answer.
      if (mayFailOver && [502, 503, 504].includes(response.status) && node !== nodes[nodes.length - 1]) continue;
      if (mayFailOver) {
        if (node) sessionStorage.setItem(PREFERRED, node); else sessionStorage.removeItem(PREFERRED);
      }
      break;
    }
    if (!response) throw failure;
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const error = new Error((body && body.detail) || response.statusText);
      error.status = response.status;
      throw error;
    }
    return body;
  }
  function banner(text) {
    const element = document.getElementById("offline");
    element.textContent = text || "";
    element.hidden = !text;
  }
  function el(tag, attrs = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
    for (const child of children) element.append(child);
    return element;
  }
  function randomId(prefix) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return { lang, t, when, api, setPeers, banner, el, randomId };
})();
