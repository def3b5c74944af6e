//! Fuzzes the reader of a peer's snapshot stream (`yimatong restore
//! --from-peer` reads one from another node before it writes anything):
//! the bytes fed whole, and fed in chunks whose size the first byte picks.
//! Nothing may panic, and the chunking must not change the outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_node::peer_snapshot::{Piece, SnapshotReader};

fn read(data: &[u8], chunk: usize) -> Result<Vec<(String, usize)>, String> {
    let mut reader = SnapshotReader::new();
    let mut parts: Vec<(String, usize)> = Vec::new();
    for piece_of_input in data.chunks(chunk.max(1)) {
        for piece in reader.feed(piece_of_input).map_err(|error| error.to_string())? {
            match piece {
                Piece::Begin { path, .. } => parts.push((path, 0)),
                Piece::Data(bytes) => {
                    parts.last_mut().expect("data follows a part").1 += bytes.len();
                }
                Piece::End => {}
            }
        }
    }
    reader.finish().map_err(|error| error.to_string())?;
    Ok(parts)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let whole = read(rest, rest.len());
    let chunked = read(rest, usize::from(first % 17) + 1);
    assert_eq!(whole.is_ok(), chunked.is_ok());
    if let (Ok(whole), Ok(chunked)) = (whole, chunked) {
        assert_eq!(whole, chunked);
    }
});
