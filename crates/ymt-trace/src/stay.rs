//! Check-ins as they arrive, and the rules that turn one into a stay.

use ymt_core::{PersonId, Timestamp, VenueId};

/// Every instant in the index is stored as `u32` seconds after this base
/// (2020-01-01T00:00:00Z), which covers check-ins up to the year 2156 in
/// 4 bytes instead of 8.
pub const TIME_BASE_UNIX_SECS: i64 = 1_577_836_800;

/// The last instant the index can hold.
pub const TIME_LAST_UNIX_SECS: i64 = TIME_BASE_UNIX_SECS + u32::MAX as i64;

/// One check-in as reported by a venue's scanner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckIn {
    pub person: PersonId,
    pub venue: VenueId,
    pub enter: Timestamp,
    /// `None` when the person never scanned out; the policy's default stay applies.
    pub leave: Option<Timestamp>,
}

/// How raw enter/leave instants become a stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StayPolicy {
    /// Assumed length of a stay whose leave was never recorded. Two hours:
    /// long enough to cover a meal or a shift segment, which errs on the side
    /// of tracing too many rather than too few.
    pub default_stay_secs: u32,
    /// A longer stay is rejected as a scanner or clock error.
    pub stay_max_secs: u32,
}

impl Default for StayPolicy {
    fn default() -> StayPolicy {
        StayPolicy {
            default_stay_secs: 2 * 3600,
            stay_max_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StayError {
    #[error("leave {leave} is before enter {enter}")]
    LeaveBeforeEnter { enter: i64, leave: i64 },
    #[error("stay of {stay_secs} s is longer than the maximum of {stay_max_secs} s")]
    TooLong { stay_secs: i64, stay_max_secs: u32 },
    #[error(
        "instant {secs} is outside the range the index holds ({TIME_BASE_UNIX_SECS}..={TIME_LAST_UNIX_SECS} unix seconds)"
    )]
    OutOfRange { secs: i64 },
}

/// A validated stay, in seconds after [`TIME_BASE_UNIX_SECS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stay {
    pub enter_rel: u32,
    pub leave_rel: u32,
}

impl StayPolicy {
    /// Checks one stay given in unix seconds.
    pub fn resolve(&self, enter_secs: i64, leave_secs: Option<i64>) -> Result<Stay, StayError> {
        let leave_secs = match leave_secs {
            Some(leave) => leave,
            None => enter_secs.saturating_add(self.default_stay_secs as i64),
        };
        if leave_secs < enter_secs {
            return Err(StayError::LeaveBeforeEnter {
                enter: enter_secs,
                leave: leave_secs,
            });
        }
        let stay_secs = leave_secs - enter_secs;
        if stay_secs > self.stay_max_secs as i64 {
            return Err(StayError::TooLong {
                stay_secs,
                stay_max_secs: self.stay_max_secs,
            });
        }
        Ok(Stay {
            enter_rel: to_rel(enter_secs)?,
            leave_rel: to_rel(leave_secs)?,
        })
    }
}

/// Converts unix seconds to index-relative seconds.
pub fn to_rel(secs: i64) -> Result<u32, StayError> {
    if (TIME_BASE_UNIX_SECS..=TIME_LAST_UNIX_SECS).contains(&secs) {
        Ok((secs - TIME_BASE_UNIX_SECS) as u32)
    } else {
        Err(StayError::OutOfRange { secs })
    }
}

/// Converts index-relative seconds back to unix seconds.
pub fn from_rel(rel: u32) -> i64 {
    TIME_BASE_UNIX_SECS + rel as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_641_020_400;

    fn check(enter: i64, leave: Option<i64>, expect: Result<(i64, i64), &str>) {
        let policy = StayPolicy::default();
        let got = policy
            .resolve(enter, leave)
            .map(|stay| (from_rel(stay.enter_rel), from_rel(stay.leave_rel)))
            .map_err(|error| match error {
                StayError::LeaveBeforeEnter { .. } => "leave-before-enter",
                StayError::TooLong { .. } => "too-long",
                StayError::OutOfRange { .. } => "out-of-range",
            });
        assert_eq!(got, expect, "enter={enter} leave={leave:?}");
    }

    #[test]
    fn stays_are_validated() {
        check(T, Some(T + 60), Ok((T, T + 60)));
        check(T, Some(T), Ok((T, T)));
        check(T, None, Ok((T, T + 7200)));
        check(T, Some(T - 1), Err("leave-before-enter"));
        check(T, Some(T + 86_400), Ok((T, T + 86_400)));
        check(T, Some(T + 86_401), Err("too-long"));
        check(0, Some(10), Err("out-of-range"));
        check(
            TIME_LAST_UNIX_SECS,
            Some(TIME_LAST_UNIX_SECS + 1),
            Err("out-of-range"),
        );
    }
}
