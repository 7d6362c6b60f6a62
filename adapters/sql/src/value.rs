//! The values that cross the executor boundary: parameters in, decoded columns out.

use mercado_core::StoreError;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

/// The type of a parameter or column, as the SQL layer means it. Each executor stores
/// it in its database's natural type (a UUID is `UUID`, `BINARY(16)`,
/// `UNIQUEIDENTIFIER` or a 16-byte `BLOB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A boolean.
    Bool,
    /// A 64-bit integer.
    Int,
    /// Unicode text.
    Text,
    /// A UUID.
    Uuid,
    /// Exact money with two fraction digits.
    Money,
    /// A UTC time with microsecond precision.
    Time,
}

/// A parameter or a decoded column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL of a kind (some drivers need the type of a NULL).
    Null(Kind),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// Unicode text.
    Text(String),
    /// A UUID.
    Uuid(Uuid),
    /// Money, scale 2.
    Money(Decimal),
    /// A UTC time, microsecond precision.
    Time(OffsetDateTime),
}

impl Value {
    /// `Null(kind)` for `None`, else the value.
    pub fn opt(value: Option<Value>, kind: Kind) -> Self {
        value.unwrap_or(Self::Null(kind))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Self::Uuid(v)
    }
}
impl From<OffsetDateTime> for Value {
    fn from(v: OffsetDateTime) -> Self {
        Self::Time(v)
    }
}

/// One result row, decoded column by column as the statement's kinds said.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

macro_rules! getter {
    ($name:ident, $opt:ident, $variant:ident, $ty:ty) => {
        /// The column at `i`, which must not be NULL.
        ///
        /// # Errors
        /// [`StoreError::Corrupt`] if it is NULL or of another kind.
        pub fn $name(&self, i: usize) -> Result<$ty, StoreError> {
            self.$opt(i)?.ok_or_else(|| corrupt(i, "unexpected NULL"))
        }

        /// The column at `i`, or `None` when NULL.
        ///
        /// # Errors
        /// [`StoreError::Corrupt`] if it is of another kind.
        pub fn $opt(&self, i: usize) -> Result<Option<$ty>, StoreError> {
            match self.0.get(i) {
                Some(Value::$variant(v)) => Ok(Some(v.clone())),
                Some(Value::Null(_)) => Ok(None),
                other => Err(corrupt(
                    i,
                    &format!("expected {}, got {other:?}", stringify!($variant)),
                )),
            }
        }
    };
}

impl Row {
    getter!(bool, opt_bool, Bool, bool);
    getter!(int, opt_int, Int, i64);
    getter!(text, opt_text, Text, String);
    getter!(uuid, opt_uuid, Uuid, Uuid);
    getter!(money, opt_money, Money, Decimal);
    getter!(time, opt_time, Time, OffsetDateTime);
}

fn corrupt(i: usize, what: &str) -> StoreError {
    StoreError::Corrupt(format!("column {i}: {what}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters_return_values_of_their_kind_and_none_for_null() {
        let id = Uuid::now_v7();
        let row = Row(vec![
            Value::Uuid(id),
            Value::Null(Kind::Text),
            Value::Int(3),
        ]);
        assert_eq!(row.uuid(0).unwrap(), id);
        assert_eq!(row.opt_text(1).unwrap(), None);
        assert_eq!(row.int(2).unwrap(), 3);
    }

    #[test]
    fn a_null_or_a_wrong_kind_is_corrupt_data() {
        let row = Row(vec![Value::Null(Kind::Int), Value::Text("x".into())]);
        assert!(matches!(row.int(0), Err(StoreError::Corrupt(_))));
        assert!(matches!(row.int(1), Err(StoreError::Corrupt(_))));
        assert!(matches!(row.bool(7), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn opt_gives_a_typed_null_for_none() {
        assert_eq!(Value::opt(None, Kind::Money), Value::Null(Kind::Money));
        assert_eq!(Value::opt(Some(Value::Int(1)), Kind::Int), Value::Int(1));
    }
}
