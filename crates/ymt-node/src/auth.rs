//! Principals, roles, jurisdictions and API keys.
//!
//! A principal is a lab, a venue, a verifier device, a health authority, a
//! national administrator or an auditor, bound to a jurisdiction: a GB/T 2260
//! code prefix (the empty prefix is the whole country). Its credential is an
//! API key `ymt_<principal>.<secret>`; only the SHA-256 of the key is stored.
//!
//! Keys expire ([`KeyLifecycle::expires_at`]); rotating a key issues a new one
//! and keeps the old one working through a grace period
//! ([`RetiredKey::valid_until`]); revoking a principal's keys ends every one
//! of them at once. A refused key says why ([`KeyRefusal`]). Every key has an
//! id ([`key_id`]: the first 16 hex digits of its SHA-256), which the audit log
//! names with each use.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ymt_core::{EventKind, RegionCode, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Lab,
    Venue,
    VerifierDevice,
    HealthAuthority,
    NationalAdmin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Lab,
        Role::Venue,
        Role::VerifierDevice,
        Role::HealthAuthority,
        Role::NationalAdmin,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lab => "lab",
            Role::Venue => "venue",
            Role::VerifierDevice => "verifier_device",
            Role::HealthAuthority => "health_authority",
            Role::NationalAdmin => "national_admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// The event kinds this role may submit.
    pub fn may_submit(self, kind: EventKind) -> bool {
        match self {
            Role::Lab => kind == EventKind::TestResult,
            Role::Venue | Role::VerifierDevice => kind == EventKind::CheckIn,
            Role::HealthAuthority | Role::NationalAdmin => true,
            Role::Auditor => false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Principal {
    pub id: String,
    pub role: Role,
    pub jurisdiction: RegionCode,
    pub display_name: String,
    /// SHA-256 of the API key, hex.
    pub key_sha256: String,
    #[serde(default)]
    pub disabled: bool,
    /// Who created (or last replaced) this principal and so held its key
    /// when it was shown: a principal id, or `operator` for the command
    /// line. The two-person rule follows this lineage: a principal never
    /// approves an action of its creator, nor of a principal it created.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// The key's expiry, the keys retiring after a rotation, and the keys
    /// revoked.
    #[serde(default, skip_serializing_if = "KeyLifecycle::is_empty")]
    pub keys: KeyLifecycle,
    /// The id of the key this principal authenticated with, on a request
    /// (never stored): every audit record of the request names it.
    #[serde(skip)]
    pub key_in_use: Option<String>,
    /// The subject (`sub`) the OpenID provider asserts for this staff
    /// member: signing in to the console through the provider makes them
    /// this principal. Their role and jurisdiction are this record's, never
    /// a claim of the provider's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_subject: Option<String>,
}

/// An audit detail naming the key used, when there is one.
pub fn with_key_id(detail: &str, key_id: Option<&str>) -> String {
    match key_id {
        None => detail.to_owned(),
        Some(key_id) if detail.is_empty() => format!("key {key_id}"),
        Some(key_id) => format!("{detail} (key {key_id})"),
    }
}

/// Keys a principal has held besides its current one, and when its current
/// one expires. Principals made before keys expired have none of this: their
/// key works until it is rotated or revoked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLifecycle {
    /// When the current key stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Keys replaced by a rotation, each working until its grace ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RetiredKey>,
    /// Keys revoked, remembered so that their use is refused with a reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<RevokedKey>,
}

impl KeyLifecycle {
    pub fn is_empty(&self) -> bool {
        self == &KeyLifecycle::default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    pub key_sha256: String,
    pub valid_until: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedKey {
    pub key_sha256: String,
    pub revoked_at: Timestamp,
}

/// Retired and revoked keys a principal remembers, each list at most: the
/// oldest are forgotten (their use is then only "unknown").
pub const REMEMBERED_KEYS_MAX: usize = 16;
/// How long a new API key works, unless its creator says otherwise.
pub const API_KEY_TTL_SECS_DEFAULT: i64 = 365 * 86_400;
/// How long a rotated key keeps working beside its successor, by default.
pub const KEY_ROTATION_GRACE_SECS_DEFAULT: i64 = 7 * 86_400;

/// The id of a key, from its SHA-256 (hex): what the audit log and error
/// messages name. It identifies the key without helping anyone guess it.
pub fn key_id(key_sha256_hex: &str) -> String {
    key_sha256_hex.chars().take(16).collect()
}

/// Why a bearer key is refused; the 401's detail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("unknown API key")]
    Unknown,
    #[error("the principal of this API key is disabled")]
    Disabled,
    #[error("the API key {key_id} expired at {at}; ask for a new one (admin principal rotate-key)")]
    Expired { key_id: String, at: Timestamp },
    #[error(
        "the API key {key_id} was replaced by a rotation and its grace period ended at {at}; use the new key"
    )]
    Retired { key_id: String, at: Timestamp },
    #[error("the API key {key_id} was revoked at {at}")]
    Revoked { key_id: String, at: Timestamp },
}

impl Principal {
    /// This principal after a rotation at `now`: `new_key_sha256` is its key
    /// until `now + ttl_secs`; the current key keeps working until
    /// `now + grace_secs` (at most until it would have expired).
    pub fn with_rotated_key(
        &self,
        new_key_sha256: String,
        now: Timestamp,
        ttl_secs: i64,
        grace_secs: i64,
    ) -> Principal {
        let mut rotated = self.clone();
        if !self.key_sha256.is_empty() {
            let mut valid_until = now.plus_secs(grace_secs.max(0));
            if let Some(expires_at) = self.keys.expires_at {
                valid_until = valid_until.min(expires_at);
            }
            rotated.keys.retired.push(RetiredKey {
                key_sha256: self.key_sha256.clone(),
                valid_until,
            });
        }
        rotated.keys.retired.retain(|key| key.valid_until > now);
        trim_oldest(&mut rotated.keys.retired);
        rotated.key_sha256 = new_key_sha256;
        rotated.keys.expires_at = Some(now.plus_secs(ttl_secs.max(1)));
        rotated
    }

    /// This principal with every key revoked at `now`, its current one and
    /// those in a grace period: it has no working key until the next
    /// rotation.
    pub fn with_keys_revoked(&self, now: Timestamp) -> Principal {
        let mut revoked = self.clone();
        let ended = std::iter::once(self.key_sha256.clone())
            .chain(self.keys.retired.iter().map(|key| key.key_sha256.clone()))
            .filter(|sha| !sha.is_empty());
        for key_sha256 in ended.collect::<Vec<_>>() {
            revoked.keys.revoked.push(RevokedKey {
                key_sha256,
                revoked_at: now,
            });
        }
        trim_oldest(&mut revoked.keys.revoked);
        revoked.keys.retired.clear();
        revoked.key_sha256 = String::new();
        revoked.keys.expires_at = None;
        revoked
    }
}

fn trim_oldest<T>(keys: &mut Vec<T>) {
    if keys.len() > REMEMBERED_KEYS_MAX {
        let excess = keys.len() - REMEMBERED_KEYS_MAX;
        keys.drain(..excess);
    }
}

/// A principal authenticated by one of its keys.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: Principal,
    pub key_id: String,
}

impl Authenticated {
    fn new(principal: &Principal, key_id: String) -> Authenticated {
        let mut principal = principal.clone();
        principal.key_in_use = Some(key_id.clone());
        Authenticated { principal, key_id }
    }
}

impl Principal {
    pub fn may_act_in(&self, region: &RegionCode) -> bool {
        self.jurisdiction.contains(region)
    }

    /// Whether this is one of the node's own authors ([`system_principal`]):
    /// no key, so nobody authenticates as it. Its events keep the derived
    /// ids the node gives them, outside every principal's namespace.
    pub fn is_node_itself(&self) -> bool {
        self.disabled && self.key_sha256.is_empty()
    }

    /// The namespace of the event ids this principal submits: `<id>:`.
    /// Principal ids hold no `:`, so namespaces never overlap, and the
    /// node's derived ids (no `:`) are in none.
    pub fn event_namespace(&self) -> String {
        format!("{}:", self.id)
    }
}

pub fn key_sha256(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh API key for a principal: the id, so the key can be looked up, and
/// 32 random bytes.
pub fn new_api_key(principal_id: &str) -> String {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the operating system provides randomness");
    format!("ymt_{principal_id}.{}", hex::encode(secret))
}

/// Principal ids are short tokens: letters, digits, `-`, `_`.
pub fn check_principal_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err("principal ids are 1 to 64 characters".into());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("principal ids use ASCII letters, digits, '-' and '_'".into());
    }
    Ok(())
}

/// A provider's subject: 1 to 255 visible ASCII characters (what OpenID
/// Connect allows, without spaces).
pub fn check_oidc_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() || subject.len() > 255 || !subject.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a subject is 1 to 255 visible ASCII characters".into());
    }
    Ok(())
}

/// Ids the node itself writes as authors or audit principals (automatic
/// tracing, retention, the local operator, refusals without a key). No
/// principal may take one: it would inherit their standing in the audit log
/// and, for `auto-trace`, the right to decide its held tracing.
pub const RESERVED_PRINCIPAL_IDS: [&str; 7] = [
    TRACE_AUTHOR,
    "anonymous",
    "citizen",
    "operator",
    "retention",
    "system",
    "node",
];

/// Whether `id` is one the node reserves for itself (case-insensitively, so
/// `Auto-Trace` cannot pass for it in a log read by a person).
pub fn is_reserved_principal_id(id: &str) -> bool {
    RESERVED_PRINCIPAL_IDS
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(id))
}

/// The principals known to a node, by id.
#[derive(Default)]
pub struct Principals {
    by_id: HashMap<String, Principal>,
}

impl Principals {
    pub fn insert(&mut self, principal: Principal) {
        self.by_id.insert(principal.id.clone(), principal);
    }

    pub fn get(&self, id: &str) -> Option<&Principal> {
        self.by_id.get(id)
    }

    pub fn list(&self) -> impl Iterator<Item = &Principal> {
        self.by_id.values()
    }

    /// The enabled principal the OpenID provider's `subject` stands for.
    pub fn by_oidc_subject(&self, subject: &str) -> Option<&Principal> {
        self.by_id.values().find(|principal| {
            !principal.disabled && principal.oidc_subject.as_deref() == Some(subject)
        })
    }

    /// The creators of `id`, nearest first, up to a principal the table
    /// does not hold (the operator) or a cycle, at most 64 steps.
    pub fn creators_of(&self, id: &str) -> Vec<String> {
        let mut creators: Vec<String> = Vec::new();
        let mut current = id;
        while let Some(principal) = self.by_id.get(current) {
            let creator = principal.created_by.as_str();
            if creator.is_empty() || creator == id || creators.len() >= 64 {
                break;
            }
            if creators.iter().any(|seen| seen == creator) {
                break;
            }
            creators.push(creator.to_owned());
            current = creator;
        }
        creators
    }

    /// Whether two principals may stand for the same party: they share a
    /// principal in their lineages (each principal and its creators, up
    /// the chain, counting only principals of this table; the operator is
    /// none). So a principal and any principal it created, directly or
    /// through others, and two principals created by one, are one party:
    /// whoever creates a principal is shown its key. The two-person rule
    /// refuses an approval between them.
    pub fn same_party(&self, first: &str, second: &str) -> bool {
        let lineage = |id: &str| -> Vec<String> {
            std::iter::once(id.to_owned())
                .chain(self.creators_of(id))
                .filter(|member| member == id || self.by_id.contains_key(member))
                .collect()
        };
        let first_lineage = lineage(first);
        lineage(second)
            .iter()
            .any(|member| first_lineage.contains(member))
    }

    /// The principal a bearer key belongs to at `now`, or why the key is
    /// refused.
    pub fn authenticate(&self, key: &str, now: Timestamp) -> Result<Authenticated, KeyRefusal> {
        let principal_id = key
            .strip_prefix("ymt_")
            .and_then(|rest| rest.split('.').next())
            .ok_or(KeyRefusal::Unknown)?;
        let principal = self.by_id.get(principal_id).ok_or(KeyRefusal::Unknown)?;
        let presented = key_sha256(key);
        // Compare digests, not keys, so the comparison time says nothing
        // about the stored key.
        let same = |stored: &str| constant_time_eq(presented.as_bytes(), stored.as_bytes());
        let key_id = key_id(&presented);
        if principal.disabled {
            return Err(KeyRefusal::Disabled);
        }
        if same(&principal.key_sha256) {
            return match principal.keys.expires_at {
                Some(at) if at <= now => Err(KeyRefusal::Expired { key_id, at }),
                _ => Ok(Authenticated::new(principal, key_id)),
            };
        }
        if let Some(retired) = principal
            .keys
            .retired
            .iter()
            .find(|key| same(&key.key_sha256))
        {
            return if now < retired.valid_until {
                Ok(Authenticated::new(principal, key_id))
            } else {
                Err(KeyRefusal::Retired {
                    key_id,
                    at: retired.valid_until,
                })
            };
        }
        if let Some(revoked) = principal
            .keys
            .revoked
            .iter()
            .find(|key| same(&key.key_sha256))
        {
            return Err(KeyRefusal::Revoked {
                key_id,
                at: revoked.revoked_at,
            });
        }
        Err(KeyRefusal::Unknown)
    }
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

pub const TRACE_AUTHOR: &str = "auto-trace";

/// A principal that acts for the node itself; it is in no principal table
/// and has no key, so nobody can authenticate as it.
pub fn system_principal(id: &str) -> Principal {
    Principal {
        id: id.into(),
        role: Role::NationalAdmin,
        jurisdiction: RegionCode::nation(),
        display_name: id.into(),
        key_sha256: String::new(),
        disabled: true,
        created_by: String::new(),
        keys: KeyLifecycle::default(),
        key_in_use: None,
        oidc_subject: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(id: &str, created_by: &str) -> Principal {
        Principal {
            id: id.into(),
            role: Role::NationalAdmin,
            jurisdiction: RegionCode::nation(),
            display_name: id.into(),
            key_sha256: String::new(),
            disabled: false,
            created_by: created_by.into(),
            keys: KeyLifecycle::default(),
            key_in_use: None,
            oidc_subject: None,
        }
    }

    #[test]
    fn principals_of_one_lineage_are_one_party_and_the_operator_joins_nobody() {
        let mut principals = Principals::default();
        for (id, created_by) in [
            ("admin-1", "operator"),
            ("admin-2", "operator"),
            ("puppet", "admin-1"),
            ("puppet-of-puppet", "puppet"),
            ("sibling", "admin-1"),
            ("loop-a", "loop-b"),
            ("loop-b", "loop-a"),
        ] {
            principals.insert(principal(id, created_by));
        }
        let party = |first, second| principals.same_party(first, second);
        assert!(party("admin-1", "admin-1"));
        assert!(party("admin-1", "puppet") && party("puppet", "admin-1"));
        assert!(party("admin-1", "puppet-of-puppet"), "transitively");
        assert!(party("puppet", "sibling"), "created by one principal");
        assert!(!party("admin-1", "admin-2"), "the operator is no party");
        assert!(!party("admin-2", "puppet-of-puppet"));
        assert!(
            party("loop-a", "loop-b") && !party("loop-a", "admin-1"),
            "cycles end"
        );
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_secs(1_700_000_000 + secs).expect("in range")
    }

    #[test]
    fn a_rotated_key_lives_to_the_end_of_its_grace_and_never_past_its_own_expiry() {
        let mut principals = Principals::default();
        let old_key = new_api_key("lab-1");
        let mut lab = principal("lab-1", "operator");
        lab.key_sha256 = key_sha256(&old_key);
        lab.keys.expires_at = Some(at(100));
        let new_key = new_api_key("lab-1");
        // Grace of 1000 s, but the old key expires at 100 s: it ends then.
        principals.insert(lab.with_rotated_key(key_sha256(&new_key), at(0), 10_000, 1000));
        assert!(principals.authenticate(&old_key, at(99)).is_ok());
        assert!(matches!(
            principals.authenticate(&old_key, at(100)),
            Err(KeyRefusal::Retired { .. })
        ));
        let used = principals
            .authenticate(&new_key, at(100))
            .expect("the new key");
        assert_eq!(used.key_id, key_id(&key_sha256(&new_key)));
        assert_eq!(used.principal.key_in_use, Some(used.key_id.clone()));
        assert!(matches!(
            principals.authenticate(&new_key, at(10_000)),
            Err(KeyRefusal::Expired { .. })
        ));
    }

    #[test]
    fn a_principal_remembers_a_bounded_number_of_old_keys() {
        let mut lab = principal("lab-1", "operator");
        lab.key_sha256 = key_sha256(&new_api_key("lab-1"));
        for step in 0..40 {
            lab = lab.with_rotated_key(key_sha256(&new_api_key("lab-1")), at(step), 1000, 10_000);
        }
        assert_eq!(lab.keys.retired.len(), REMEMBERED_KEYS_MAX);
        for _ in 0..40 {
            lab = lab.with_keys_revoked(at(50));
            lab = lab.with_rotated_key(key_sha256(&new_api_key("lab-1")), at(60), 1000, 0);
        }
        assert!(lab.keys.revoked.len() <= REMEMBERED_KEYS_MAX);
    }

    proptest::proptest! {
        // A bearer key is untrusted text: any string is refused or names a
        // principal whose key it is, and never panics.
        #[test]
        fn arbitrary_bearer_text_never_authenticates(text in ".{0,200}") {
            let mut principals = Principals::default();
            let mut lab = principal("lab-1", "operator");
            lab.key_sha256 = key_sha256(&new_api_key("lab-1"));
            principals.insert(lab);
            proptest::prop_assert!(principals.authenticate(&text, at(0)).is_err());
        }
    }
}
