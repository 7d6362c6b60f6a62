//! The clock port: services ask it for "now" so tests can pin time.

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC, truncated to whole microseconds, the precision every
    /// supported database stores.
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

/// Drops sub-microsecond digits, so a time read back from any database equals the one
/// written.
///
/// # Panics
/// Never: a nanosecond value made smaller stays valid.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000)
        .expect("a smaller nanosecond value is always valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn truncation_keeps_microseconds_and_drops_nanoseconds() {
        let t = datetime!(2026-11-22 10:15:30.123_456_789 UTC);
        assert_eq!(
            truncate_to_micros(t),
            datetime!(2026-11-22 10:15:30.123_456 UTC)
        );
    }

    #[test]
    fn the_system_clock_has_no_sub_microsecond_digits() {
        assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
    }
}
