//! QR rendering (fast_qr, alphanumeric mode) and decoding (rqrr).

use fast_qr::convert::Builder;
use fast_qr::convert::svg::SvgBuilder;
use fast_qr::qr::QRBuilder;
use fast_qr::{ECL, Mode};

/// Pixels per module in PNG output and the quiet zone in modules.
pub const PNG_MODULE_PX: u32 = 4;
pub const QUIET_ZONE_MODULES: u32 = 4;
/// Largest image file accepted for decoding, and its largest side.
pub const IMAGE_FILE_LEN_MAX: usize = 16 * 1024 * 1024;
pub const IMAGE_SIDE_PX_MAX: u32 = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("cannot encode as a QR code: {detail}")]
    Encode { detail: String },
    #[error("image is {len} bytes, more than allowed")]
    ImageTooLarge { len: usize },
    #[error("cannot read the image: {detail}")]
    Image { detail: String },
    #[error("no QR code found in the image")]
    NotFound,
    #[error("QR code found but not decodable: {detail}")]
    Decode { detail: String },
}

fn build(text: &str) -> Result<fast_qr::QRCode, QrError> {
    // Tokens use only the base45 alphabet, which is exactly the QR
    // alphanumeric set; other text falls back to byte mode.
    let alphanumeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b" $%*+-./:".contains(&b));
    let mut builder = QRBuilder::new(text.as_bytes().to_vec());
    builder.ecl(ECL::M);
    if alphanumeric {
        builder.mode(Mode::Alphanumeric);
    }
    builder.build().map_err(|error| QrError::Encode {
        detail: format!("{error:?}"),
    })
}

pub fn render_qr_svg(text: &str) -> Result<String, QrError> {
    let qr = build(text)?;
    Ok(SvgBuilder::default()
        .margin(QUIET_ZONE_MODULES as usize)
        .to_str(&qr))
}

/// The color a code's QR modules are drawn in, as the regional apps drew
/// them: each dark enough that the modules keep a contrast of at least
/// [`MODULE_CONTRAST_MIN`] against the white background, which scanners
/// (they read luminance) need. A bright yellow (#f5c400, 1.6:1) would not
/// scan reliably, so yellow is drawn as a dark amber.
pub fn module_rgb(color: ymt_core::Color) -> [u8; 3] {
    match color {
        ymt_core::Color::Green => [0x1a, 0x7f, 0x37],
        ymt_core::Color::Yellow => [0x8a, 0x65, 0x00],
        ymt_core::Color::Red => [0xc6, 0x28, 0x28],
    }
}

/// The least contrast ratio (WCAG 2) of module color to white.
pub const MODULE_CONTRAST_MIN: f64 = 4.5;

/// The WCAG 2 contrast ratio of an sRGB color against white.
pub fn contrast_against_white(rgb: [u8; 3]) -> f64 {
    let linear = |channel: u8| {
        let c = f64::from(channel) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2]);
    1.05 / (luminance + 0.05)
}

/// The QR as SVG with its modules in `dark` on white.
pub fn render_qr_svg_colored(text: &str, dark: [u8; 3]) -> Result<String, QrError> {
    let qr = build(text)?;
    Ok(SvgBuilder::default()
        .margin(QUIET_ZONE_MODULES as usize)
        .module_color(dark)
        .to_str(&qr))
}

/// The QR as an RGB PNG with its modules in `dark` on white.
pub fn render_qr_png_colored(text: &str, dark: [u8; 3]) -> Result<Vec<u8>, QrError> {
    let qr = build(text)?;
    let modules = qr.size as u32;
    let side = (modules + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PX;
    let image = image::RgbImage::from_fn(side, side, |x, y| {
        let module_x = (x / PNG_MODULE_PX).wrapping_sub(QUIET_ZONE_MODULES);
        let module_y = (y / PNG_MODULE_PX).wrapping_sub(QUIET_ZONE_MODULES);
        let is_dark = module_x < modules
            && module_y < modules
            && qr.data[(module_y * modules + module_x) as usize].value();
        image::Rgb(if is_dark { dark } else { [255, 255, 255] })
    });
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        image.as_raw(),
        side,
        side,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|error| QrError::Encode {
        detail: error.to_string(),
    })?;
    Ok(out)
}

/// A black-on-white 8-bit grayscale PNG.
pub fn render_qr_png(text: &str) -> Result<Vec<u8>, QrError> {
    let qr = build(text)?;
    let modules = qr.size as u32;
    let side = (modules + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PX;
    let image = image::GrayImage::from_fn(side, side, |x, y| {
        let module_x = (x / PNG_MODULE_PX).wrapping_sub(QUIET_ZONE_MODULES);
        let module_y = (y / PNG_MODULE_PX).wrapping_sub(QUIET_ZONE_MODULES);
        let dark = module_x < modules
            && module_y < modules
            && qr.data[(module_y * modules + module_x) as usize].value();
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    );
    image::ImageEncoder::write_image(
        encoder,
        image.as_raw(),
        side,
        side,
        image::ExtendedColorType::L8,
    )
    .map_err(|error| QrError::Encode {
        detail: error.to_string(),
    })?;
    Ok(out)
}

/// A camera frame a door's page sends to be decoded (docs/pages.md, "Scanning
/// a code"): far smaller bounds than a file given on the command line, since
/// anyone may send frames. A phone's frame, scaled by the page to at most
/// 1280 px, is a JPEG of some 100 KB.
pub const FRAME_FILE_LEN_MAX: usize = 1024 * 1024;
pub const FRAME_SIDE_PX_MAX: u32 = 1920;

/// Decodes the first QR code found in a PNG or JPEG file's bytes.
pub fn decode_qr_image(bytes: &[u8]) -> Result<String, QrError> {
    decode_bounded(bytes, IMAGE_FILE_LEN_MAX, IMAGE_SIDE_PX_MAX)
}

/// Decodes the first QR code in a camera frame (PNG or JPEG) within the
/// frame bounds: `Ok(None)` when the frame shows no code, the usual case
/// while a camera looks for one. The bytes are only read, never kept.
pub fn decode_qr_frame(bytes: &[u8]) -> Result<Option<String>, QrError> {
    match decode_bounded(bytes, FRAME_FILE_LEN_MAX, FRAME_SIDE_PX_MAX) {
        Ok(text) => Ok(Some(text)),
        Err(QrError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

fn decode_bounded(bytes: &[u8], len_max: usize, side_px_max: u32) -> Result<String, QrError> {
    if bytes.len() > len_max {
        return Err(QrError::ImageTooLarge { len: bytes.len() });
    }
    let image_error = |error: image::ImageError| QrError::Image {
        detail: error.to_string(),
    };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| QrError::Image {
            detail: error.to_string(),
        })?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(side_px_max);
    limits.max_image_height = Some(side_px_max);
    // Four bytes a pixel decoded, twice over for the gray copy, and room.
    limits.max_alloc = Some(u64::from(side_px_max) * u64::from(side_px_max) * 16);
    reader.limits(limits);
    let gray = reader.decode().map_err(image_error)?.to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(gray);
    let grids = prepared.detect_grids();
    let mut last_error = QrError::NotFound;
    for grid in grids.iter().take(8) {
        match grid.decode() {
            Ok((_, content)) => return Ok(content),
            Err(error) => {
                last_error = QrError::Decode {
                    detail: error.to_string(),
                }
            }
        }
    }
    Err(last_error)
}
