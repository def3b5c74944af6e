//! A code's QR is drawn in its color (as the regional apps drew theirs); a
//! color that scanners could not read would turn a valid code away at the
//! door. Each color's code must decode back to its token.

mod common;

use common::{at, key};
use ymt_core::Color;
use ymt_token::qr::{
    MODULE_CONTRAST_MIN, contrast_against_white, module_rgb, render_qr_png_colored,
};
use ymt_token::{Algorithm, CodeIssuer, CodeRequest, decode_qr_image};

const COLORS: [Color; 3] = [Color::Green, Color::Yellow, Color::Red];

#[test]
fn a_colored_code_is_never_too_faint_for_a_scanner() {
    for color in COLORS {
        let rgb = module_rgb(color);
        let contrast = contrast_against_white(rgb);
        assert!(
            contrast >= MODULE_CONTRAST_MIN,
            "{color:?} modules {rgb:?} have contrast {contrast:.2} against white"
        );
    }
}

#[test]
fn each_colors_code_decodes_back_to_its_token() {
    let issuer = CodeIssuer::new("ymt:44", key(Algorithm::EdDsa, 8), 300, 16);
    let now = at("2026-11-27T08:00:00Z");
    for color in COLORS {
        let code = issuer
            .code_for(
                CodeRequest {
                    person: ymt_core::PersonId::parse("p-colored").unwrap(),
                    color,
                    color_valid_until: None,
                    masked_name: "李*".into(),
                    rule_set_version: "r1".into(),
                },
                now,
            )
            .unwrap();
        // The SVG the page shows names the module color.
        let [r, g, b] = module_rgb(color);
        let hex = format!("#{r:02x}{g:02x}{b:02x}");
        assert!(
            code.svg().to_ascii_lowercase().contains(&hex),
            "{color:?}: the SVG is not drawn in {hex}"
        );
        // The same modules in that color, as a camera sees them, decode.
        let png = render_qr_png_colored(&code.token, module_rgb(color)).unwrap();
        assert_eq!(decode_qr_image(&png).unwrap(), code.token, "{color:?}");
    }
}
