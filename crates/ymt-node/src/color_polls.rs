//! How often a person's color may be asked for by the page that watches it
//! (`GET /v1/persons/{pid}/color`): a fixed window per person, in a table
//! with a bound. The watching page polls every few seconds so that a change
//! of color reaches the person within seconds, not at the next code refresh;
//! this keeps a runaway page or a script from turning the cheap read into a
//! flood.

use std::collections::HashMap;

use ymt_core::{PersonId, Timestamp};

use crate::error::NodeError;

/// The window polls are counted in, and how many one person may make in it
/// (every tab and guardian together): a page polling every 2 s makes 5.
pub const COLOR_POLL_WINDOW_SECS: i64 = 10;
pub const COLOR_POLLS_PER_WINDOW_MAX: u32 = 10;
/// Persons counted at once. When every entry is in a live window, a poll of
/// a person not in the table is shed (503) rather than forgetting a count.
pub const COLOR_POLL_PERSONS_MAX: usize = 100_000;

#[derive(Default)]
pub struct ColorPollLimiter {
    /// Per person: the start of their window and the polls in it.
    windows: HashMap<PersonId, (Timestamp, u32)>,
    persons_max: Option<usize>,
}

impl ColorPollLimiter {
    /// A limiter with a smaller table (for tests of the shedding).
    pub fn with_persons_max(persons_max: usize) -> ColorPollLimiter {
        ColorPollLimiter {
            windows: HashMap::new(),
            persons_max: Some(persons_max),
        }
    }

    /// Counts one poll of `pid` at `now`; refused with 429 past the
    /// person's limit (until their window ends), 503 when the table is full.
    pub fn admit(&mut self, pid: &PersonId, now: Timestamp) -> Result<(), NodeError> {
        let persons_max = self.persons_max.unwrap_or(COLOR_POLL_PERSONS_MAX);
        let live = |start: &Timestamp| now.unix_secs() - start.unix_secs() < COLOR_POLL_WINDOW_SECS;
        if !self.windows.contains_key(pid) && self.windows.len() >= persons_max {
            self.windows.retain(|_, (start, _)| live(start));
            if self.windows.len() >= persons_max {
                return Err(NodeError::unavailable(
                    "too many persons are watching their color: try again shortly",
                ));
            }
        }
        let entry = self.windows.entry(pid.clone()).or_insert((now, 0));
        if !live(&entry.0) {
            *entry = (now, 0);
        }
        if entry.1 >= COLOR_POLLS_PER_WINDOW_MAX {
            let left = COLOR_POLL_WINDOW_SECS - (now.unix_secs() - entry.0.unix_secs());
            let mut error = NodeError::rate_limited(format!(
                "at most {COLOR_POLLS_PER_WINDOW_MAX} reads of a color per {COLOR_POLL_WINDOW_SECS} s"
            ));
            error.retry_after_secs = Some(u32::try_from(left.max(1)).unwrap_or(1));
            return Err(error);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_secs(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn one_person_cannot_poll_past_the_window_limit() {
        let mut limiter = ColorPollLimiter::default();
        let pid = PersonId::parse("p-1").unwrap();
        for _ in 0..COLOR_POLLS_PER_WINDOW_MAX {
            limiter.admit(&pid, at(0)).unwrap();
        }
        let refused = limiter.admit(&pid, at(3)).unwrap_err();
        assert_eq!(refused.kind, crate::ErrorKind::RateLimited);
        assert_eq!(refused.retry_after_secs, Some(7));
        // Another person is not affected, and the window ends.
        limiter
            .admit(&PersonId::parse("p-2").unwrap(), at(3))
            .unwrap();
        limiter.admit(&pid, at(COLOR_POLL_WINDOW_SECS)).unwrap();
    }

    #[test]
    fn a_full_table_sheds_instead_of_forgetting_a_count() {
        let mut limiter = ColorPollLimiter::with_persons_max(2);
        limiter
            .admit(&PersonId::parse("p-1").unwrap(), at(0))
            .unwrap();
        limiter
            .admit(&PersonId::parse("p-2").unwrap(), at(0))
            .unwrap();
        let shed = limiter
            .admit(&PersonId::parse("p-3").unwrap(), at(1))
            .unwrap_err();
        assert_eq!(shed.kind, crate::ErrorKind::Unavailable);
        // Once the windows end, their entries make room.
        limiter
            .admit(&PersonId::parse("p-3").unwrap(), at(COLOR_POLL_WINDOW_SECS))
            .unwrap();
    }
}
