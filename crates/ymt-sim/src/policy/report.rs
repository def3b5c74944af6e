//! The comparison table and the SVG charts. Plain text with fixed
//! formatting, so the same runs give byte-identical output.

use std::fmt::Write;

use crate::policy::Policy;
use crate::policy::metrics::{Estimate, RunResult};

/// The runs of one policy, one per seed (seeds in the same order for every policy).
pub struct PolicyRuns {
    pub policy: Policy,
    pub runs: Vec<RunResult>,
}

fn format_estimate(estimate: Option<Estimate>, scale: f64, decimals: usize) -> String {
    match estimate {
        None => "n/a".into(),
        Some(estimate) => match estimate.half_width {
            Some(half) => format!(
                "{:.decimals$} [{:.decimals$}, {:.decimals$}]",
                estimate.mean * scale,
                (estimate.mean - half) * scale,
                (estimate.mean + half) * scale
            ),
            None => format!("{:.decimals$}", estimate.mean * scale),
        },
    }
}

/// Restricted person-days per infection averted against no codes, per seed
/// (a seed where nothing was averted gives none).
fn per_averted(runs: &PolicyRuns, baseline: Option<&PolicyRuns>) -> Vec<f64> {
    let Some(baseline) = baseline else {
        return Vec::new();
    };
    runs.runs
        .iter()
        .zip(&baseline.runs)
        .filter_map(|(run, base)| {
            let averted = f64::from(base.total_infections) - f64::from(run.total_infections);
            (averted > 0.0).then(|| run.restricted_person_days as f64 / averted)
        })
        .collect()
}

/// The table: one row per policy, each cell the mean and its 95 % interval over seeds.
pub fn comparison_table(all: &[PolicyRuns]) -> String {
    let baseline = all.iter().find(|runs| runs.policy == Policy::NoCodes);
    let header = [
        "policy",
        "infections",
        "caught while infectious %",
        "caught before onward %",
        "median delay to restriction (days)",
        "uninfected restricted person-days",
        "restricted person-days per infection averted",
        "peak node load (events+reads/day)",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|cell| (*cell).to_owned()).collect()];
    for runs in all {
        let values = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<f64> {
            runs.runs.iter().filter_map(f).collect()
        };
        let averted = per_averted(runs, baseline);
        rows.push(vec![
            runs.policy.name(),
            format_estimate(
                Estimate::of(&values(&|run| Some(f64::from(run.total_infections)))),
                1.0,
                0,
            ),
            format_estimate(
                Estimate::of(&values(&|run| Some(run.caught_while_infectious))),
                100.0,
                1,
            ),
            format_estimate(
                Estimate::of(&values(&|run| Some(run.caught_before_onward))),
                100.0,
                1,
            ),
            format_estimate(Estimate::of(&values(&|run| run.median_delay_days)), 1.0, 2),
            format_estimate(
                Estimate::of(&values(&|run| {
                    Some(run.uninfected_restricted_person_days as f64)
                })),
                1.0,
                0,
            ),
            if runs.policy == Policy::NoCodes {
                "-".into()
            } else {
                format_estimate(Estimate::of(&averted), 1.0, 1)
            },
            format_estimate(
                Estimate::of(&values(&|run| Some(run.peak_node_load as f64))),
                1.0,
                0,
            ),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}", width = *width))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if index == 0 {
            let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
            let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        }
    }
    out
}

/// Whether the national rule set meets issue 14's goals, in words.
pub fn goal_check(all: &[PolicyRuns]) -> String {
    let find = |policy: Policy| all.iter().find(|runs| runs.policy == policy);
    let mean = |runs: &PolicyRuns, f: &dyn Fn(&RunResult) -> f64| -> f64 {
        runs.runs.iter().map(f).sum::<f64>() / runs.runs.len().max(1) as f64
    };
    let mut out = String::new();
    if let Some(national) = find(Policy::National) {
        let caught = mean(national, &|run| run.caught_before_onward);
        let _ = writeln!(
            out,
            "goal 1 (national catches >= 90 % before first onward transmission): {:.1} % -> {}",
            caught * 100.0,
            if caught >= 0.9 { "met" } else { "NOT met" }
        );
        if let Some(district) = find(Policy::DistrictRed) {
            let national_days = mean(national, &|run| {
                run.uninfected_restricted_person_days as f64
            });
            let district_days = mean(district, &|run| {
                run.uninfected_restricted_person_days as f64
            });
            let district_caught = mean(district, &|run| run.caught_before_onward);
            let ratio = if district_days > 0.0 {
                national_days / district_days
            } else {
                f64::INFINITY
            };
            let _ = writeln!(
                out,
                "goal 2 (national <= 1/10 of district-red's uninfected restricted person-days at an equal or better catch rate): ratio {:.3}, catch {:.1} % vs {:.1} % -> {}",
                ratio,
                caught * 100.0,
                district_caught * 100.0,
                if ratio <= 0.1 && caught >= district_caught {
                    "met"
                } else {
                    "NOT met"
                }
            );
        }
    }
    out
}

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// The language of a chart's words (the legend names policies by their
/// ids, as the table does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChartLanguage {
    #[default]
    English,
    Chinese,
}

/// The two charts of a comparison, by file name: new infections per day,
/// and persons restricted per day, each the mean over seeds.
pub fn comparison_charts(
    all: &[PolicyRuns],
    language: ChartLanguage,
) -> [(&'static str, String); 2] {
    let (infections_title, restricted_title, day, infections, persons) = match language {
        ChartLanguage::English => (
            "New infections per day (mean over seeds)",
            "Persons restricted (yellow or red) per day (mean over seeds)",
            "day",
            "infections",
            "persons",
        ),
        ChartLanguage::Chinese => (
            "每日新增感染（各随机种子平均）",
            "每日受限人数（黄码或红码，各随机种子平均）",
            "天",
            "感染",
            "人",
        ),
    };
    [
        (
            "epidemic_curves.svg",
            line_chart_svg(infections_title, day, infections, all, &|run| {
                &run.daily_new_infections
            }),
        ),
        (
            "restricted_persons.svg",
            line_chart_svg(restricted_title, day, persons, all, &|run| {
                &run.daily_restricted
            }),
        ),
    ]
}

/// A line chart of one daily series per policy (mean over seeds), its
/// words given by the caller (the console's in the reader's language).
pub fn line_chart_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    all: &[PolicyRuns],
    series: &dyn Fn(&RunResult) -> &[u32],
) -> String {
    let (width, height, left, right, top, bottom) = (900.0, 480.0, 70.0, 220.0, 40.0, 50.0);
    let means: Vec<Vec<f64>> = all
        .iter()
        .map(|runs| {
            let days = runs.runs.first().map_or(0, |run| series(run).len());
            (0..days)
                .map(|day| {
                    runs.runs
                        .iter()
                        .map(|run| f64::from(series(run)[day]))
                        .sum::<f64>()
                        / runs.runs.len().max(1) as f64
                })
                .collect()
        })
        .collect();
    let days = means.iter().map(Vec::len).max().unwrap_or(0).max(2);
    let y_max = means.iter().flatten().copied().fold(1.0f64, f64::max);
    let plot_width = width - left - right;
    let plot_height = height - top - bottom;
    let x_of = |day: usize| left + plot_width * day as f64 / (days - 1) as f64;
    let y_of = |value: f64| top + plot_height * (1.0 - value / y_max);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="24" font-size="16">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
        top + plot_height,
        left + plot_width,
        top + plot_height
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>"#,
        top + plot_height
    );
    for tick in 0..=4 {
        let value = y_max * f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}</text>"#,
            left - 6.0,
            y_of(value) + 4.0,
            value
        );
    }
    for tick in 0..=4 {
        let day = (days - 1) * tick / 4;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{day}</text>"#,
            x_of(day),
            top + plot_height + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + plot_width / 2.0,
        height - 10.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"#,
        top + plot_height / 2.0,
        top + plot_height / 2.0,
        escape(y_label)
    );
    for (index, (runs, values)) in all.iter().zip(&means).enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(day, value)| format!("{:.1},{:.1}", x_of(day), y_of(*value)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let legend_y = top + 18.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{color}" stroke-width="3"/>"#,
            width - right + 15.0,
            width - right + 35.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            width - right + 40.0,
            legend_y + 4.0,
            escape(&runs.policy.name())
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
