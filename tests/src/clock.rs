//! A clock a test moves forward, so that expiry is tested without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use mercado_core::{Clock, SystemClock};
use time::{Duration, OffsetDateTime};

/// The system's time plus an offset the test advances.
#[derive(Debug, Default)]
pub struct ManualClock {
    /// Microseconds added to the system's time.
    ahead: AtomicI64,
}

impl ManualClock {
    /// Moves the clock `by` forward.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.whole_microseconds()).unwrap_or(i64::MAX);
        self.ahead.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        SystemClock.now() + Duration::microseconds(self.ahead.load(Ordering::SeqCst))
    }
}
