//! Do not trust the broker alone, for ordered commands too (issue 11 item
//! 6). Every node applies the cluster's ordered commands in stream order;
//! if the broker lost one for some nodes and not others (Jepsen found
//! JetStream losing acknowledged writes when a replica's files were
//! truncated), those nodes would go on with a different history and say
//! nothing. So each node folds every command it applies or refuses into a
//! hash chain, `h(n) = SHA-256(h(n-1) ‖ command id ‖ outcome)`, written in
//! the same commit as the command (`commands-chain/<n, 20 digits>` and
//! `commands-chain/head`). Anti-entropy asks each peer for its chain at
//! this node's count; nodes that applied the same commands in the same
//! order hold the same chain. A node whose chain differs from more of its
//! peers than agree with it (itself counted) is in the minority: its
//! `/readyz` fails, so a load balancer takes it out, and the operator
//! bootstraps it again from a peer (`yimatong restore --from-peer`).
//!
//! What this does not do: repair. A command cannot be applied late at
//! another place in the order without possibly deciding differently from
//! the nodes that applied it in place, so the diverged node is taken out
//! rather than patched.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ymt_store::MetaWrite;

/// Where each node keeps its chain.
pub const COMMAND_CHAIN_NAMESPACE: &str = "commands-chain";
const HEAD_KEY: &str = "head";

/// The chain after `count` commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    /// Ordered commands applied or refused.
    pub count: u64,
    /// The chain's hash after them (hex); 64 zeros before the first.
    pub hash: String,
}

impl Default for ChainPoint {
    fn default() -> Self {
        ChainPoint {
            count: 0,
            hash: "0".repeat(64),
        }
    }
}

impl ChainPoint {
    /// The chain after one more command.
    pub fn next(&self, command_id: &str, refused: bool) -> ChainPoint {
        let mut hasher = Sha256::new();
        hasher.update(self.hash.as_bytes());
        hasher.update([0]);
        hasher.update(command_id.as_bytes());
        hasher.update([0, u8::from(refused)]);
        ChainPoint {
            count: self.count + 1,
            hash: hex::encode(hasher.finalize()),
        }
    }

    /// The writes keeping this point: its entry and the head, in the
    /// command's own commit.
    pub fn writes(&self) -> Vec<MetaWrite> {
        let value = serde_json::to_vec(self).expect("a chain point serialises");
        vec![
            MetaWrite::put(
                COMMAND_CHAIN_NAMESPACE,
                &entry_key(self.count),
                value.clone(),
            ),
            MetaWrite::put(COMMAND_CHAIN_NAMESPACE, HEAD_KEY, value),
        ]
    }
}

/// The key of the point after `count` commands.
pub fn entry_key(count: u64) -> String {
    format!("{count:020}")
}

/// The key of the head.
pub fn head_key() -> &'static str {
    HEAD_KEY
}

/// What one peer's chain says of this node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerVerdict {
    /// The same chain up to the shorter one's end.
    Agrees,
    /// Another chain: they differ at or before this count.
    Disagrees { at: u64 },
    /// Nothing to compare yet (the peer did not say its chain at this
    /// node's count, or this node lacks its own point at the peer's).
    Unknown,
}

/// Compares this node's chain with a peer's. `mine_at(n)` is this node's
/// point after `n` commands, if it has applied that many; `peer_head` the
/// peer's head; `peer_at_my_count` the peer's point at this node's count,
/// if the peer has applied that many.
pub fn compare(
    my_head: &ChainPoint,
    mine_at: impl Fn(u64) -> Option<ChainPoint>,
    peer_head: &ChainPoint,
    peer_at_my_count: Option<&ChainPoint>,
) -> PeerVerdict {
    let (mine, theirs) = if peer_head.count >= my_head.count {
        match peer_at_my_count {
            Some(point) if point.count == my_head.count => (Some(my_head.clone()), point.clone()),
            _ => return PeerVerdict::Unknown,
        }
    } else {
        (mine_at(peer_head.count), peer_head.clone())
    };
    match mine {
        None => PeerVerdict::Unknown,
        Some(mine) if mine.hash == theirs.hash => PeerVerdict::Agrees,
        Some(mine) => PeerVerdict::Disagrees { at: mine.count },
    }
}

/// Whether more peers disagree with this node than agree with it, itself
/// counted among those that agree: with three nodes, the one whose
/// history differs from both others'. Two nodes that differ are a tie,
/// and neither is taken out (neither can be told right).
pub fn in_minority(verdicts: &HashMap<String, PeerVerdict>) -> bool {
    let disagree = verdicts
        .values()
        .filter(|verdict| matches!(verdict, PeerVerdict::Disagrees { .. }))
        .count();
    let agree = verdicts
        .values()
        .filter(|verdict| **verdict == PeerVerdict::Agrees)
        .count();
    disagree > agree + 1
}

/// A node's chain and what its peers' chains said in the last round.
#[derive(Debug, Default)]
pub struct CommandChain {
    /// The head, changed only by the apply loop, after its commit.
    pub(crate) head: Mutex<ChainPoint>,
    /// Held by the apply loop from computing a point to changing the head
    /// (one writer; readers take `head` alone).
    pub(crate) append: Mutex<()>,
    /// Each peer's verdict in the last anti-entropy round, by peer address.
    verdicts: Mutex<HashMap<String, PeerVerdict>>,
}

impl CommandChain {
    pub fn head(&self) -> ChainPoint {
        self.head.lock().clone()
    }

    /// The verdicts of a round replace the last round's (a peer gone from
    /// the directory no longer counts).
    pub fn set_verdicts(&self, verdicts: HashMap<String, PeerVerdict>) {
        *self.verdicts.lock() = verdicts;
    }

    pub fn verdicts(&self) -> HashMap<String, PeerVerdict> {
        self.verdicts.lock().clone()
    }

    /// Peers whose chain differs from this node's, and whether that puts
    /// this node in the minority.
    pub fn divergence(&self) -> (usize, bool) {
        let verdicts = self.verdicts.lock();
        let disagree = verdicts
            .values()
            .filter(|verdict| matches!(verdict, PeerVerdict::Disagrees { .. }))
            .count();
        (disagree, in_minority(&verdicts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(ids: &[&str]) -> Vec<ChainPoint> {
        let mut points = vec![ChainPoint::default()];
        for id in ids {
            let next = points.last().expect("a point").next(id, false);
            points.push(next);
        }
        points
    }

    /// This node's verdict on a peer, both chains given whole.
    fn verdict(mine: &[ChainPoint], theirs: &[ChainPoint]) -> PeerVerdict {
        let my_head = mine.last().expect("a head");
        let peer_head = theirs.last().expect("a head");
        let peer_at_my_count = theirs.get(my_head.count as usize);
        compare(
            my_head,
            |count| mine.get(count as usize).cloned(),
            peer_head,
            peer_at_my_count,
        )
    }

    #[test]
    fn chains_agree_exactly_when_they_hold_the_same_commands_in_the_same_order() {
        let abc = chain(&["a", "b", "c"]);
        let cases: &[(&str, Vec<ChainPoint>, Vec<ChainPoint>, PeerVerdict)] = &[
            ("same", abc.clone(), abc.clone(), PeerVerdict::Agrees),
            (
                "peer behind",
                abc.clone(),
                chain(&["a", "b"]),
                PeerVerdict::Agrees,
            ),
            (
                "peer ahead",
                chain(&["a"]),
                abc.clone(),
                PeerVerdict::Agrees,
            ),
            ("both empty", chain(&[]), chain(&[]), PeerVerdict::Agrees),
            (
                "a command lost here",
                chain(&["a", "c"]),
                abc.clone(),
                PeerVerdict::Disagrees { at: 2 },
            ),
            (
                "a command lost there",
                abc.clone(),
                chain(&["a", "c"]),
                PeerVerdict::Disagrees { at: 2 },
            ),
            (
                "another order",
                chain(&["a", "c", "b"]),
                abc.clone(),
                PeerVerdict::Disagrees { at: 3 },
            ),
        ];
        for (name, mine, theirs, expect) in cases {
            assert_eq!(verdict(mine, theirs), *expect, "{name}");
        }
        // A refusal is part of the history: a node that refused what the
        // others applied has another chain.
        let refused = ChainPoint::default().next("a", true);
        assert_ne!(refused, ChainPoint::default().next("a", false));
        // The peer did not say its point at this node's count.
        assert_eq!(
            compare(&abc[1], |_| None, &abc[3], None),
            PeerVerdict::Unknown
        );
    }

    #[test]
    fn only_a_node_that_more_peers_contradict_than_confirm_is_in_the_minority() {
        let verdicts = |list: &[PeerVerdict]| -> HashMap<String, PeerVerdict> {
            list.iter()
                .enumerate()
                .map(|(index, verdict)| (format!("peer-{index}"), *verdict))
                .collect()
        };
        let no = PeerVerdict::Disagrees { at: 1 };
        let yes = PeerVerdict::Agrees;
        let unknown = PeerVerdict::Unknown;
        let cases: &[(&[PeerVerdict], bool)] = &[
            (&[], false),
            (&[yes, yes], false),
            (&[no, no], true),
            (&[no, yes], false),
            (&[no], false),
            (&[no, unknown], false),
            (&[no, no, yes], false),
            (&[no, no, no, yes], true),
        ];
        for (list, expect) in cases {
            assert_eq!(in_minority(&verdicts(list)), *expect, "{list:?}");
        }
    }
}
