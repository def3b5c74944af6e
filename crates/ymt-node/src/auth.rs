//! Principals, roles, jurisdictions and API keys.
//!
//! A principal is a lab, a venue, a verifier device, a health authority, a
//! national administrator or an auditor, bound to a jurisdiction: a GB/T 2260
//! code prefix (the empty prefix is the whole country). Its credential is an
//! API key `ymt_<principal>.<secret>`; only the SHA-256 of the key is stored.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ymt_core::{EventKind, RegionCode};

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

    /// The principal a bearer key belongs to, if the key is valid.
    pub fn authenticate(&self, key: &str) -> Option<&Principal> {
        let principal_id = key.strip_prefix("ymt_")?.split('.').next()?;
        let principal = self.by_id.get(principal_id)?;
        let presented = key_sha256(key);
        // Compare digests, not keys, so the comparison time says nothing
        // about the stored key.
        (!principal.disabled
            && constant_time_eq(presented.as_bytes(), principal.key_sha256.as_bytes()))
        .then_some(principal)
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
}
