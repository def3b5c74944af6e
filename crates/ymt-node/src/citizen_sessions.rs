//! Citizen sessions that every node of a cluster honours.
//!
//! A session is a token the node mints at sign-in,
//! `s1~<opened_at>~<nonce>~<pid>~<mac>`: the instant it was opened (unix
//! seconds), 16 random bytes, the person, and an HMAC-SHA256 of the three
//! under a key derived from the pseudonymisation secret (label
//! `ymt citizen session v1`). The nodes of one cluster share that secret
//! (README "Run a cluster"), so any of them verifies a token it never saw:
//! when a node dies, its citizens are still signed in on the node the load
//! balancer or the page reaches next, and a node's restart signs nobody
//! out. A node with another secret (another platform, a test) refuses it.
//!
//! What a token cannot say is that it ended. Every node learns that from
//! `sessions_ended` records (durable, replicated, reloaded at start): a
//! person's sessions opened by an instant ("sign out everywhere", an
//! authority), or one session (signing out), named by its nonce. The
//! nonce alone is no credential: without the secret nobody makes its MAC.

use std::collections::{HashMap, VecDeque};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use ymt_core::{PersonId, Timestamp};

/// How long a citizen session lasts.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;
/// How far in the future a token's opening may lie: the nodes' clocks
/// differ by a little (NTP), never by more.
pub const SESSION_CLOCK_SKEW_SECS: i64 = 60;
/// Characters of a session token, at most (a pid is at most 64).
pub const SESSION_TOKEN_CHARS_MAX: usize = 200;
const TOKEN_VERSION: &str = "s1";
const KEY_LABEL: &[u8] = b"ymt citizen session v1";

/// The 16 random bytes that name one session (hex in a token and in a
/// `sessions_ended` record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionNonce([u8; 16]);

impl SessionNonce {
    pub fn from_bytes(bytes: [u8; 16]) -> SessionNonce {
        SessionNonce(bytes)
    }

    /// Exactly 32 lowercase hex digits.
    pub fn parse(text: &str) -> Option<SessionNonce> {
        if text.len() != 32 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(SessionNonce(bytes))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl serde::Serialize for SessionNonce {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for SessionNonce {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        SessionNonce::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("a session nonce is 32 lowercase hex digits"))
    }
}

/// A token as parsed from a cookie: well formed, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionToken {
    opened_at_secs: i64,
    nonce: SessionNonce,
    pid: PersonId,
    mac: [u8; 32],
}

impl SessionToken {
    /// Parses `s1~<opened_at>~<nonce>~<pid>~<mac>` strictly: one spelling
    /// per token (decimal without sign or leading zero, lowercase hex), so
    /// a token cannot be varied to dodge a table keyed by its text.
    pub fn parse(text: &str) -> Option<SessionToken> {
        if text.len() > SESSION_TOKEN_CHARS_MAX {
            return None;
        }
        let mut parts = text.split('~');
        let (version, opened_at, nonce, pid, mac) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() || version != TOKEN_VERSION {
            return None;
        }
        let plain_decimal = !opened_at.is_empty()
            && opened_at.len() <= 12
            && opened_at.bytes().all(|b| b.is_ascii_digit())
            && (opened_at == "0" || !opened_at.starts_with('0'));
        if !plain_decimal {
            return None;
        }
        let opened_at_secs: i64 = opened_at.parse().ok()?;
        let nonce = SessionNonce::parse(nonce)?;
        let pid = PersonId::parse(pid).ok()?;
        if mac.len() != 64 || !mac.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut mac_bytes = [0u8; 32];
        hex::decode_to_slice(mac, &mut mac_bytes).ok()?;
        Some(SessionToken {
            opened_at_secs,
            nonce,
            pid,
            mac: mac_bytes,
        })
    }

    pub fn pid(&self) -> &PersonId {
        &self.pid
    }

    pub fn nonce(&self) -> SessionNonce {
        self.nonce
    }

    pub fn opened_at_secs(&self) -> i64 {
        self.opened_at_secs
    }
}

/// The key that makes and checks tokens.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<secret>)")
    }
}

impl SessionKey {
    /// Derived from the pseudonymisation secret under its own label, so it
    /// reveals nothing of the secret, of any pid or of the node credential.
    pub fn derive(secret: &[u8]) -> SessionKey {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(KEY_LABEL);
        SessionKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, opened_at_secs: i64, nonce: SessionNonce, pid: &PersonId) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(TOKEN_VERSION.as_bytes());
        mac.update(&[0]);
        mac.update(opened_at_secs.to_string().as_bytes());
        mac.update(&[0]);
        mac.update(&nonce.0);
        mac.update(pid.as_str().as_bytes());
        mac
    }

    /// The token of a session opened at `opened_at` (its text).
    pub fn mint(&self, pid: &PersonId, opened_at: Timestamp, nonce: SessionNonce) -> String {
        let opened_at_secs = opened_at.unix_secs().max(0);
        let mac = self.mac(opened_at_secs, nonce, pid).finalize().into_bytes();
        format!(
            "{TOKEN_VERSION}~{opened_at_secs}~{}~{}~{}",
            nonce.to_hex(),
            pid.as_str(),
            hex::encode(mac)
        )
    }

    /// Whether this key made the token (in constant time).
    pub fn made(&self, token: &SessionToken) -> bool {
        self.mac(token.opened_at_secs, token.nonce, &token.pid)
            .verify_slice(&token.mac)
            .is_ok()
    }
}

/// Single sessions one person may have ended within a session's lifetime
/// (signed out, or ended by their own later sign-ins) before that person's
/// next sign-in is refused: each is remembered for 8 hours, and one person
/// signing in and out in a loop must not fill what every person needs.
pub const ENDED_SESSIONS_PER_PERSON_MAX: usize = 64;

/// What the node knows of ended sessions, from `sessions_ended` records:
/// kept while a session they end could still be live (its opening plus the
/// TTL), then pruned.
#[derive(Default, Debug)]
pub struct EndedSessions {
    /// Each person's latest "every session opened by then ended".
    persons: HashMap<PersonId, Timestamp>,
    /// Single sessions ended: whose, and when.
    sessions: HashMap<SessionNonce, (PersonId, Timestamp)>,
    /// How many of `sessions` are each person's.
    sessions_of_person: HashMap<PersonId, usize>,
}

impl EndedSessions {
    pub fn end_person(&mut self, pid: &PersonId, ended_at: Timestamp) {
        let latest = self.persons.entry(pid.clone()).or_insert(ended_at);
        if ended_at > *latest {
            *latest = ended_at;
        }
    }

    pub fn end_session(&mut self, nonce: SessionNonce, pid: &PersonId, ended_at: Timestamp) {
        if let std::collections::hash_map::Entry::Vacant(entry) = self.sessions.entry(nonce) {
            entry.insert((pid.clone(), ended_at));
            *self.sessions_of_person.entry(pid.clone()).or_default() += 1;
        }
    }

    pub fn has_ended(&self, token: &SessionToken) -> bool {
        self.sessions.contains_key(&token.nonce)
            || self
                .persons
                .get(&token.pid)
                .is_some_and(|ended_at| token.opened_at_secs <= ended_at.unix_secs())
    }

    /// Single sessions of `pid` ended within a session's lifetime.
    pub fn ended_sessions_of(&self, pid: &PersonId) -> usize {
        self.sessions_of_person.get(pid).copied().unwrap_or(0)
    }

    /// Forgets what can end no live session: a session ended at `t` was
    /// opened by `t` (give or take the clocks' skew), so it expired by
    /// `t + TTL + skew`.
    pub fn prune(&mut self, now: Timestamp) {
        let keep = |ended_at: &Timestamp| {
            ended_at.unix_secs() + SESSION_TTL_SECS + SESSION_CLOCK_SKEW_SECS > now.unix_secs()
        };
        self.persons.retain(|_, ended_at| keep(ended_at));
        let counts = &mut self.sessions_of_person;
        self.sessions.retain(|_, (pid, ended_at)| {
            let kept = keep(ended_at);
            if !kept && let Some(count) = counts.get_mut(pid) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(pid);
                }
            }
            kept
        });
    }

    pub fn len(&self) -> usize {
        self.persons.len() + self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The sessions this node opened (a bound per person and in all).
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) pid: PersonId,
    pub(crate) expires_at: Timestamp,
}

/// Live sessions: by id, in the order they were opened (every session lasts
/// [`SESSION_TTL_SECS`], so this is also the order they expire in; ids of
/// ended sessions linger until they reach the front or a compaction), and
/// each person's, oldest first.
#[derive(Default)]
pub(crate) struct SessionTable {
    pub(crate) by_id: HashMap<SessionNonce, Session>,
    pub(crate) opened: VecDeque<SessionNonce>,
    pub(crate) of_person: HashMap<PersonId, VecDeque<SessionNonce>>,
}

impl SessionTable {
    pub(crate) fn remove(&mut self, session_id: SessionNonce) {
        let Some(session) = self.by_id.remove(&session_id) else {
            return;
        };
        if let Some(ids) = self.of_person.get_mut(&session.pid) {
            ids.retain(|id| *id != session_id);
            if ids.is_empty() {
                self.of_person.remove(&session.pid);
            }
        }
    }

    /// Drops expired sessions and the ids of ended ones from the front, and
    /// compacts the order when ended ids pile up behind a live one.
    pub(crate) fn prune(&mut self, now: Timestamp, sessions_max: usize) {
        while let Some(front) = self.opened.front() {
            match self.by_id.get(front) {
                Some(session) if session.expires_at > now => break,
                Some(_) => {
                    let front = *front;
                    self.remove(front);
                    self.opened.pop_front();
                }
                None => {
                    self.opened.pop_front();
                }
            }
        }
        if self.opened.len() > 2 * sessions_max.max(1) {
            let by_id = &self.by_id;
            self.opened.retain(|id| by_id.contains_key(id));
        }
    }
}

/// Why a token is not a live session (for tests and the audit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRefused {
    Malformed,
    NotOurs,
    NotYetOpened,
    Expired,
    Ended,
}

/// Checks a token's text at `now`: made by `key`, opened (within the skew)
/// and not expired, not ended.
pub fn check_session(
    key: &SessionKey,
    ended: &EndedSessions,
    text: &str,
    now: Timestamp,
) -> Result<SessionToken, SessionRefused> {
    let token = SessionToken::parse(text).ok_or(SessionRefused::Malformed)?;
    if !key.made(&token) {
        return Err(SessionRefused::NotOurs);
    }
    if token.opened_at_secs > now.unix_secs() + SESSION_CLOCK_SKEW_SECS {
        return Err(SessionRefused::NotYetOpened);
    }
    if token.opened_at_secs + SESSION_TTL_SECS <= now.unix_secs() {
        return Err(SessionRefused::Expired);
    }
    if ended.has_ended(&token) {
        return Err(SessionRefused::Ended);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_secs(secs).unwrap()
    }

    fn pid(text: &str) -> PersonId {
        PersonId::parse(text).unwrap()
    }

    const OPENED: i64 = 1_800_000_000;

    fn minted() -> (SessionKey, String) {
        let key = SessionKey::derive(&[7u8; 32]);
        let text = key.mint(&pid("p-1"), at(OPENED), SessionNonce::from_bytes([9; 16]));
        (key, text)
    }

    fn check(
        text: &str,
        key: &SessionKey,
        ended: &EndedSessions,
        now: i64,
    ) -> Result<(), SessionRefused> {
        check_session(key, ended, text, at(now)).map(|_| ())
    }

    #[test]
    fn a_token_is_honoured_exactly_while_it_lasts_and_has_not_ended() {
        let (key, text) = minted();
        let other_key = SessionKey::derive(&[8u8; 32]);
        let nothing = EndedSessions::default();
        let mut person_ended_later = EndedSessions::default();
        person_ended_later.end_person(&pid("p-1"), at(OPENED + 5));
        let mut person_ended_before = EndedSessions::default();
        person_ended_before.end_person(&pid("p-1"), at(OPENED - 1));
        let mut someone_else_ended = EndedSessions::default();
        someone_else_ended.end_person(&pid("p-2"), at(OPENED + 5));
        let mut this_one_ended = EndedSessions::default();
        this_one_ended.end_session(
            SessionNonce::from_bytes([9; 16]),
            &pid("p-1"),
            at(OPENED + 5),
        );
        let mut another_one_ended = EndedSessions::default();
        another_one_ended.end_session(
            SessionNonce::from_bytes([1; 16]),
            &pid("p-1"),
            at(OPENED + 5),
        );
        // (case, the checking node's key, what it knows ended, now, expect)
        type Case<'a> = (
            &'a str,
            &'a SessionKey,
            &'a EndedSessions,
            i64,
            Result<(), SessionRefused>,
        );
        let cases: &[Case] = &[
            ("live", &key, &nothing, OPENED + 10, Ok(())),
            (
                "last second",
                &key,
                &nothing,
                OPENED + SESSION_TTL_SECS - 1,
                Ok(()),
            ),
            (
                "expired",
                &key,
                &nothing,
                OPENED + SESSION_TTL_SECS,
                Err(SessionRefused::Expired),
            ),
            (
                "clock a little behind",
                &key,
                &nothing,
                OPENED - SESSION_CLOCK_SKEW_SECS,
                Ok(()),
            ),
            (
                "from the future",
                &key,
                &nothing,
                OPENED - SESSION_CLOCK_SKEW_SECS - 1,
                Err(SessionRefused::NotYetOpened),
            ),
            (
                "another platform's key",
                &other_key,
                &nothing,
                OPENED + 10,
                Err(SessionRefused::NotOurs),
            ),
            (
                "person signed out everywhere after",
                &key,
                &person_ended_later,
                OPENED + 10,
                Err(SessionRefused::Ended),
            ),
            (
                "person signed out everywhere before it opened",
                &key,
                &person_ended_before,
                OPENED + 10,
                Ok(()),
            ),
            (
                "someone else signed out",
                &key,
                &someone_else_ended,
                OPENED + 10,
                Ok(()),
            ),
            (
                "this session signed out",
                &key,
                &this_one_ended,
                OPENED + 10,
                Err(SessionRefused::Ended),
            ),
            (
                "another session signed out",
                &key,
                &another_one_ended,
                OPENED + 10,
                Ok(()),
            ),
        ];
        for (name, key, ended, now, expect) in cases {
            assert_eq!(check(&text, key, ended, *now), *expect, "{name}");
        }
    }

    #[test]
    fn a_token_altered_in_any_part_is_refused() {
        let (key, text) = minted();
        let nothing = EndedSessions::default();
        let parts: Vec<&str> = text.split('~').collect();
        let altered = [
            // Another person, opened later, another nonce: each breaks the MAC.
            format!("s1~{}~{}~p-2~{}", parts[1], parts[2], parts[4]),
            format!(
                "s1~{}~{}~{}~{}",
                OPENED + 3600,
                parts[2],
                parts[3],
                parts[4]
            ),
            format!(
                "s1~{}~{}~{}~{}",
                parts[1],
                "0".repeat(32),
                parts[3],
                parts[4]
            ),
            format!(
                "s1~{}~{}~{}~{}",
                parts[1],
                parts[2],
                parts[3],
                "0".repeat(64)
            ),
        ];
        for text in &altered {
            assert_eq!(
                check(text, &key, &nothing, OPENED + 10),
                Err(SessionRefused::NotOurs),
                "{text}"
            );
        }
        let malformed = [
            String::new(),
            text.replacen("s1", "s2", 1),
            text.to_uppercase(),
            format!("s1~0{}~{}~{}~{}", parts[1], parts[2], parts[3], parts[4]),
            format!("s1~+{}~{}~{}~{}", parts[1], parts[2], parts[3], parts[4]),
            format!("{text}~"),
            text[..text.len() - 1].to_owned(),
            format!("s1~{}~{}~p 2~{}", parts[1], parts[2], parts[4]),
            "a".repeat(SESSION_TOKEN_CHARS_MAX + 1),
        ];
        for text in &malformed {
            assert_eq!(
                check(text, &key, &nothing, OPENED + 10),
                Err(SessionRefused::Malformed),
                "{text}"
            );
        }
    }

    #[test]
    fn ended_sessions_are_forgotten_only_once_nothing_they_end_can_be_live() {
        let mut ended = EndedSessions::default();
        ended.end_person(&pid("p-1"), at(OPENED));
        ended.end_session(SessionNonce::from_bytes([9; 16]), &pid("p-1"), at(OPENED));
        ended.end_session(SessionNonce::from_bytes([9; 16]), &pid("p-1"), at(OPENED));
        ended.end_session(
            SessionNonce::from_bytes([8; 16]),
            &pid("p-1"),
            at(OPENED + 10),
        );
        assert_eq!(
            ended.ended_sessions_of(&pid("p-1")),
            2,
            "one session counted once"
        );
        ended.prune(at(OPENED + SESSION_TTL_SECS + SESSION_CLOCK_SKEW_SECS - 1));
        assert_eq!(ended.len(), 3);
        ended.prune(at(OPENED + SESSION_TTL_SECS + SESSION_CLOCK_SKEW_SECS));
        assert_eq!(ended.len(), 1);
        assert_eq!(ended.ended_sessions_of(&pid("p-1")), 1);
        ended.prune(at(OPENED + 10 + SESSION_TTL_SECS + SESSION_CLOCK_SKEW_SECS));
        assert!(ended.is_empty());
        assert_eq!(ended.ended_sessions_of(&pid("p-1")), 0);
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_never_panics_and_a_parsed_token_prints_back_the_same(text in "\\PC{0,220}") {
            if let Some(token) = SessionToken::parse(&text) {
                let printed = format!(
                    "s1~{}~{}~{}~{}",
                    token.opened_at_secs,
                    token.nonce.to_hex(),
                    token.pid.as_str(),
                    hex::encode(token.mac)
                );
                proptest::prop_assert_eq!(printed, text);
            }
        }

        #[test]
        fn every_minted_token_parses_and_verifies(
            opened in 0i64..4_000_000_000,
            nonce in proptest::array::uniform16(proptest::num::u8::ANY),
            pid_text in "[A-Za-z0-9._:-]{1,64}",
        ) {
            let key = SessionKey::derive(&[3u8; 32]);
            let person = PersonId::parse(&pid_text).unwrap();
            let text = key.mint(&person, at(opened), SessionNonce::from_bytes(nonce));
            let token = SessionToken::parse(&text).unwrap();
            proptest::prop_assert!(key.made(&token));
            proptest::prop_assert_eq!(token.pid(), &person);
        }
    }
}
