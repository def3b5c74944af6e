//! The printable page of a printed code (纸质码), `/print?pid=…&size=a6|a4`:
//! a shell whose script asks `POST /v1/persons/{pid}/printed-code` (as the
//! signed-in guardian, or the console's staff) and lays the code out for
//! paper. The size picks a print style sheet with its CSS `@page` size, so
//! one page serves an A6 card and an A4 sheet; the controls are not printed.

use axum::response::Response;
use serde::Deserialize;

use crate::extract::ApiQuery;
use crate::pages::{Lang, escape, html};
use crate::problem::ApiError;
use crate::schemas::*;

/// Paper sizes of the printable page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PaperSize {
    /// A card to carry (105 × 148 mm).
    #[default]
    A6,
    /// A sheet (210 × 297 mm).
    A4,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PrintQuery {
    /// The pid of the person without a phone (required).
    #[param(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]+$")]
    pid: String,
    /// `a6` (default) or `a4`.
    #[serde(default)]
    #[param(inline)]
    size: Option<PaperSize>,
    /// `en` for English; anything else, or nothing, for Simplified Chinese.
    #[serde(default)]
    lang: Option<String>,
}

fn words(lang: Lang) -> [(&'static str, &'static str); 9] {
    match lang {
        Lang::ZhCn => [
            ("title", "打印纸质码"),
            ("heading", "健康码 · 纸质码"),
            ("print", "打印"),
            ("size", "纸张"),
            ("back", "返回"),
            ("loading", "正在签发纸质码…"),
            (
                "stale",
                "纸质码不能刷新：码色为打印时的颜色。码色变化后请重新打印；查验处联网时以当前码色为准。",
            ),
            ("for", "仅供无智能手机人员使用，打印记录已存档。"),
            ("app", "一码通"),
        ],
        Lang::En => [
            ("title", "Print a paper code"),
            ("heading", "Health code · printed code"),
            ("print", "Print"),
            ("size", "Paper"),
            ("back", "Back"),
            ("loading", "Signing the printed code…"),
            (
                "stale",
                "A printed code cannot refresh: its color is the color when printed. Print again when the color changes; a door that is online shows the current color.",
            ),
            (
                "for",
                "Only for persons without a smartphone; every print is recorded.",
            ),
            ("app", "Yimatong health code"),
        ],
    }
}

/// The page for a pid and a paper size.
pub(crate) fn print_page(lang: Lang, pid: &str, size: PaperSize) -> String {
    let word = |key: &str| {
        words(lang)
            .iter()
            .find(|(name, _)| *name == key)
            .map_or("?", |(_, text)| *text)
    };
    let size_name = match size {
        PaperSize::A6 => "a6",
        PaperSize::A4 => "a4",
    };
    let pid = escape(pid);
    let tag = lang.tag();
    format!(
        r#"<!doctype html>
<html lang="{tag}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {app}</title>
<link rel="stylesheet" href="/assets/app.css">
<link rel="stylesheet" href="/assets/print.css">
<link rel="stylesheet" href="/assets/print-{size_name}.css" media="print">
<link rel="icon" href="data:,">
</head>
<body data-page="print" data-size="{size_name}">
<div class="print-controls" id="print-controls">
<h1>{title}</h1>
<p>{size_label}: <a href="/print?pid={pid}&amp;size=a6&amp;lang={tag}" id="size-a6">A6</a> · <a href="/print?pid={pid}&amp;size=a4&amp;lang={tag}" id="size-a4">A4</a></p>
<p><button type="button" id="print-button" disabled>{print}</button> <a href="/?lang={tag}" id="print-back">{back}</a></p>
<p id="print-error" class="error" role="alert" hidden></p>
</div>
<div id="offline" class="banner" role="status" hidden></div>
<main id="main" class="sheet sheet-{size_name}" data-pid="{pid}">
<p id="print-status" role="status">{loading}</p>
<article id="printed" class="printed-code" hidden>
<h2>{heading}</h2>
<p class="printed-name" id="printed-name"></p>
<p class="printed-color" id="printed-color"></p>
<img id="printed-qr" alt="" class="printed-qr">
<dl class="printed-facts">
<dt id="printed-issued-label"></dt><dd id="printed-issued"></dd>
<dt id="printed-expires-label"></dt><dd id="printed-expires"></dd>
<dt id="printed-lifetime-label"></dt><dd id="printed-lifetime"></dd>
<dt id="printed-by-label"></dt><dd id="printed-by"></dd>
</dl>
<p class="printed-note">{stale}</p>
<p class="printed-note">{for_whom}</p>
</article>
</main>
<script src="/assets/common.js"></script>
<script src="/assets/print.js"></script>
</body>
</html>
"#,
        title = word("title"),
        app = word("app"),
        size_label = word("size"),
        print = word("print"),
        back = word("back"),
        loading = word("loading"),
        heading = word("heading"),
        stale = word("stale"),
        for_whom = word("for"),
    )
}

#[utoipa::path(
    get,
    path = "/print",
    tag = "pages",
    summary = "The printable page of a printed code (纸质码), A6 or A4; the code is signed by `POST /v1/persons/{pid}/printed-code` when the page loads",
    params(PrintQuery),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 400, response = BadRequest),
    )
)]
pub(crate) async fn print(ApiQuery(query): ApiQuery<PrintQuery>) -> Result<Response, ApiError> {
    let lang = match query.lang.as_deref() {
        Some("en") => Lang::En,
        _ => Lang::ZhCn,
    };
    let pid = ymt_core::PersonId::parse(&query.pid)
        .map_err(|error| ApiError::bad_request(format!("pid: {error}")))?;
    Ok(html(print_page(
        lang,
        pid.as_str(),
        query.size.unwrap_or_default(),
    )))
}
