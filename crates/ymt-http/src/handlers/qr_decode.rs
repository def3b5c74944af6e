//! Camera frames decoded on the node, for browsers without
//! `BarcodeDetector` (Linux Chromium, Firefox, iOS Safari, Windows Chrome):
//! the verifier's and the citizen's camera send a frame, the node answers
//! the text of the QR code it shows, with the `rqrr` decoder that
//! `yimatong verify --image` uses (docs/pages.md, "Scanning a code").
//!
//! Anyone may send frames (a door's page works without a key), so the route
//! is bounded three ways: a frame's size and sides (`ymt_token::qr`), frames
//! per client address per second (429), and decodes at once on the node
//! (503). A frame is only read: never stored, logged or audited, and its
//! bytes are dropped with the answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::extract::{SharedState, client_address, parse_json};
use crate::problem::ApiError;
use crate::schemas::*;

/// Frames one client address may send in one second. A page sends about
/// four while its camera looks for a code; several devices of one venue
/// behind one address stay well within it.
pub const FRAMES_PER_ADDRESS_PER_SEC_MAX: u32 = 20;
/// Frames decoded at once on the node; further ones are shed with 503, so
/// decoding never takes the cores the doors' checks need.
pub const FRAME_DECODES_AT_ONCE_MAX: usize = 2;
/// Addresses counted in the current second; past it, frames from a further
/// address are refused (429) rather than forgetting anybody's count.
const ADDRESSES_COUNTED_MAX: usize = 10_000;

/// The node's frame decoder: its slots and the per-address counts of the
/// current second.
pub struct FrameDecoder {
    slots: Arc<tokio::sync::Semaphore>,
    /// The second counted, and the frames of each address in it.
    counts: Mutex<(i64, HashMap<String, u32>)>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            slots: Arc::new(tokio::sync::Semaphore::new(FRAME_DECODES_AT_ONCE_MAX)),
            counts: Mutex::new((i64::MIN, HashMap::new())),
        }
    }
}

impl FrameDecoder {
    /// Counts a frame of `client` in the second `now_secs`, or refuses it.
    fn admit(&self, client: &str, now_secs: i64) -> Result<(), ApiError> {
        let mut counts = self.counts.lock();
        if counts.0 != now_secs {
            *counts = (now_secs, HashMap::new());
        }
        let table = &mut counts.1;
        if !table.contains_key(client) && table.len() >= ADDRESSES_COUNTED_MAX {
            return Err(too_many());
        }
        let count = table.entry(client.to_owned()).or_insert(0);
        if *count >= FRAMES_PER_ADDRESS_PER_SEC_MAX {
            return Err(too_many());
        }
        *count += 1;
        Ok(())
    }
}

fn too_many() -> ApiError {
    ApiError::too_many_requests("too many camera frames from this address this second")
}

/// A camera frame.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FrameBody {
    /// The frame as a PNG or JPEG file, base64 (standard alphabet, padded):
    /// at most 1 MiB and 1920 px a side.
    image_base64: String,
}

/// What the frame shows.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct FrameAnswer {
    /// The text of the first QR code in the frame; `null` when the frame
    /// shows none that can be read (the camera goes on looking).
    text: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/qr:decode",
    tag = "codes",
    summary = "The QR code in a camera frame (for browsers without BarcodeDetector; nothing stored)",
    request_body = FrameBody,
    responses(
        (status = 200, description = "The code's text, or null when the frame shows none", body = FrameAnswer),
        (status = 400, response = BadRequest),
        (status = 413, response = TooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyFrames),
    )
)]
pub(crate) async fn decode_frame(
    State(state): State<SharedState>,
    Extension(decoder): Extension<Arc<FrameDecoder>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let client = client_address(client.as_ref().map(|Extension(ConnectInfo(peer))| peer));
    decoder.admit(&client, state.now().unix_secs())?;
    let body: FrameBody = parse_json(body)?;
    // Refused by its length before a byte of it is decoded.
    if body.image_base64.len() > ymt_token::qr::FRAME_FILE_LEN_MAX.div_ceil(3) * 4 {
        return Err(ApiError::too_large(
            "image_base64: the frame is larger than 1 MiB",
        ));
    }
    let frame = base64::engine::general_purpose::STANDARD
        .decode(body.image_base64.as_bytes())
        .map_err(|error| ApiError::unprocessable(format!("image_base64: {error}")))?;
    drop(body);
    let Ok(slot) = decoder.slots.clone().try_acquire_owned() else {
        return Err(ApiError::overloaded(
            "the node is decoding as many camera frames as it may at once",
        ));
    };
    // Decoding is CPU work: off the async workers, holding the slot.
    let decoded = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        ymt_token::decode_qr_frame(&frame)
    })
    .await
    .map_err(|error| ApiError::internal(format!("frame decoding: {error}")))?;
    match decoded {
        Ok(text) => Ok(axum::Json(FrameAnswer { text }).into_response()),
        Err(ymt_token::QrError::ImageTooLarge { .. }) => Err(ApiError::too_large(
            "image_base64: the frame is larger than 1 MiB",
        )),
        // A code seen but damaged: the camera goes on looking.
        Err(ymt_token::QrError::Decode { .. } | ymt_token::QrError::NotFound) => {
            Ok(axum::Json(FrameAnswer { text: None }).into_response())
        }
        Err(error) => Err(ApiError::unprocessable(format!(
            "image_base64: not a PNG or JPEG frame within 1920 px a side: {error}"
        ))),
    }
}
