//! Values across the TDS boundary: parameters as [`ColumnData`] and columns back into
//! [`Value`]s. Ids travel as `BINARY(16)` in RFC byte order, money as `DECIMAL`, times as
//! `DATETIME2` in UTC.

use std::borrow::Cow;

use mercado_sql::{DbError, DbErrorKind, Kind, Row, Value};
use rust_decimal::Decimal;
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime2, Time};
use tiberius::{ColumnData, ToSql};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use uuid::Uuid;

/// SQL Server counts `DATE`/`DATETIME2` days from 0001-01-01, Julian day 1 721 426.
const DAY_ZERO: i64 = 1_721_426;
/// `DATETIME2` time scale sent: 7 digits (100 ns), the type's default, so the declared
/// parameter type `datetime2` and the value agree.
const SCALE: u8 = 7;

/// A statement ready to send: its text, with every NULL parameter written into it as a
/// typed literal, and the other parameters renumbered `@P1…` in order.
///
/// tiberius 0.12 encodes any `None` parameter as the untyped TDS NULL (type 0x1F), even
/// when the `sp_executesql` declaration names its type. SQL Server accepts that; Babelfish
/// refuses it and drops the connection. A `CAST(NULL AS <column type>)` in the text means
/// the same on both. The text varies only with which parameters are NULL, so each
/// statement still has a handful of cached plans at most.
pub(crate) fn bind<'a>(sql: &'a str, params: &'a [Value]) -> (Cow<'a, str>, Vec<Param<'a>>) {
    let bound = params
        .iter()
        .filter(|v| !matches!(v, Value::Null(_)))
        .map(Param)
        .collect::<Vec<_>>();
    if bound.len() == params.len() {
        return (Cow::Borrowed(sql), bound);
    }
    // The new number of each parameter, or the literal that replaces it.
    let mut next = 0;
    let replacement: Vec<Cow<'static, str>> = params
        .iter()
        .map(|v| {
            if let Value::Null(kind) = v {
                Cow::Borrowed(null_literal(*kind))
            } else {
                next += 1;
                Cow::Owned(format!("@P{next}"))
            }
        })
        .collect();
    let mut out = String::with_capacity(sql.len() + 24 * (params.len() - bound.len()));
    let mut rest = sql;
    while let Some((before, number, after)) = next_placeholder(rest) {
        out.push_str(before);
        match number.checked_sub(1).and_then(|i| replacement.get(i)) {
            Some(text) => out.push_str(text),
            // Not one of ours (more placeholders than values): the server will say so.
            None => out.push_str(&rest[before.len()..rest.len() - after.len()]),
        }
        rest = after;
    }
    out.push_str(rest);
    (Cow::Owned(out), bound)
}

/// The first `@P<n>` of `sql` outside quotes and brackets: the text before it, `n`, and
/// the text after it.
fn next_placeholder(sql: &str) -> Option<(&str, usize, &str)> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // Skip a literal or a quoted name to its closing quote; a doubled quote inside
            // is two literals back to back to this scan, which comes to the same.
            quote @ (b'\'' | b'"') => {
                i += 1 + bytes[i + 1..].iter().position(|&b| b == quote)?;
            }
            b'[' => i += bytes[i..].iter().position(|&b| b == b']')?,
            b'@' if bytes.get(i + 1) == Some(&b'P')
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let digits = bytes[i + 2..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    let end = i + 2 + digits;
                    let number = sql[i + 2..end].parse().ok()?;
                    return Some((&sql[..i], number, &sql[end..]));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A NULL of the column type the migrations give values of `kind`.
const fn null_literal(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "CAST(NULL AS BIT)",
        Kind::Int => "CAST(NULL AS BIGINT)",
        Kind::Text => "CAST(NULL AS NVARCHAR(4000))",
        Kind::Uuid => "CAST(NULL AS BINARY(16))",
        Kind::Money => "CAST(NULL AS DECIMAL(18, 2))",
        Kind::Time => "CAST(NULL AS DATETIME2(6))",
    }
}

/// One parameter, bound in the column types the migrations use.
#[derive(Debug)]
pub(crate) struct Param<'a>(pub &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> ColumnData<'_> {
        match self.0 {
            // `bind` keeps NULLs out of the parameters; one bound anyway is still typed
            // in its declaration.
            Value::Null(kind) => null(*kind),
            Value::Bool(v) => ColumnData::Bit(Some(*v)),
            Value::Int(v) => ColumnData::I64(Some(*v)),
            Value::Text(v) => ColumnData::String(Some(Cow::Borrowed(v))),
            Value::Uuid(v) => ColumnData::Binary(Some(Cow::Borrowed(v.as_bytes()))),
            Value::Money(v) => ColumnData::Numeric(Some(numeric(*v))),
            Value::Time(v) => ColumnData::DateTime2(Some(datetime2(*v))),
        }
    }
}

/// A typed NULL: SQL Server declares every parameter's type, NULLs included.
fn null(kind: Kind) -> ColumnData<'static> {
    match kind {
        Kind::Bool => ColumnData::Bit(None),
        Kind::Int => ColumnData::I64(None),
        Kind::Text => ColumnData::String(None),
        Kind::Uuid => ColumnData::Binary(None),
        Kind::Money => ColumnData::Numeric(None),
        Kind::Time => ColumnData::DateTime2(None),
    }
}

fn numeric(v: Decimal) -> Numeric {
    // A Decimal's scale is at most 28, so it always fits in a u8.
    let scale = u8::try_from(v.scale()).unwrap_or(u8::MAX);
    Numeric::new_with_scale(v.mantissa(), scale)
}

fn datetime2(v: OffsetDateTime) -> DateTime2 {
    let utc = v.to_offset(UtcOffset::UTC);
    let days = i64::from(utc.date().to_julian_day()) - DAY_ZERO;
    let (h, m, s, micros) = utc.time().as_hms_micro();
    let micros_of_day =
        ((u64::from(h) * 60 + u64::from(m)) * 60 + u64::from(s)) * 1_000_000 + u64::from(micros);
    // Years 1..=9999 (all SQL Server stores) give 0..3 652 059 days, well inside u32;
    // earlier dates saturate to day zero, which the server then stores as 0001-01-01.
    DateTime2::new(
        Date::new(u32::try_from(days).unwrap_or(0)),
        Time::new(micros_of_day * 10, SCALE),
    )
}

/// Decodes column `i` of `row` as `kind`.
fn decode(data: &ColumnData<'static>, kind: Kind, i: usize) -> Result<Value, DbError> {
    let value = match (kind, data) {
        (Kind::Bool, ColumnData::Bit(v)) => v.map(Value::Bool),
        (Kind::Int, ColumnData::U8(v)) => v.map(|v| Value::Int(v.into())),
        (Kind::Int, ColumnData::I16(v)) => v.map(|v| Value::Int(v.into())),
        (Kind::Int, ColumnData::I32(v)) => v.map(|v| Value::Int(v.into())),
        (Kind::Int, ColumnData::I64(v)) => v.map(Value::Int),
        (Kind::Text, ColumnData::String(v)) => v.as_ref().map(|v| Value::Text(v.to_string())),
        (Kind::Uuid, ColumnData::Binary(v)) => match v {
            Some(bytes) => Some(Value::Uuid(
                Uuid::from_slice(bytes).map_err(|e| mismatch(i, kind, &e.to_string()))?,
            )),
            None => None,
        },
        (Kind::Money, ColumnData::Numeric(v)) => {
            v.map(|n| Value::Money(Decimal::from_i128_with_scale(n.value(), n.scale().into())))
        }
        (Kind::Time, ColumnData::DateTime2(v)) => match v {
            Some(dt) => Some(Value::Time(
                from_datetime2(*dt).ok_or_else(|| mismatch(i, kind, "out of range"))?,
            )),
            None => None,
        },
        (_, other) => return Err(mismatch(i, kind, &format!("{other:?}"))),
    };
    Ok(value.unwrap_or(Value::Null(kind)))
}

fn from_datetime2(dt: DateTime2) -> Option<OffsetDateTime> {
    let julian = i32::try_from(DAY_ZERO + i64::from(dt.date().days())).ok()?;
    let date = time::Date::from_julian_day(julian).ok()?;
    let scale = u32::from(dt.time().scale());
    // Any scale (0..=7) to nanoseconds; the columns are DATETIME2(6), so microseconds.
    let nanos = dt
        .time()
        .increments()
        .checked_mul(10u64.pow(9u32.checked_sub(scale)?))?;
    let time = time::Time::MIDNIGHT + time::Duration::nanoseconds(i64::try_from(nanos).ok()?);
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

fn mismatch(i: usize, kind: Kind, got: &str) -> DbError {
    DbError::new(
        DbErrorKind::Other,
        format!("column {i}: expected {kind:?}, got {got}"),
    )
}

/// Decodes a whole row, column by column, as `kinds` says.
pub(crate) fn decode_row(row: &tiberius::Row, kinds: &[Kind]) -> Result<Row, DbError> {
    let cells: Vec<&ColumnData<'static>> = row.cells().map(|(_, data)| data).collect();
    if cells.len() < kinds.len() {
        return Err(DbError::new(
            DbErrorKind::Other,
            format!("expected {} columns, got {}", kinds.len(), cells.len()),
        ));
    }
    kinds
        .iter()
        .zip(cells)
        .enumerate()
        .map(|(i, (kind, data))| decode(data, *kind, i))
        .collect::<Result<_, _>>()
        .map(Row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// What a parameter becomes on the wire, read back the way a result column is.
    fn round_trip(value: &Value, kind: Kind) -> Value {
        let param = Param(value);
        decode(&owned(param.to_sql()), kind, 0).expect("decodes")
    }

    fn owned(data: ColumnData<'_>) -> ColumnData<'static> {
        match data {
            ColumnData::String(v) => ColumnData::String(v.map(|s| Cow::Owned(s.into_owned()))),
            ColumnData::Binary(v) => ColumnData::Binary(v.map(|b| Cow::Owned(b.into_owned()))),
            ColumnData::Bit(v) => ColumnData::Bit(v),
            ColumnData::I64(v) => ColumnData::I64(v),
            ColumnData::Numeric(v) => ColumnData::Numeric(v),
            ColumnData::DateTime2(v) => ColumnData::DateTime2(v),
            other => panic!("not a type Mercado binds: {other:?}"),
        }
    }

    #[test]
    fn every_kind_of_value_survives_the_trip() {
        let values = [
            (Value::Bool(true), Kind::Bool),
            (Value::Int(-9_007_199_254_740_993), Kind::Int),
            (Value::Text("Ünïcode ✓ 𝄞 ' ; --".into()), Kind::Text),
            (Value::Uuid(Uuid::now_v7()), Kind::Uuid),
            (Value::Money(Decimal::new(123_456_789, 2)), Kind::Money),
            (Value::Money(Decimal::new(-5, 2)), Kind::Money),
            (
                Value::Time(datetime!(2026-11-23 23:59:59.999999 UTC)),
                Kind::Time,
            ),
            (Value::Time(datetime!(0001-01-01 00:00 UTC)), Kind::Time),
            (
                Value::Time(datetime!(9999-12-31 23:59:59.999999 UTC)),
                Kind::Time,
            ),
        ];
        for (value, kind) in values {
            assert_eq!(round_trip(&value, kind), value);
        }
    }

    #[test]
    fn nulls_are_typed_and_decode_as_nulls_of_their_kind() {
        for kind in [
            Kind::Bool,
            Kind::Int,
            Kind::Text,
            Kind::Uuid,
            Kind::Money,
            Kind::Time,
        ] {
            let null_value = Value::Null(kind);
            let param = Param(&null_value);
            let data = param.to_sql();
            assert_eq!(
                std::mem::discriminant(&data),
                std::mem::discriminant(&null(kind))
            );
            assert_eq!(round_trip(&Value::Null(kind), kind), Value::Null(kind));
        }
    }

    #[test]
    fn nulls_are_written_into_the_text_and_the_rest_renumbered() {
        let params = [
            Value::Int(1),
            Value::Null(Kind::Text),
            Value::Uuid(Uuid::nil()),
            Value::Null(Kind::Time),
            Value::Int(5),
        ];
        let sql = "UPDATE t SET a = @P1, b = @P2, c = @P3, d = @P4 WHERE e = @P5 AND f = N'@P2' AND [@P4] = 1";
        let (text, bound) = bind(sql, &params);
        assert_eq!(
            text,
            "UPDATE t SET a = @P1, b = CAST(NULL AS NVARCHAR(4000)), c = @P2, d = CAST(NULL AS DATETIME2(6)) \
             WHERE e = @P3 AND f = N'@P2' AND [@P4] = 1"
        );
        let values: Vec<&Value> = bound.iter().map(|p| p.0).collect();
        assert_eq!(values, [&params[0], &params[2], &params[4]]);
    }

    #[test]
    fn a_statement_without_nulls_is_sent_as_it_is() {
        let params = [Value::Int(1), Value::Text("x".into())];
        let (text, bound) = bind("SELECT @P1, @P2", &params);
        assert!(matches!(text, Cow::Borrowed("SELECT @P1, @P2")));
        assert_eq!(bound.len(), 2);
    }

    #[test]
    fn placeholders_are_whole_tokens_counted_to_their_last_digit() {
        let mut params = vec![Value::Int(0); 11];
        params[0] = Value::Null(Kind::Bool);
        params[9] = Value::Null(Kind::Money);
        let (text, bound) = bind("SELECT @P1, @P10, @P11, x@P2, @Px, @P12", &params);
        assert_eq!(
            text,
            "SELECT CAST(NULL AS BIT), CAST(NULL AS DECIMAL(18, 2)), @P9, x@P2, @Px, @P12"
        );
        assert_eq!(bound.len(), 9);
        let (text, _) = bind("SELECT 'unclosed @P1", &params);
        assert_eq!(text, "SELECT 'unclosed @P1");
    }

    #[test]
    fn ids_are_sent_as_sixteen_bytes_in_rfc_order() {
        let id = Uuid::parse_str("0190b2a4-7c1e-7000-8000-000000000001").unwrap();
        let value = Value::Uuid(id);
        let param = Param(&value);
        match param.to_sql() {
            ColumnData::Binary(Some(bytes)) => assert_eq!(&*bytes, id.as_bytes()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn times_in_other_offsets_are_stored_as_utc() {
        let value = Value::Time(datetime!(2026-01-01 01:30 +02:00));
        assert_eq!(
            round_trip(&value, Kind::Time),
            Value::Time(datetime!(2025-12-31 23:30 UTC))
        );
        let param = Param(&value);
        match param.to_sql() {
            ColumnData::DateTime2(Some(dt)) => {
                assert_eq!(dt.time().scale(), SCALE);
                assert_eq!(
                    dt.time().increments(),
                    23 * 3_600 * 10_000_000 + 30 * 60 * 10_000_000
                );
                // 2025-12-31 is day 739 615 from 0001-01-01 (as Python's datetime.date counts).
                assert_eq!(dt.date().days(), 739_615);
            }
            other => panic!("{other:?}"),
        }
    }

    /// tiberius's own `time` and `rust_decimal` conversions agree with these on the wire.
    #[test]
    fn the_wire_format_matches_tiberius_own_conversions() {
        for t in [
            datetime!(0001-01-01 00:00 UTC),
            datetime!(1970-01-01 00:00:00.000001 UTC),
            datetime!(2026-11-23 13:14:15.161718 UTC),
            datetime!(9999-12-31 23:59:59.999999 UTC),
        ] {
            let ours = datetime2(t);
            let primitive = PrimitiveDateTime::new(t.date(), t.time());
            match primitive.to_sql() {
                ColumnData::DateTime2(Some(theirs)) => {
                    assert_eq!(ours.date().days(), theirs.date().days(), "{t}");
                    assert_eq!(ours.time().increments(), theirs.time().increments(), "{t}");
                    assert_eq!(ours.time().scale(), theirs.time().scale(), "{t}");
                }
                other => panic!("{other:?}"),
            }
            let data = ColumnData::DateTime2(Some(ours));
            let read = <PrimitiveDateTime as tiberius::FromSql>::from_sql(&data)
                .unwrap()
                .unwrap();
            assert_eq!(read.assume_utc(), t);
        }
        for d in [
            Decimal::new(1999, 2),
            Decimal::new(-1, 2),
            Decimal::new(9_999_999_999, 2),
        ] {
            let data = ColumnData::Numeric(Some(numeric(d)));
            let read = <Decimal as tiberius::FromSql>::from_sql(&data)
                .unwrap()
                .unwrap();
            assert_eq!(read, d);
        }
    }

    #[test]
    fn money_keeps_its_scale_on_the_wire() {
        let value = Value::Money(Decimal::new(1999, 2));
        let param = Param(&value);
        match param.to_sql() {
            ColumnData::Numeric(Some(n)) => {
                assert_eq!((n.value(), n.scale()), (1999, 2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn narrower_integers_widen_and_any_datetime2_scale_reads() {
        assert_eq!(
            decode(&ColumnData::I32(Some(7)), Kind::Int, 0).unwrap(),
            Value::Int(7)
        );
        assert_eq!(
            decode(&ColumnData::I16(Some(-7)), Kind::Int, 0).unwrap(),
            Value::Int(-7)
        );
        assert_eq!(
            decode(&ColumnData::U8(Some(255)), Kind::Int, 0).unwrap(),
            Value::Int(255)
        );
        // DATETIME2(6): 12:00:00.000001 as microsecond increments.
        let dt = DateTime2::new(Date::new(739_615), Time::new(43_200_000_001, 6));
        assert_eq!(
            decode(&ColumnData::DateTime2(Some(dt)), Kind::Time, 0).unwrap(),
            Value::Time(datetime!(2025-12-31 12:00:00.000001 UTC))
        );
    }

    #[test]
    fn a_column_of_another_type_is_an_error_not_a_guess() {
        for (data, kind) in [
            (ColumnData::String(Some("1".into())), Kind::Int),
            (ColumnData::I64(Some(1)), Kind::Bool),
            (
                ColumnData::Binary(Some(Cow::Borrowed(&[1u8, 2][..]))),
                Kind::Uuid,
            ),
            (ColumnData::F64(Some(1.5)), Kind::Money),
            (ColumnData::Guid(Some(Uuid::nil())), Kind::Uuid),
        ] {
            let err = decode(&data, kind, 3).unwrap_err();
            assert!(err.message.starts_with("column 3:"), "{}", err.message);
        }
        let bad_scale = DateTime2::new(Date::new(1), Time::new(1, 12));
        assert!(decode(&ColumnData::DateTime2(Some(bad_scale)), Kind::Time, 0).is_err());
    }
}
