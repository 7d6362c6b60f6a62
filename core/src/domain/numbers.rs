//! Bounded integers: order quantities and stock levels.

/// Why a number is out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between {min} and {max}")]
pub struct NumberError {
    /// The smallest allowed value.
    pub min: i64,
    /// The largest allowed value.
    pub max: i64,
}

macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            /// The smallest allowed value.
            pub const MIN: i64 = $min;
            /// The largest allowed value.
            pub const MAX: i64 = $max;

            /// Checks the range.
            ///
            /// # Errors
            /// [`NumberError`] outside `MIN..=MAX`.
            pub fn new(value: i64) -> Result<Self, NumberError> {
                if (Self::MIN..=Self::MAX).contains(&value) {
                    Ok(Self(value))
                } else {
                    Err(NumberError { min: Self::MIN, max: Self::MAX })
                }
            }

            /// The value.
            pub const fn get(&self) -> i64 {
                self.0
            }
        }
    };
}

bounded!(
    /// How many units of a product one order line takes: 1 to 1 000.
    Quantity,
    1,
    1_000
);
bounded!(
    /// A stock level as an administrator sets it: 0 to 1 000 000 000.
    Stock,
    0,
    1_000_000_000
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_run_from_one_to_a_thousand() {
        assert!(Quantity::new(0).is_err());
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::new(1_000).unwrap().get(), 1_000);
        assert_eq!(
            Quantity::new(1_001),
            Err(NumberError { min: 1, max: 1_000 })
        );
    }

    #[test]
    fn stock_runs_from_zero_to_a_billion() {
        assert!(Stock::new(-1).is_err());
        assert_eq!(Stock::new(0).unwrap().get(), 0);
        assert!(Stock::new(1_000_000_001).is_err());
    }
}
