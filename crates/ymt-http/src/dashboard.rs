//! The console dashboard's activity panels: check-ins per hour over the last
//! day (from the in-memory tracing index) and contacts traced per case (from
//! the `traced-from` records automatic tracing keeps). Both are rendered as
//! SVG on the server, like the color chart, so the console needs no chart
//! library.

use ymt_core::Timestamp;

use ymt_node::Node;
use ymt_node::model::parse_traced_from;
use ymt_node::tracing_service::META_TRACED_FROM;

use crate::problem::ApiError;

/// Check-ins entering in each of the last 24 hours, oldest hour first.
pub fn checkins_per_hour(state: &Node, now: Timestamp) -> [u64; 24] {
    let mut hours = [0u64; 24];
    let Ok(now_rel) = ymt_trace::index::rel_of(now) else {
        return hours;
    };
    let day_start = now_rel.saturating_sub(24 * 3600);
    let index = state.tracing.index.read();
    for stay in index.iter_raw() {
        if stay.enter_rel >= day_start && stay.enter_rel < now_rel {
            let hour = ((stay.enter_rel - day_start) / 3600) as usize;
            hours[hour.min(23)] += 1;
        }
    }
    hours
}

/// The cases with the most traced contacts (test id, contacts), at most `limit`.
pub fn contacts_per_case(state: &Node, limit: usize) -> Result<Vec<(String, usize)>, ApiError> {
    let mut cases: Vec<(String, usize)> = state
        .store
        .meta_list(META_TRACED_FROM)?
        .into_iter()
        .map(|(test_id, bytes)| {
            let contacts = parse_traced_from(&bytes)
                .map(|(_, designations)| designations.len())
                .unwrap_or(0);
            (test_id, contacts)
        })
        // A case is recorded before it designates anyone.
        .filter(|(_, contacts)| *contacts > 0)
        .collect();
    cases.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    cases.truncate(limit);
    Ok(cases)
}

/// The color chart in the page's language: persons by color now (bars,
/// each labelled with its count) and the hourly history (lines) with both
/// axes labelled. The root carries the counts (`data-green`, `data-yellow`,
/// `data-red`) and the scope they cover, for readers and tests.
pub fn colors_chart(
    lang: crate::pages::Lang,
    scope: &str,
    counts: [i64; 3],
    history: &[(i64, [i64; 3])],
) -> String {
    const FILL: [&str; 3] = ["#1a7f37", "#8a6500", "#c62828"];
    let en = lang == crate::pages::Lang::En;
    let names: [&str; 3] = if en {
        ["Green", "Yellow", "Red"]
    } else {
        ["绿码", "黄码", "红码"]
    };
    let (title, hourly, persons, hours_utc, none) = if en {
        (
            "Persons by color",
            "Hourly history",
            "persons",
            "hour (UTC)",
            "no history yet",
        )
    } else {
        (
            "各码色人数",
            "每小时变化",
            "人数",
            "时间（UTC 小时）",
            "暂无历史",
        )
    };
    let scope = escape(scope);
    let title = format!("{title} · {scope}");
    let max_now = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 240" role="img" aria-label="{title}" data-scope="{scope}" data-green="{g}" data-yellow="{y}" data-red="{r}"><title>{title}</title><text x="4" y="14" font-size="12">{title}</text>"##,
        g = counts[0],
        y = counts[1],
        r = counts[2],
    );
    for (index, count) in counts.iter().enumerate() {
        let bar = 150.0 * (*count as f64) / max_now;
        let y = 30.0 + index as f64 * 34.0;
        svg.push_str(&format!(
            r#"<rect x="60" y="{y}" width="{bar:.1}" height="24" fill="{fill}"/><text x="4" y="{ty}" font-size="13">{name}</text><text x="{tx:.1}" y="{ty}" font-size="13">{count}</text>"#,
            fill = FILL[index],
            name = names[index],
            ty = y + 17.0,
            tx = 66.0 + bar,
        ));
    }
    // The hourly plot: y axis from 0 to the largest sample, x axis from the
    // first hour kept to the last.
    let (left, right, top, bottom) = (330.0_f64, 630.0_f64, 30.0_f64, 200.0_f64);
    let max_history = history
        .iter()
        .flat_map(|(_, sample)| sample.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    svg.push_str(&format!(
        r##"<text x="{left}" y="14" font-size="12">{hourly}</text><line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#555"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#555"/><text x="{lx}" y="{ty}" font-size="11" text-anchor="end">{max_history}</text><text x="{lx}" y="{bottom}" font-size="11" text-anchor="end">0</text><text x="{lx}" y="{my}" font-size="11" text-anchor="end">{persons}</text><text x="{cx}" y="232" font-size="11" text-anchor="middle">{hours_utc}</text>"##,
        lx = left - 4.0,
        ty = top + 4.0,
        my = (top + bottom) / 2.0,
        cx = (left + right) / 2.0,
    ));
    let hour_label = |unix_secs: i64| {
        ymt_core::Timestamp::from_unix_secs(unix_secs)
            .map(|at| {
                at.to_string()
                    .get(5..13)
                    .unwrap_or_default()
                    .replace('T', " ")
                    + "h"
            })
            .unwrap_or_default()
    };
    match (history.first(), history.last()) {
        (Some((first, _)), Some((last, _))) => svg.push_str(&format!(
            r#"<text x="{left}" y="215" font-size="11">{first}</text><text x="{right}" y="215" font-size="11" text-anchor="end">{last}</text>"#,
            first = hour_label(*first),
            last = hour_label(*last),
        )),
        _ => svg.push_str(&format!(
            r#"<text x="{x}" y="120" font-size="12">{none}</text>"#,
            x = left + 10.0
        )),
    }
    let span = history.len().saturating_sub(1).max(1) as f64;
    for index in 0..3 {
        let points: Vec<String> = history
            .iter()
            .enumerate()
            .map(|(position, (_, sample))| {
                let x = if history.len() > 1 {
                    left + (right - left) * position as f64 / span
                } else {
                    (left + right) / 2.0
                };
                let y = bottom - (bottom - top) * sample[index] as f64 / max_history as f64;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        match points.as_slice() {
            [] => {}
            [only] => {
                let (x, y) = only.split_once(',').unwrap_or(("0", "0"));
                svg.push_str(&format!(
                    r#"<circle cx="{x}" cy="{y}" r="4" fill="{}"/>"#,
                    FILL[index]
                ));
            }
            _ => svg.push_str(&format!(
                r#"<polyline fill="none" stroke-width="2" stroke="{}" points="{}"/>"#,
                FILL[index],
                points.join(" ")
            )),
        }
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Two panels, 640×200 each, as an SVG fragment to nest in the dashboard.
/// In the page's language, as the color chart.
pub fn activity_panels_svg(
    lang: crate::pages::Lang,
    hours: &[u64; 24],
    cases: &[(String, usize)],
    y_offset: f64,
) -> String {
    let en = lang == crate::pages::Lang::En;
    let (checkins_title, hours_ago, now, max_label, contacts_title, no_case) = if en {
        (
            "Check-ins per hour, last 24 h",
            "−24 h",
            "now",
            "max",
            "Contacts traced per case",
            "No traced case yet",
        )
    } else {
        (
            "近24小时每小时扫码次数",
            "24小时前",
            "现在",
            "最多",
            "每例追踪密接人数",
            "暂无追踪病例",
        )
    };
    let mut svg = format!(
        r##"<svg x="0" y="{y_offset}" width="640" height="200" viewBox="0 0 640 200"><text x="4" y="14" font-size="12">{checkins_title}</text><line x1="4" y1="180" x2="636" y2="180" stroke="#888"/>"##
    );
    let max_hour = hours.iter().copied().max().unwrap_or(0).max(1) as f64;
    for (hour, count) in hours.iter().enumerate() {
        let height = 150.0 * (*count as f64) / max_hour;
        svg.push_str(&format!(
            r##"<rect x="{x:.1}" y="{y:.1}" width="22" height="{height:.1}" fill="#3867d6"><title>{count}</title></rect>"##,
            x = 6.0 + hour as f64 * 26.0,
            y = 180.0 - height,
        ));
    }
    svg.push_str(&format!(
        r##"<text x="4" y="196" font-size="11">{hours_ago}</text><text x="636" y="196" font-size="11" text-anchor="end">{now}</text><text x="636" y="14" font-size="11" text-anchor="end">{max_label} {max}</text></svg>"##,
        max = max_hour as u64
    ));
    svg.push_str(&format!(
        r##"<svg x="0" y="{y}" width="640" height="200" viewBox="0 0 640 200"><text x="4" y="14" font-size="12">{contacts_title}</text>"##,
        y = y_offset + 200.0
    ));
    if cases.is_empty() {
        svg.push_str(&format!(
            r#"<text x="4" y="40" font-size="12">{no_case}</text>"#
        ));
    }
    let max_contacts = cases
        .iter()
        .map(|(_, contacts)| *contacts)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    for (row, (test_id, contacts)) in cases.iter().enumerate() {
        let y = 24.0 + row as f64 * 17.0;
        let width = 360.0 * (*contacts as f64) / max_contacts;
        svg.push_str(&format!(
            r##"<text x="4" y="{ty:.1}" font-size="11">{label}</text><rect x="220" y="{y:.1}" width="{width:.1}" height="13" fill="#8854d0"/><text x="{tx:.1}" y="{ty:.1}" font-size="11">{contacts}</text>"##,
            label = escape(&test_id.chars().take(32).collect::<String>()),
            ty = y + 11.0,
            tx = 224.0 + width,
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_show_every_hour_and_case() {
        let mut hours = [0u64; 24];
        hours[23] = 12;
        hours[0] = 3;
        let cases = vec![("lab-1:S<1>".to_string(), 7), ("lab-1:S2".to_string(), 2)];
        let svg = activity_panels_svg(crate::pages::Lang::En, &hours, &cases, 220.0);
        assert_eq!(svg.matches("<svg ").count(), 2);
        assert_eq!(svg.matches("</svg>").count(), 2);
        assert_eq!(svg.matches("<rect").count(), 24 + 2);
        assert!(svg.contains("lab-1:S&lt;1&gt;"), "labels are escaped");
        assert!(svg.contains("<title>12</title>"));
        let empty = activity_panels_svg(crate::pages::Lang::En, &[0; 24], &[], 0.0);
        assert!(empty.contains("No traced case yet"));
        // The Chinese console's panels carry no English label.
        let chinese = activity_panels_svg(crate::pages::Lang::ZhCn, &hours, &[], 0.0);
        let labels: Vec<&str> = chinese
            .split("<text")
            .skip(1)
            .map(|text| text.split_once('>').unwrap().1.split('<').next().unwrap())
            .collect();
        assert!(labels.contains(&"暂无追踪病例"), "{labels:?}");
        assert!(
            labels
                .iter()
                .all(|label| !label.chars().any(|c| c.is_ascii_alphabetic())),
            "{labels:?}"
        );
    }
}
