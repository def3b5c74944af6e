//! The jurisdiction's map (issue 13 item 20): its venues that have
//! coordinates, drawn by the node as SVG, each marked with the highest
//! level of the risk areas in force covering it. No tile server, nothing
//! fetched: an equirectangular plot of the venues' own coordinates, fitted
//! to the box. Every text (venue names come from registrars) is escaped, so
//! a venue named like markup stays text.

use ymt_core::event::RiskLevel;

use crate::pages::escape;

/// One venue on the map.
pub struct MapVenue {
    pub id: String,
    pub name: String,
    /// Micro-degrees (`ymt_node::venues::Location`).
    pub lat_e6: i32,
    pub lon_e6: i32,
    /// The highest level of the risk areas in force covering it.
    pub risk: Option<RiskLevel>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 480.0;
const MARGIN: f64 = 24.0;

fn fill(risk: Option<RiskLevel>) -> &'static str {
    match risk {
        None => "#1a7f37",
        Some(RiskLevel::Low) => "#0b5cad",
        Some(RiskLevel::Medium) => "#8a6500",
        Some(RiskLevel::High) => "#c62828",
    }
}

fn risk_name(risk: Option<RiskLevel>, en: bool) -> &'static str {
    match (risk, en) {
        (None, false) => "无风险区",
        (None, true) => "not in a risk area",
        (Some(RiskLevel::Low), false) => "低风险区",
        (Some(RiskLevel::Low), true) => "low-risk area",
        (Some(RiskLevel::Medium), false) => "中风险区",
        (Some(RiskLevel::Medium), true) => "medium-risk area",
        (Some(RiskLevel::High), false) => "高风险区",
        (Some(RiskLevel::High), true) => "high-risk area",
    }
}

/// The map of `venues` titled `title` (escaped here), in Chinese or English.
pub fn venue_map_svg(en: bool, title: &str, venues: &[MapVenue]) -> String {
    let (mut lat_min, mut lat_max, mut lon_min, mut lon_max) =
        (i32::MAX, i32::MIN, i32::MAX, i32::MIN);
    for venue in venues {
        lat_min = lat_min.min(venue.lat_e6);
        lat_max = lat_max.max(venue.lat_e6);
        lon_min = lon_min.min(venue.lon_e6);
        lon_max = lon_max.max(venue.lon_e6);
    }
    // Degrees of longitude shrink with latitude: scale them so the map is
    // not stretched sideways.
    let mid_lat = (f64::from(lat_min) + f64::from(lat_max)) / 2e6;
    let lon_scale = mid_lat.to_radians().cos().max(0.01);
    let span_x = (f64::from(lon_max) - f64::from(lon_min)) * lon_scale;
    let span_y = f64::from(lat_max) - f64::from(lat_min);
    let usable_w = WIDTH - 2.0 * MARGIN;
    let usable_h = HEIGHT - 2.0 * MARGIN - 40.0;
    let scale = if span_x <= 0.0 && span_y <= 0.0 {
        1.0
    } else {
        (usable_w / span_x.max(1.0)).min(usable_h / span_y.max(1.0))
    };
    let heading = if en {
        "Venues and risk areas"
    } else {
        "场所与风险区"
    };
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="map-title" data-venues="{count}"><title id="map-title">{heading} · {title}</title><rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff" stroke="#888888"/><text x="{MARGIN}" y="20" font-size="14" fill="#000000">{heading} · {title}</text>"##,
        count = venues.len(),
        title = escape(title),
    );
    if venues.is_empty() {
        let none = if en {
            "No venue with coordinates"
        } else {
            "无带坐标的场所"
        };
        svg.push_str(&format!(
            r##"<text x="{MARGIN}" y="60" font-size="13" fill="#000000">{none}</text>"##
        ));
    }
    for venue in venues {
        let x = MARGIN + (f64::from(venue.lon_e6) - f64::from(lon_min)) * lon_scale * scale;
        let y = HEIGHT - MARGIN - 24.0 - (f64::from(venue.lat_e6) - f64::from(lat_min)) * scale;
        let radius = if venue.risk.is_some() { 6 } else { 4 };
        svg.push_str(&format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="{radius}" fill="{fill}" data-venue="{id}" data-risk="{risk}"><title>{name} · {risk_name}</title></circle>"##,
            fill = fill(venue.risk),
            id = escape(&venue.id),
            risk = venue.risk.map_or("none", |risk| match risk {
                RiskLevel::Low => "low",
                RiskLevel::Medium => "medium",
                RiskLevel::High => "high",
            }),
            name = escape(&venue.name),
            risk_name = risk_name(venue.risk, en),
        ));
    }
    // The legend: each mark in words too, for readers who do not tell the
    // colors apart.
    for (index, risk) in [
        None,
        Some(RiskLevel::Low),
        Some(RiskLevel::Medium),
        Some(RiskLevel::High),
    ]
    .into_iter()
    .enumerate()
    {
        let x = MARGIN + index as f64 * 150.0;
        let y = HEIGHT - 10.0;
        svg.push_str(&format!(
            r##"<circle cx="{x:.1}" cy="{cy:.1}" r="5" fill="{fill}"/><text x="{tx:.1}" y="{y:.1}" font-size="12" fill="#000000">{name}</text>"##,
            cy = y - 4.0,
            fill = fill(risk),
            tx = x + 9.0,
            name = risk_name(risk, en),
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venue_named_like_markup_cannot_inject_into_the_map() {
        let venues = [MapVenue {
            id: "v-1".into(),
            name: r#"</title><script>alert(1)</script><a href="javascript:x">"#.into(),
            lat_e6: 22_530_000,
            lon_e6: 113_930_000,
            risk: Some(RiskLevel::High),
        }];
        let svg = venue_map_svg(false, "<440305&>", &venues);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("<a "), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("&lt;440305&amp;&gt;"));
        // One element per venue, and the document still parses as one root.
        assert_eq!(svg.matches("data-venue=").count(), 1);
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn the_map_fits_every_venue_inside_its_box() {
        let venues: Vec<MapVenue> = (0..50)
            .map(|n| MapVenue {
                id: format!("v-{n}"),
                name: format!("店 {n}"),
                lat_e6: 22_500_000 + n * 1_000,
                lon_e6: 113_900_000 + (n % 7) * 3_000,
                risk: None,
            })
            .collect();
        let svg = venue_map_svg(true, "440305", &venues);
        for part in svg.split("<circle cx=\"").skip(1) {
            let x: f64 = part[..part.find('"').unwrap()].parse().unwrap();
            let rest = &part[part.find("cy=\"").unwrap() + 4..];
            let y: f64 = rest[..rest.find('"').unwrap()].parse().unwrap();
            assert!(
                (0.0..=WIDTH).contains(&x) && (0.0..=HEIGHT).contains(&y),
                "{x},{y}"
            );
        }
    }
}
