//! The one table of who may do what: role × permission. Handlers name the
//! permission they need; [`require`] looks it up, audits a refusal durably
//! and answers 403. Jurisdiction (which region a principal may act in) is
//! checked after this, by the node, against the data the request names.

use ymt_node::Node;
use ymt_node::auth::{Principal, Role};

use crate::problem::ApiError;

/// Something a principal may be allowed to do through the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    ReadStatus,
    ReadTimeline,
    RegisterPersons,
    ResolveDocuments,
    VerifyIdCards,
    ReadAuditLog,
    CreatePrincipals,
    RevokePrincipalKeys,
    RevokeSessions,
    ReadDashboard,
    PreviewRules,
    PublishRuleSets,
    PublishProfiles,
    RegisterVenues,
    DesignateRiskAreas,
    ConfirmDesignations,
    ListPending,
    OverrideCodes,
    HandleAppeals,
    RevokeSigningKeys,
    ConfirmGuardianships,
    DecidePending,
    PublishServiceRuleSets,
    PublishServiceProfiles,
    ServiceDoors,
    ReadConsentedResults,
    ManageRosters,
    /// The node-to-node API of anti-entropy: no role has it; only a peer
    /// node, with the cluster's node credential (handlers/replication.rs).
    ReplicateRecords,
    PrintCodes,
}

use Permission as P;
use Role as R;

/// The table: each permission, the roles that have it, and what a refusal
/// is audited as (action) and says ("a lab may not <phrase>").
const POLICY: &[(Permission, &[Role], &str, &str)] = &[
    (
        P::ReadStatus,
        &[
            R::VerifierDevice,
            R::Venue,
            R::HealthAuthority,
            R::NationalAdmin,
        ],
        "read a person's status",
        "read a person's status",
    ),
    (
        P::ReadTimeline,
        &[R::HealthAuthority, R::NationalAdmin, R::Auditor],
        "read a person's timeline",
        "read a person's timeline",
    ),
    (
        P::RegisterPersons,
        &[R::HealthAuthority, R::NationalAdmin],
        "register persons",
        "register persons",
    ),
    (
        // Not a lab: it submits results by the identity document itself
        // and never needs the pseudonym, which would link a code (it shows
        // the pid) back to an ID number. An authority resolves persons
        // present in its jurisdiction only (handlers/persons.rs).
        P::ResolveDocuments,
        &[R::HealthAuthority, R::NationalAdmin],
        "resolve identity documents",
        "resolve identity documents",
    ),
    (
        P::VerifyIdCards,
        &[R::VerifierDevice],
        "verify ID cards (registered verifier devices only)",
        "verify ID cards (registered verifier devices only)",
    ),
    (
        P::ReadAuditLog,
        &[R::Auditor, R::NationalAdmin],
        "read the audit log",
        "read the audit log",
    ),
    (
        P::CreatePrincipals,
        &[R::NationalAdmin],
        "create principals",
        "create principals",
    ),
    (
        P::RevokeSessions,
        &[R::HealthAuthority, R::NationalAdmin],
        "person.revoke_sessions",
        "end persons' sessions",
    ),
    (
        P::RevokePrincipalKeys,
        &[R::NationalAdmin],
        "principal.revoke_keys",
        "revoke principals' API keys",
    ),
    (
        P::ReadDashboard,
        &[R::HealthAuthority, R::NationalAdmin, R::Auditor],
        "dashboard.colors",
        "read the dashboard",
    ),
    (
        P::PreviewRules,
        &[R::HealthAuthority, R::NationalAdmin],
        "preview rule changes",
        "preview rule changes",
    ),
    (
        P::PublishRuleSets,
        &[R::NationalAdmin],
        "publish national rule sets",
        "publish national rule sets",
    ),
    (
        P::PublishProfiles,
        &[R::HealthAuthority, R::NationalAdmin],
        "publish parameter profiles",
        "publish parameter profiles",
    ),
    (
        P::RegisterVenues,
        &[R::HealthAuthority, R::NationalAdmin],
        "venue.register",
        "register venues",
    ),
    (
        P::DesignateRiskAreas,
        &[R::HealthAuthority, R::NationalAdmin],
        "risk_area.designate",
        "designate risk areas",
    ),
    (
        P::ConfirmDesignations,
        &[R::HealthAuthority, R::NationalAdmin],
        "designation.confirm",
        "confirm designations",
    ),
    (
        P::ListPending,
        &[R::HealthAuthority, R::NationalAdmin, R::Auditor],
        "pending.list",
        "list pending actions",
    ),
    (
        P::OverrideCodes,
        &[R::HealthAuthority, R::NationalAdmin],
        "override.bulk",
        "override codes",
    ),
    (
        P::HandleAppeals,
        &[R::HealthAuthority, R::NationalAdmin],
        "appeals",
        "handle appeals",
    ),
    (
        P::RevokeSigningKeys,
        &[R::NationalAdmin],
        "key.revoke",
        "revoke signing keys",
    ),
    (
        P::ConfirmGuardianships,
        &[R::HealthAuthority, R::NationalAdmin],
        "guardianship.confirm",
        "confirm guardianships",
    ),
    (
        P::DecidePending,
        &[R::NationalAdmin],
        "pending.decide",
        "decide pending actions; a national_admin must",
    ),
    (
        P::PublishServiceRuleSets,
        &[R::NationalAdmin],
        "service.rule_set.propose",
        "publish service rule sets; a national_admin must",
    ),
    (
        P::PublishServiceProfiles,
        &[R::Venue, R::HealthAuthority, R::NationalAdmin],
        "service.profile.publish",
        "publish service profiles",
    ),
    (
        P::ServiceDoors,
        &[R::Venue],
        "service.door",
        "decide at a service's door (the venue's own staff only)",
    ),
    (
        P::ReadConsentedResults,
        &[R::Venue],
        "hospital.results.read",
        "read results consented to a hospital (the hospital's own staff only)",
    ),
    (
        P::ManageRosters,
        &[R::Venue, R::HealthAuthority, R::NationalAdmin],
        "care_visit.roster",
        "manage care-home rosters",
    ),
    (
        P::ReplicateRecords,
        &[],
        "replication.read",
        "read replicated records (the cluster's nodes only, with their node credential)",
    ),
    // Printed codes (纸质码) live for days: staff print them only as the
    // health authority managing the person (registered in its
    // jurisdiction); a national admin runs the platform, not a community's
    // paper codes. Guardians print with their citizen session.
    (
        P::PrintCodes,
        &[R::HealthAuthority],
        "person.printed_code",
        "print paper codes (a health authority of the person's region, or their guardian)",
    ),
];

/// What the node checks against the request's data once the role has the
/// permission (jurisdiction, presence, namespaces, lineage): the rules no
/// role grants. Listed here so the golden matrix shows them beside the
/// roles; each is enforced where it says, and tested in
/// `tests/authorization.rs` and `tests/no_one_beyond_their_rights.rs`.
pub const DATA_RULES: &[(&str, &str)] = &[
    (
        "write-does-not-grant-read",
        "ReadTimeline, person codes and OverrideCodes of a health authority reach persons present in its jurisdiction: registered there, or checked in by a venue scanner or verifier device at a venue there, or tested by a lab there; no authority's own event counts (ymt-node presence.rs)",
    ),
    (
        "override-without-presence",
        "an override of a person without presence in the author's jurisdiction is refused as an event and held as a bulk override for a second national_admin (ingest.rs, breaker.rs)",
    ),
    (
        "registration-owner",
        "RegisterPersons cannot re-register a person registered outside the jurisdiction, nor name wards registered outside it; a guardianship is pending until ConfirmGuardianships by another party of the ward's region (apply.rs)",
    ),
    (
        "venue-jurisdiction",
        "check-ins only at venues inside the submitter's jurisdiction; a venue principal only at venues naming it as operator (ingest.rs)",
    ),
    (
        "author-namespace",
        "event ids are stored as <author>:<id>; an id in another author's namespace is refused; a test result's lab is its author (ingest.rs)",
    ),
    (
        "service-venue-staff",
        "ServiceDoors, ReadConsentedResults, PublishServiceProfiles and ManageRosters of a venue principal reach only venues of the service's category that name it as operator; profiles and rosters also an authority whose jurisdiction holds the venue (ymt-node services.rs)",
    ),
    (
        "consent-by-the-person",
        "a hospital reads a person's results only while the person's consent to that hospital is in force; consents are given, revoked and listed, and visits listed, only by the signed-in person or their confirmed guardian, never with an API key (hospital.rs, handlers/services.rs)",
    ),
    (
        "service-bounds",
        "a venue profile of a service rule set sets only its parameters, inside their bounds; a service rule set is published only through a second national_admin (services.rs)",
    ),
    (
        "printed-code-issuers",
        "PrintCodes of a health authority reaches only persons registered in its jurisdiction; a citizen prints only for a confirmed ward, never for themselves; only for a person registered without a phone; every print and refusal audited (handlers/printed_codes.rs)",
    ),
    (
        "two-person-lineage",
        "DecidePending refused when approver and proposer are one party: the same, or sharing a principal in their created_by lineages; a national_admin or auditor is created, and a national rule set published, only through a second national_admin (auth.rs, breaker.rs, principals.rs)",
    ),
];

fn entry(
    permission: Permission,
) -> &'static (Permission, &'static [Role], &'static str, &'static str) {
    POLICY
        .iter()
        .find(|(listed, ..)| *listed == permission)
        .expect("every permission is in the table")
}

/// Whether `role` has `permission`.
pub fn allows(role: Role, permission: Permission) -> bool {
    entry(permission).1.contains(&role)
}

/// Passes if the principal's role has the permission; otherwise audits the
/// refusal durably (under `action`, or the table's action when `None`) and
/// answers 403 naming what the role may not do.
pub async fn require(
    node: &Node,
    principal: &Principal,
    permission: Permission,
    action: Option<&str>,
    target: &str,
) -> Result<(), ApiError> {
    let (_, _, table_action, phrase) = entry(permission);
    if allows(principal.role, permission) {
        return Ok(());
    }
    let detail = format!("a {} may not {phrase}", principal.role.as_str());
    node.audit_denied(
        Some(principal),
        action.unwrap_or(table_action),
        target,
        &detail,
    )
    .await;
    Err(ApiError::forbidden(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix as text, one line per permission: the roles that have it.
    fn matrix() -> String {
        POLICY
            .iter()
            .map(|(permission, roles, ..)| {
                let roles: Vec<&str> = Role::ALL
                    .into_iter()
                    .filter(|role| roles.contains(role))
                    .map(Role::as_str)
                    .collect();
                format!("{permission:?}: {}", roles.join(" "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_data_rules_are_the_expected_list() {
        let names: Vec<&str> = DATA_RULES.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "write-does-not-grant-read",
                "override-without-presence",
                "registration-owner",
                "venue-jurisdiction",
                "author-namespace",
                "service-venue-staff",
                "consent-by-the-person",
                "service-bounds",
                "printed-code-issuers",
                "two-person-lineage",
            ]
        );
    }

    #[test]
    fn the_policy_table_is_the_expected_matrix() {
        // A change to who may do what shows here, as a reviewable diff.
        let expect = "\
ReadStatus: venue verifier_device health_authority national_admin
ReadTimeline: health_authority national_admin auditor
RegisterPersons: health_authority national_admin
ResolveDocuments: health_authority national_admin
VerifyIdCards: verifier_device
ReadAuditLog: national_admin auditor
CreatePrincipals: national_admin
RevokeSessions: health_authority national_admin
RevokePrincipalKeys: national_admin
ReadDashboard: health_authority national_admin auditor
PreviewRules: health_authority national_admin
PublishRuleSets: national_admin
PublishProfiles: health_authority national_admin
RegisterVenues: health_authority national_admin
DesignateRiskAreas: health_authority national_admin
ConfirmDesignations: health_authority national_admin
ListPending: health_authority national_admin auditor
OverrideCodes: health_authority national_admin
HandleAppeals: health_authority national_admin
RevokeSigningKeys: national_admin
ConfirmGuardianships: health_authority national_admin
DecidePending: national_admin
PublishServiceRuleSets: national_admin
PublishServiceProfiles: venue health_authority national_admin
ServiceDoors: venue
ReadConsentedResults: venue
ManageRosters: venue health_authority national_admin
ReplicateRecords: 
PrintCodes: health_authority";
        assert_eq!(matrix(), expect);
    }
}
