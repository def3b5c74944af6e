//! A verifying device's trust list: [`TrustListCache`] holds the last list
//! fetched and verified against the pinned anchor, refreshes it on an
//! interval, refuses an older one, and passes no code on a list too old.

use ymt_core::Timestamp;

use crate::keys::VerifyingKey;
use crate::token::{self, VerificationReport};
use crate::trust::{
    SignedTrustList, TRUST_LIST_AGE_SECS_MAX_DEFAULT, TRUST_LIST_REFRESH_SECS_DEFAULT, TrustList,
    TrustListError,
};

/// What a verifying device holds: the last trust list it fetched and
/// verified against its pinned anchor, and when. Pure: the caller passes
/// the instants and the fetched bytes (a device fetches
/// `GET /v1/trust-list` every [`TrustListCache::refresh_interval_secs`]).
///
/// - A list older (by serial) than the one held is refused, so a replayed
///   list from before a revocation cannot bring a revoked key back.
/// - A list not refreshed for [`TRUST_LIST_AGE_SECS_MAX_DEFAULT`] passes no
///   code: an offline device learns of a revocation at the latest then.
#[derive(Clone, Debug)]
pub struct TrustListCache {
    anchor: VerifyingKey,
    held: Option<(TrustList, Timestamp)>,
    age_secs_max: i64,
}

impl TrustListCache {
    pub fn new(anchor: VerifyingKey) -> TrustListCache {
        TrustListCache {
            anchor,
            held: None,
            age_secs_max: TRUST_LIST_AGE_SECS_MAX_DEFAULT,
        }
    }

    /// Replaces the held list with a freshly fetched one, fetched at `now`.
    /// A list whose signature does not verify under the anchor, or with a
    /// smaller serial than the held one, changes nothing.
    pub fn refresh(
        &mut self,
        signed: &SignedTrustList,
        now: Timestamp,
    ) -> Result<(), TrustListError> {
        let list = signed.verify(&self.anchor)?;
        if let Some((held, _)) = &self.held
            && list.document().serial < held.document().serial
        {
            return Err(TrustListError::OlderSerial {
                held: held.document().serial,
                found: list.document().serial,
            });
        }
        self.held = Some((list, now));
        Ok(())
    }

    pub fn list(&self) -> Option<&TrustList> {
        self.held.as_ref().map(|(list, _)| list)
    }

    pub fn fetched_at(&self) -> Option<Timestamp> {
        self.held.as_ref().map(|(_, at)| *at)
    }

    pub fn refresh_interval_secs(&self) -> i64 {
        self.list()
            .map(TrustList::refresh_interval_secs)
            .unwrap_or(TRUST_LIST_REFRESH_SECS_DEFAULT)
    }

    /// Whether the device should fetch the list again at `now`.
    pub fn needs_refresh(&self, now: Timestamp) -> bool {
        self.fetched_at()
            .is_none_or(|at| now.unix_secs() - at.unix_secs() >= self.refresh_interval_secs())
    }

    /// Verifies a code against the held list, refusing every code when the
    /// list is missing or older than it may be.
    pub fn verify(&self, token: &str, now: Timestamp) -> VerificationReport {
        match &self.held {
            Some((list, fetched_at))
                if now.unix_secs() - fetched_at.unix_secs() <= self.age_secs_max =>
            {
                token::verify(token, list, now)
            }
            _ => token::stale_trust_list_report(self.fetched_at(), now, self.age_secs_max),
        }
    }
}
