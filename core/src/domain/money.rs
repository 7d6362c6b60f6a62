//! Exact money: a decimal with exactly two fraction digits, never a float.

use std::fmt;
use std::iter::Sum;

use rust_decimal::Decimal;

use super::Quantity;

/// Why a string is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not digits with an optional point and one or two fraction digits.
    #[error("must be a decimal string with at most two fraction digits, e.g. \"19.99\"")]
    Malformed,
    /// Beyond the allowed range.
    #[error("must be between 0.00 and {max}")]
    OutOfRange {
        /// The largest allowed amount.
        max: Money,
    },
}

/// A non-negative amount of money with exactly two fraction digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    /// Zero.
    pub const ZERO: Self = Self(Decimal::ZERO);

    /// Parses `"19.99"`, `"19.9"` or `"19"`: ASCII digits, then optionally a point and one
    /// or two digits. Signs, exponents, spaces and a third fraction digit are refused.
    ///
    /// # Errors
    /// [`MoneyError::Malformed`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let shape_ok = (1..=20).contains(&whole.len())
            && digits(whole)
            && (!raw.contains('.') || (1..=2).contains(&fraction.len()))
            && digits(fraction);
        if !shape_ok {
            return Err(MoneyError::Malformed);
        }
        let value: Decimal = raw.parse().map_err(|_| MoneyError::Malformed)?;
        Ok(Self::from_decimal_unchecked(value))
    }

    /// Wraps a stored decimal.
    ///
    /// # Errors
    /// [`MoneyError::Malformed`] if it is negative or has more than two fraction digits.
    pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() || value.normalize().scale() > 2 {
            return Err(MoneyError::Malformed);
        }
        Ok(Self::from_decimal_unchecked(value))
    }

    fn from_decimal_unchecked(mut value: Decimal) -> Self {
        value.rescale(2);
        Self(value)
    }

    /// The decimal inside, always with scale 2.
    pub const fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// This amount times a quantity, exactly.
    #[must_use]
    pub fn times(self, quantity: Quantity) -> Self {
        Self::from_decimal_unchecked(self.0 * Decimal::from(quantity.get()))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self::from_decimal_unchecked(iter.map(|m| m.0).sum())
    }
}

/// A product's unit price: money from 0.00 to 99 999 999.99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(Money);

impl Price {
    /// The largest price a product may have.
    pub const MAX: Money = Money(Decimal::from_parts(1_410_065_407, 2, 0, false, 2)); // 9 999 999 999 cents;

    /// Parses a price as [`Money::parse`] does, then checks the range.
    ///
    /// # Errors
    /// [`MoneyError`] when malformed or above [`Price::MAX`].
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        Self::new(Money::parse(raw)?)
    }

    /// Checks an amount against the price range.
    ///
    /// # Errors
    /// [`MoneyError::OutOfRange`] above [`Price::MAX`].
    pub fn new(amount: Money) -> Result<Self, MoneyError> {
        if amount > Self::MAX {
            return Err(MoneyError::OutOfRange { max: Self::MAX });
        }
        Ok(Self(amount))
    }

    /// The amount.
    pub const fn amount(&self) -> Money {
        self.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_always_print_two_fraction_digits() {
        assert_eq!(Money::parse("19").unwrap().to_string(), "19.00");
        assert_eq!(Money::parse("19.9").unwrap().to_string(), "19.90");
        assert_eq!(Money::parse("0.05").unwrap().to_string(), "0.05");
    }

    #[test]
    fn anything_but_plain_decimals_is_malformed() {
        for bad in [
            "", ".5", "5.", "-1.00", "+1.00", "1e3", "1.234", " 1.00", "1,00", "NaN", "0x10",
            "1.0.0", "١٢",
        ] {
            assert_eq!(Money::parse(bad), Err(MoneyError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn prices_stop_at_99_999_999_99() {
        assert_eq!(
            Price::parse("99999999.99").unwrap().to_string(),
            "99999999.99"
        );
        assert!(matches!(
            Price::parse("100000000.00"),
            Err(MoneyError::OutOfRange { .. })
        ));
        assert_eq!(Price::parse("0.00").unwrap().amount(), Money::ZERO);
    }

    #[test]
    fn stored_decimals_with_extra_zeros_are_accepted_but_not_extra_digits() {
        assert_eq!(
            Money::from_decimal("19.900".parse().unwrap())
                .unwrap()
                .to_string(),
            "19.90"
        );
        assert!(Money::from_decimal("19.901".parse().unwrap()).is_err());
        assert!(Money::from_decimal("-1".parse().unwrap()).is_err());
    }

    #[test]
    fn line_totals_and_sums_are_exact() {
        let price = Money::parse("0.10").unwrap();
        let line = price.times(Quantity::new(3).unwrap());
        assert_eq!(line.to_string(), "0.30");
        let total: Money = [line, Money::parse("0.20").unwrap()].into_iter().sum();
        assert_eq!(total.to_string(), "0.50");
    }

    proptest! {
        #[test]
        fn printing_then_parsing_gives_the_same_amount(cents in 0u64..=9_999_999_999u64) {
            let money = Money::from_decimal(Decimal::new(i64::try_from(cents).unwrap(), 2)).unwrap();
            prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
        }

        #[test]
        fn a_sum_of_cents_equals_the_sum_of_amounts(cents in proptest::collection::vec(0i64..10_000_000_000, 0..50)) {
            let total: Money = cents.iter().map(|c| Money::from_decimal(Decimal::new(*c, 2)).unwrap()).sum();
            prop_assert_eq!(total.as_decimal(), Decimal::new(cents.iter().sum(), 2));
        }
    }
}
