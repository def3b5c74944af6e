//! The web pages: citizen (`/`, `/citizen`), verifier (`/verify`) and
//! authority console (`/console`), served by the node itself with embedded
//! assets and no third-party origin.
//!
//! Templates are plain Rust functions around `format!`: the placeholders are
//! checked at compile time like askama's, without a proc-macro dependency to
//! build on the shared machine, and the pages are small shells whose dynamic
//! parts the embedded scripts fill from the JSON API. Static labels come from
//! [`text`], in Simplified Chinese by default and English with `?lang=en`.

use crate::extract::{ApiPath, ApiQuery};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::problem::ApiError;
use crate::schemas::*;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LangQuery {
    /// `en` for English; anything else, or nothing, for Simplified Chinese.
    #[serde(default)]
    lang: Option<String>,
}

impl LangQuery {
    pub(crate) fn lang(&self) -> Lang {
        match self.lang.as_deref() {
            Some("en") => Lang::En,
            _ => Lang::ZhCn,
        }
    }
}

pub use crate::page_labels::{Lang, text};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

pub(crate) fn layout(
    lang: Lang,
    page: &str,
    title_key: &str,
    body: &str,
    scripts: &[&str],
) -> String {
    let scripts: String = scripts
        .iter()
        .map(|script| format!(r#"<script src="/assets/{script}"></script>"#))
        .collect();
    let other = match lang {
        Lang::ZhCn => "en",
        Lang::En => "zh-CN",
    };
    format!(
        r#"<!doctype html>
<html lang="{tag}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {app}</title>
<link rel="stylesheet" href="/assets/app.css">
<link rel="icon" href="data:,">
</head>
<body data-page="{page}">
<header class="bar">
<a class="brand" href="/?lang={tag}">{app}</a>
<nav aria-label="pages"><a href="/citizen?lang={tag}">{citizen}</a> <a href="/verify?lang={tag}">{verify}</a> <a href="/console?lang={tag}">{console}</a></nav>
<a class="lang" id="lang-switch" href="?lang={other}" hreflang="{other}">{switch}</a>
</header>
<div id="offline" class="banner" role="status" hidden></div>
<main id="main">
<h1>{title}</h1>
{body}
</main>
<script src="/assets/common.js"></script>
{scripts}
</body>
</html>
"#,
        tag = lang.tag(),
        title = text(lang, title_key),
        app = text(lang, "app"),
        citizen = text(lang, "citizen"),
        verify = text(lang, "verify"),
        console = text(lang, "console"),
        switch = text(lang, "switch"),
    )
}

/// The citizen page; `demo_code` is the demo's one-time code, hinted on the
/// page only when the node runs with `--demo`.
pub fn citizen_page_with_demo_code(lang: Lang, demo_code: Option<&str>) -> String {
    let page = citizen_page(lang);
    match demo_code {
        Some(code) => page.replacen(
            r#"<p id="demo-hint" class="muted" hidden>"#,
            &format!(
                r#"<p id="demo-hint" class="muted" data-demo-code="{}" hidden>"#,
                escape(code)
            ),
            1,
        ),
        None => page,
    }
}

pub fn citizen_page(lang: Lang) -> String {
    let t = |key| text(lang, key);
    let options: String = [
        "resident_id",
        "passport",
        "hk_macao_permit",
        "taiwan_permit",
        "foreign_permanent_resident",
    ]
    .iter()
    .map(|value| format!(r#"<option value="{value}">{}</option>"#, t(value)))
    .collect();
    let body = format!(
        r#"<p class="elder-switch"><button type="button" id="elder-toggle" class="secondary" aria-pressed="false">{elder_mode}</button></p>
<section id="other-nodes" class="card" role="alert" hidden><p>{other_nodes}</p><ul id="other-node-links" class="list"></ul></section>
<section id="provider-sign-in" class="card" hidden><a class="button" id="provider-sign-in-link" href="/v1/session/oidc/start">{sign_in_provider}</a></section>
<form id="sign-in" class="card" hidden>
<label for="id-type">{id_type}</label><select id="id-type" name="id_type">{options}</select>
<label for="id-number">{id_number}</label><input id="id-number" name="id_number" autocomplete="off" required maxlength="20">
<label for="otp">{otp}</label><input id="otp" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="12">
<button type="button" id="request-code" class="secondary">{request_code}</button>
<p id="request-code-result" role="status"></p>
<p id="demo-hint" class="muted" hidden></p>
<button type="submit">{sign_in}</button>
<p id="sign-in-error" class="error" role="alert"></p>
</form>
<section id="code-view" hidden>
<div id="color-change" class="banner change" role="alert" hidden></div>
<div class="tabs" id="people" role="group" aria-label="{dependents}"></div>
<div id="code-card" class="card code-card" aria-live="polite">
<p id="color-label" class="color-label"></p>
<p id="live-clock" class="live-clock"><span class="pulse" aria-hidden="true"></span><time id="clock-time"></time></p>
<div class="code-main">
<div id="qr" class="qr" role="img"></div>
<div class="code-side"><p id="masked-name" class="name"></p>
<ul id="code-summary" class="summary" aria-label="{summary}"></ul></div>
</div>
<p><span id="countdown" class="countdown"></span> <button type="button" id="refresh">{refresh}</button></p>
<p id="expires" class="muted"></p>
<details id="code-text-box" class="elder-hide"><summary>{code_text}</summary>
<textarea id="code-text" readonly rows="3" spellcheck="false" aria-label="{code_text}"></textarea>
<button type="button" id="copy-code" class="secondary">{copy}</button> <span id="copy-result" role="status"></span></details>
</div>
<section class="card"><h2>{why}</h2><ul id="reasons" class="list"></ul></section>
<section class="card"><h2>{clears}</h2><p id="clears"></p></section>
<section class="card elder-hide" id="history-panel"><h2>{history}</h2>
<button type="button" id="notify-enable" class="secondary">{notify_enable}</button>
<ol id="history" class="list history"></ol></section>
<section class="card elder-hide"><h2>{recent}</h2><ul id="recent"></ul></section>
<section class="card"><h2>{appeal}</h2>
<label for="appeal-text">{appeal_text}</label><textarea id="appeal-text" maxlength="2000" rows="3"></textarea>
<button type="button" id="appeal">{appeal}</button><p id="appeal-result" role="status"></p>
<h3>{my_appeals}</h3><ul id="my-appeals" class="list"></ul></section>
<section class="card elder-hide" id="consents-panel"><h2>{consents}</h2><ul id="consents" class="list"></ul>
<label for="consent-venue">{consent_venue}</label><input id="consent-venue" autocomplete="off" maxlength="64">
<button type="button" id="give-consent">{give_consent}</button><p id="consent-result" role="status"></p>
<h3>{visits}</h3><ul id="visits" class="list"></ul></section>
<section class="card" id="venue-checkin"><h2>{venue_checkin}</h2>
<button type="button" id="venue-scan">{scan_venue}</button>
<video id="venue-camera" playsinline muted hidden></video>
<div id="venue-confirm-row" hidden><p class="name" id="venue-name"></p><button type="button" id="venue-confirm">{venue_confirm}</button></div>
<p id="venue-result" role="status"></p></section>
<button type="button" id="sign-out" class="secondary">{sign_out}</button>
</section>"#,
        id_type = t("id_type"),
        id_number = t("id_number"),
        otp = t("otp"),
        sign_in = t("sign_in"),
        request_code = t("request_code"),
        venue_checkin = t("venue_checkin"),
        scan_venue = t("scan_venue"),
        venue_confirm = t("venue_confirm"),
        sign_in_provider = t("sign_in_provider"),
        dependents = t("dependents"),
        refresh = t("refresh"),
        why = t("why"),
        clears = t("clears"),
        recent = t("recent"),
        appeal = t("appeal"),
        appeal_text = t("appeal_text"),
        my_appeals = t("my_appeals"),
        consents = t("consents"),
        consent_venue = t("consent_venue"),
        give_consent = t("give_consent"),
        visits = t("visits"),
        sign_out = t("sign_out"),
        elder_mode = t("elder_mode"),
        code_text = t("code_text"),
        copy = t("copy"),
        history = t("history"),
        notify_enable = t("notify_enable"),
        summary = t("summary"),
        other_nodes = t("other_nodes"),
    );
    layout(
        lang,
        "citizen",
        "citizen",
        &body,
        &["citizen.js", "scan.js", "venue-checkin.js"],
    )
}

/// The verifier page; `peer_urls` are the cluster's other nodes, which the
/// page fails over to (`serve --peer-url`).
pub fn verify_page(lang: Lang, peer_urls: &[String]) -> String {
    let t = |key| text(lang, key);
    let body = format!(
        r#"<section class="card">
<label for="service">{service}</label><select id="service"><option value="health">{service_health}</option><option value="hospital">{service_hospital}</option><option value="care">{service_care}</option></select>
<p id="service-hint" class="muted" hidden>{service_hint}</p>
<label id="symptoms-row" hidden><input type="checkbox" id="symptoms"> {symptoms}</label>
<div id="resident-row" hidden><label for="resident">{resident}</label><input id="resident" autocomplete="off" maxlength="64"></div>
</section>
<section class="card">
<button type="button" id="scan" aria-pressed="false">{scan}</button>
<p id="scan-status" class="muted" role="status"></p>
<video id="camera" playsinline muted hidden></video>
<form id="scan-form"><label for="token">{paste_or_gun}</label>
<div class="scan-row"><input id="token" spellcheck="false" autocomplete="off" autocapitalize="off" enterkeyhint="go">
<button type="submit" id="check">{check}</button></div></form>
<label for="image">{upload}</label><input type="file" id="image" accept="image/*">
</section>
<section id="result" class="card result" aria-live="polite" hidden>
<p id="result-label" class="color-label"></p>
<p id="result-name" class="name"></p>
<p id="result-expiry"></p>
<p id="result-detail" class="muted"></p>
<p id="checkin-result" role="status"></p>
</section>
<ol id="scan-log" class="list scan-log" aria-label="{recent_scans}"></ol>
<section id="service-result" class="card result" aria-live="polite" hidden>
<p id="service-outcome" class="color-label"></p>
<ul id="service-reasons"></ul>
</section>
<details class="card" id="settings" data-peers="{peers}"><summary>{settings}</summary>
<label for="verifier-key">{verifier_key}</label><input id="verifier-key" type="password" autocomplete="off">
<label for="venue">{venue}</label><input id="venue" autocomplete="off">
<label for="region">{region}</label><input id="region" autocomplete="off" inputmode="numeric">
<button type="button" id="save-settings">{save}</button>
<p id="settings-saved" role="status"></p>
</details>
<section class="card"><h2>{id_card_mode}</h2>
<form id="card-form">
<label for="card-type">{id_type}</label><select id="card-type"><option value="resident_id">{resident_id}</option><option value="passport">{passport}</option></select>
<label for="card-number">{id_number_or_reader}</label><input id="card-number" autocomplete="off" maxlength="20">
<button type="submit" id="card-check">{check}</button>
</form>
<p id="card-result" role="status"></p>
</section>"#,
        scan = t("scan"),
        peers = escape(&peer_urls.join(" ")),
        service = t("service"),
        service_health = t("service_health"),
        service_hospital = t("service_hospital"),
        service_care = t("service_care"),
        service_hint = t("service_hint"),
        symptoms = t("symptoms"),
        resident = t("resident"),
        paste_or_gun = t("paste_or_gun"),
        recent_scans = t("recent_scans"),
        id_number_or_reader = t("id_number_or_reader"),
        check = t("check"),
        upload = t("upload"),
        settings = t("settings"),
        verifier_key = t("verifier_key"),
        venue = t("venue"),
        region = t("region"),
        save = t("save"),
        id_card_mode = t("id_card_mode"),
        id_type = t("id_type"),
        resident_id = t("resident_id"),
        passport = t("passport"),
    );
    layout(
        lang,
        "verify",
        "verify",
        &body,
        &["cose.js", "scan.js", "verify.js"],
    )
}

pub fn console_page(lang: Lang) -> String {
    let t = |key| text(lang, key);
    let body = format!(
        r#"<section id="provider-sign-in" class="card" hidden><a class="button" id="provider-sign-in-link" href="/v1/console/oidc/start">{sign_in_provider_staff}</a></section>
<form id="key-form" class="card" hidden>
<label for="api-key">{api_key}</label><input id="api-key" type="password" autocomplete="off" required>
<button type="submit">{sign_in}</button><p id="key-error" class="error" role="alert"></p>
</form>
<div id="console" hidden>
<p id="who" class="muted"></p><button type="button" id="console-sign-out" class="secondary">{sign_out}</button>
<section class="card"><h2>{dashboard}</h2><form id="chart-form"><label for="chart-region">{chart_region}</label><input id="chart-region" inputmode="numeric" autocomplete="off" maxlength="12"><button type="submit">{refresh}</button></form><div id="chart" class="chart"></div><div id="venue-map" class="chart"></div></section>
<section class="card"><h2>{appeals}</h2><ul id="appeals" class="list"></ul></section>
<section class="card"><h2>{lookup}</h2>
<form id="lookup-form"><div class="pair"><div><label for="lookup-id-type">{id_type}</label><select id="lookup-id-type"><option value="resident_id">{resident_id}</option><option value="passport">{passport}</option><option value="hk_macao_permit">{hk_macao_permit}</option><option value="taiwan_permit">{taiwan_permit}</option><option value="foreign_permanent_resident">{foreign_permanent_resident}</option></select></div>
<div><label for="lookup-id-number">{id_number}</label><input id="lookup-id-number" autocomplete="off" maxlength="20"></div></div>
<label for="lookup-pid">{lookup_or_pid}</label><input id="lookup-pid" autocomplete="off"><button type="submit">{search}</button></form>
<div id="lookup-result"></div></section>
<section class="card"><h2>{rules}</h2><ul id="rule-versions"></ul>
<form id="diff-form"><div class="pair"><div><label for="diff-from">{diff_from}</label><select id="diff-from"></select></div><div><label for="diff-to">{diff_to}</label><select id="diff-to"></select></div></div><button type="submit">{diff}</button></form>
<div id="diff-result"></div>
<h3>{preview}</h3><label for="preview-version">{preview_version}</label><select id="preview-version"></select>
<details><summary>{preview_draft}</summary><label for="preview-body">{preview_draft}</label><textarea id="preview-body" rows="4" spellcheck="false"></textarea></details>
<button type="button" id="preview">{preview}</button>
<div id="preview-result" role="status"></div>
<div class="pair"><div><label for="simulate-persons">{simulate_persons}</label><input id="simulate-persons" type="number" min="50" max="2000" value="500"></div>
<div><label for="simulate-days">{simulate_days}</label><input id="simulate-days" type="number" min="10" max="30" value="14"></div>
<div><label for="simulate-seeds">{simulate_seeds}</label><input id="simulate-seeds" type="number" min="1" max="3" value="2"></div></div>
<button type="button" id="simulate" class="secondary">{simulate}</button>
<div id="simulate-result" role="status"></div>
<button type="button" id="publish" class="secondary">{publish_draft}</button>
<div id="publish-result" role="status"></div></section>
<section class="card" id="risk-panel"><h2>{risk_areas}</h2>
<form id="risk-form"><h3>{risk_designate}</h3>
<label for="risk-region">{risk_region}</label><input id="risk-region" inputmode="numeric" pattern="[0-9]{{6}}|[0-9]{{9}}|[0-9]{{12}}" autocomplete="off">
<label for="risk-venues">{risk_venues}</label><input id="risk-venues" autocomplete="off">
<label for="risk-level">{risk_level}</label><select id="risk-level"><option value="high">{level_high}</option><option value="medium">{level_medium}</option><option value="low">{level_low}</option></select>
<div class="pair"><div><label for="risk-from">{risk_from}</label><input id="risk-from" type="datetime-local" required></div>
<div><label for="risk-until">{risk_until}</label><input id="risk-until" type="datetime-local" required></div></div>
<label for="risk-reason">{risk_reason}</label><input id="risk-reason" maxlength="500" autocomplete="off" required>
<button type="submit">{risk_submit}</button></form>
<div id="risk-result" role="status" aria-live="polite"></div>
<h3>{risk_current}</h3><div id="risk-areas"></div>
<div id="pending-panel" hidden><h3>{pending_approvals}</h3><ul id="pending" class="list"></ul></div>
</section>
<section class="card" id="services-panel"><h2>{services}</h2>
<label for="svc-name">{service}</label><select id="svc-name"><option value="hospital">{service_hospital}</option><option value="care-visit">{service_care}</option></select>
<button type="button" id="svc-show">{svc_show}</button><pre id="svc-current"></pre>
<label for="svc-document">{svc_document}</label><textarea id="svc-document" rows="6" spellcheck="false"></textarea>
<button type="button" id="svc-propose">{svc_propose}</button>
<label for="svc-venue">{venue}</label><input id="svc-venue" autocomplete="off" maxlength="64">
<button type="button" id="svc-profile">{svc_profile}</button>
<pre id="svc-result" role="status"></pre>
</section>
</div>"#,
        api_key = t("api_key"),
        sign_in = t("sign_in"),
        sign_in_provider_staff = t("sign_in_provider_staff"),
        sign_out = t("sign_out"),
        dashboard = t("dashboard"),
        chart_region = t("chart_region"),
        refresh = t("refresh"),
        appeals = t("appeals"),
        lookup = t("lookup"),
        id_type = t("id_type"),
        id_number = t("id_number"),
        resident_id = t("resident_id"),
        passport = t("passport"),
        hk_macao_permit = t("hk_macao_permit"),
        taiwan_permit = t("taiwan_permit"),
        foreign_permanent_resident = t("foreign_permanent_resident"),
        lookup_or_pid = t("lookup_or_pid"),
        search = t("search"),
        rules = t("rules"),
        diff = t("diff"),
        preview = t("preview"),
        diff_from = t("diff_from"),
        diff_to = t("diff_to"),
        preview_version = t("preview_version"),
        preview_draft = t("preview_draft"),
        publish_draft = t("publish_draft"),
        simulate = t("simulate"),
        simulate_persons = t("simulate_persons"),
        simulate_days = t("simulate_days"),
        simulate_seeds = t("simulate_seeds"),
        risk_areas = t("risk_areas"),
        risk_designate = t("risk_designate"),
        risk_region = t("risk_region"),
        risk_venues = t("risk_venues"),
        risk_level = t("risk_level"),
        level_high = t("level_high"),
        level_medium = t("level_medium"),
        level_low = t("level_low"),
        risk_from = t("risk_from"),
        risk_until = t("risk_until"),
        risk_reason = t("risk_reason"),
        risk_submit = t("risk_submit"),
        risk_current = t("risk_current"),
        services = t("services"),
        service = t("service"),
        service_hospital = t("service_hospital"),
        service_care = t("service_care"),
        svc_show = t("svc_show"),
        svc_document = t("svc_document"),
        svc_propose = t("svc_propose"),
        venue = t("venue"),
        svc_profile = t("svc_profile"),
        pending_approvals = t("pending_approvals"),
    );
    layout(lang, "console", "console", &body, &["console.js"])
}

/// Persons by color now (bars) and over time (lines), as SVG.
pub fn colors_chart_svg(counts: [i64; 3], history: &[(i64, [i64; 3])]) -> String {
    const FILL: [&str; 3] = ["#1a7f37", "#b58500", "#c62828"];
    const NAME: [&str; 3] = ["green 绿", "yellow 黄", "red 红"];
    let width = 640.0_f64;
    let height = 220.0_f64;
    let max_now = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="persons by color"><title>persons by color</title>"#
    );
    for (index, count) in counts.iter().enumerate() {
        let bar = 180.0 * (*count as f64) / max_now;
        let y = 20.0 + index as f64 * 30.0;
        svg.push_str(&format!(
            r#"<rect x="90" y="{y}" width="{bar:.1}" height="22" fill="{fill}"/><text x="4" y="{ty}" font-size="13">{name}</text><text x="{tx:.1}" y="{ty}" font-size="13">{count}</text>"#,
            fill = FILL[index],
            name = NAME[index],
            ty = y + 16.0,
            tx = 96.0 + bar,
        ));
    }
    let left = 320.0;
    let plot_width = width - left - 10.0;
    let max_history = history
        .iter()
        .flat_map(|(_, sample)| sample.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    svg.push_str(&format!(
        r##"<text x="{left}" y="14" font-size="12">hourly / 每小时</text><line x1="{left}" y1="200" x2="{right}" y2="200" stroke="#888"/>"##,
        right = width - 10.0
    ));
    for index in 0..3 {
        let points: Vec<String> = history
            .iter()
            .enumerate()
            .map(|(position, (_, sample))| {
                let x = if history.len() > 1 {
                    left + plot_width * position as f64 / (history.len() - 1) as f64
                } else {
                    left + plot_width / 2.0
                };
                let y = 200.0 - 170.0 * sample[index] as f64 / max_history;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        if points.len() == 1 {
            let (x, y) = points[0].split_once(',').unwrap_or(("0", "0"));
            svg.push_str(&format!(
                r#"<circle cx="{x}" cy="{y}" r="4" fill="{}"/>"#,
                FILL[index]
            ));
        } else if !points.is_empty() {
            svg.push_str(&format!(
                r#"<polyline fill="none" stroke-width="2" stroke="{}" points="{}"/>"#,
                FILL[index],
                points.join(" ")
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css", include_str!("../assets/app.css")),
    (
        "common.js",
        "text/javascript",
        include_str!("../assets/common.js"),
    ),
    (
        "citizen.js",
        "text/javascript",
        include_str!("../assets/citizen.js"),
    ),
    (
        "verify.js",
        "text/javascript",
        include_str!("../assets/verify.js"),
    ),
    (
        "cose.js",
        "text/javascript",
        include_str!("../assets/cose.js"),
    ),
    (
        "console.js",
        "text/javascript",
        include_str!("../assets/console.js"),
    ),
    (
        "scan.js",
        "text/javascript",
        include_str!("../assets/scan.js"),
    ),
    (
        "venue-checkin.js",
        "text/javascript",
        include_str!("../assets/venue-checkin.js"),
    ),
    (
        "rules.js",
        "text/javascript",
        include_str!("../assets/rules.js"),
    ),
    ("print.css", "text/css", include_str!("../assets/print.css")),
    (
        "print-a6.css",
        "text/css",
        include_str!("../assets/print-a6.css"),
    ),
    (
        "print-a4.css",
        "text/css",
        include_str!("../assets/print-a4.css"),
    ),
    (
        "print.js",
        "text/javascript",
        include_str!("../assets/print.js"),
    ),
];

const PAGE_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

pub(crate) fn html(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                PAGE_CONTENT_SECURITY_POLICY,
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(body),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    summary = "The citizen page (as `/citizen`)",
    params(LangQuery),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 400, response = BadRequest),
    )
)]
pub(crate) async fn root(
    state: axum::extract::State<crate::extract::SharedState>,
    query: ApiQuery<LangQuery>,
) -> Response {
    citizen(state, query).await
}

#[utoipa::path(
    get,
    path = "/citizen",
    tag = "pages",
    summary = "The citizen page",
    params(LangQuery),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 400, response = BadRequest),
    )
)]
pub(crate) async fn citizen(
    axum::extract::State(state): axum::extract::State<crate::extract::SharedState>,
    ApiQuery(query): ApiQuery<LangQuery>,
) -> Response {
    let authenticator = state.codes.authenticator();
    let demo_code = authenticator.as_ref().and_then(|a| a.demo_code());
    html(citizen_page_with_peers(
        citizen_page_with_demo_code(query.lang(), demo_code),
        &state.config.peer_urls,
    ))
}

/// The citizen page naming the cluster's other nodes (`serve --peer-url`):
/// when this node cannot serve, the page offers them (issue 11 item 8). A
/// session is this node's HttpOnly cookie, which no other origin receives,
/// so the person signs in again there; the last code stays on screen and
/// verifies offline meanwhile.
pub fn citizen_page_with_peers(page: String, peer_urls: &[String]) -> String {
    if peer_urls.is_empty() {
        return page;
    }
    page.replacen(
        r#"<section id="other-nodes" class="card" role="alert" hidden>"#,
        &format!(
            r#"<section id="other-nodes" class="card" role="alert" data-peers="{}" hidden>"#,
            escape(&peer_urls.join(" "))
        ),
        1,
    )
}

#[utoipa::path(
    get,
    path = "/verify",
    tag = "pages",
    summary = "The verifier page (verifies offline in the browser)",
    params(LangQuery),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 400, response = BadRequest),
    )
)]
pub(crate) async fn verify(
    axum::extract::State(state): axum::extract::State<crate::extract::SharedState>,
    ApiQuery(query): ApiQuery<LangQuery>,
) -> Response {
    let peer_urls = &state.config.peer_urls;
    let mut response = html(verify_page(query.lang(), peer_urls));
    if !peer_urls.is_empty() {
        // The page may call the peers it fails over to, and nothing else.
        let policy = PAGE_CONTENT_SECURITY_POLICY.replace(
            "connect-src 'self'",
            &format!("connect-src 'self' {}", peer_urls.join(" ")),
        );
        if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

#[utoipa::path(
    get,
    path = "/console",
    tag = "pages",
    summary = "The authority console",
    params(LangQuery),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 400, response = BadRequest),
    )
)]
pub(crate) async fn console(ApiQuery(query): ApiQuery<LangQuery>) -> Response {
    html(console_page(query.lang()))
}

/// The verifier's service worker, served from the root so its scope is the
/// whole site.
#[utoipa::path(
    get,
    path = "/sw.js",
    tag = "pages",
    summary = "The verifier's service worker",
    responses(
        (status = 200, description = "The script", body = String, content_type = "text/javascript"),
    )
)]
pub(crate) async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../assets/sw.js"),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/assets/{name}",
    tag = "pages",
    summary = "A page asset",
    params(("name" = String, Path, description = "The asset's file name, e.g. `app.css`, `citizen.js`")),
    responses(
        (status = 200, description = "The asset", content((String = "text/css"), (String = "text/javascript"))),
        (status = 404, response = NotFound),
    )
)]
pub(crate) async fn asset(ApiPath(name): ApiPath<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        assert_eq!(escape(input), expect);
    }

    #[test]
    fn escapes_markup() {
        check("a<b>&\"'", "a&lt;b&gt;&amp;&quot;&#39;");
        check("张*三", "张*三");
    }

    #[test]
    fn every_page_names_its_language() {
        assert!(citizen_page(Lang::ZhCn).contains(r#"lang="zh-CN""#));
        assert!(verify_page(Lang::En, &[]).contains(r#"lang="en""#));
        assert!(console_page(Lang::En).contains("Authority console"));
    }

    #[test]
    fn console_labels_the_risk_panel_in_both_languages() {
        for (lang, label) in [(Lang::ZhCn, "待审批"), (Lang::En, "Pending approvals")] {
            let page = console_page(lang);
            assert!(page.contains(r#"id="risk-form""#));
            assert!(page.contains(label));
            // An unknown key renders as "?"; every label must be known.
            assert!(!page.contains(">?<"), "an unknown label in {lang:?}");
        }
    }

    #[test]
    fn chart_has_one_bar_per_color() {
        let svg = colors_chart_svg([5, 2, 1], &[(0, [5, 2, 1]), (3600, [4, 3, 1])]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(svg.matches("<polyline").count(), 3);
    }
}
