//! The server's only source of time. Production reads the system clock;
//! tests use [`ManualClock`] and move it forward explicitly, so timed
//! transitions are tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;
use ymt_core::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// Notified whenever a manual clock moves; `None` for the system clock,
    /// whose passage the scheduler follows with timers.
    fn changed(&self) -> Option<&Notify> {
        None
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or(0);
        Timestamp::from_unix_secs(secs).unwrap_or(Timestamp::EPOCH)
    }
}

/// A clock that only moves when told to.
pub struct ManualClock {
    unix_secs: AtomicI64,
    changed: Notify,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            unix_secs: AtomicI64::new(start.unix_secs()),
            changed: Notify::new(),
        }
    }

    pub fn set(&self, instant: Timestamp) {
        self.unix_secs.store(instant.unix_secs(), Ordering::SeqCst);
        self.changed.notify_waiters();
        self.changed.notify_one();
    }

    pub fn advance_secs(&self, secs: i64) {
        let next = self.now().plus_secs(secs);
        self.set(next);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_secs(self.unix_secs.load(Ordering::SeqCst)).unwrap_or(Timestamp::EPOCH)
    }

    fn changed(&self) -> Option<&Notify> {
        Some(&self.changed)
    }
}
