//! Validity periods: calendar-month arithmetic on unix times (UTC, proleptic Gregorian calendar) and conversion
//! to and from ASN.1 times.

use crate::CryptoError;
use openssl::asn1::{Asn1Time, Asn1TimeRef};

/// Most months a certificate may be valid for (a hundred years).
pub(super) const MAX_MONTHS: u32 = 1200;

/// Earliest unix time a certificate may start at: 1950-01-01T00:00:00Z, where X.509 times begin.
const MIN_UNIX: i64 = -631_152_000;
/// Latest unix time a certificate may end at: 9999-12-31T23:59:59Z, the last GeneralizedTime with four digits.
const MAX_UNIX: i64 = 253_402_300_799;

const SECS_PER_DAY: i64 = 86_400;

/// `start` plus `months` calendar months: the same time of day on the same day of the month, or on the last day
/// of the month when that month is shorter (January 31 + 1 month = February 28 or 29).
pub(super) fn add_months(start: i64, months: u32) -> Result<i64, CryptoError> {
    if !(1..=MAX_MONTHS).contains(&months) {
        return Err(CryptoError::Malformed(format!(
            "the validity is 1 to {MAX_MONTHS} months; {months} were asked for"
        )));
    }
    if !(MIN_UNIX..=MAX_UNIX).contains(&start) {
        return Err(CryptoError::Malformed(
            "the certificate's start time is outside the years 1950 to 9999".into(),
        ));
    }
    let days = start.div_euclid(SECS_PER_DAY);
    let time_of_day = start.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let total = year * 12 + i64::from(month - 1) + i64::from(months);
    let (year, month) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let day = day.min(days_in_month(year, month));
    let end = days_from_civil(year, month, day) * SECS_PER_DAY + time_of_day;
    if end > MAX_UNIX {
        return Err(CryptoError::Malformed(
            "the certificate would end after the year 9999".into(),
        ));
    }
    Ok(end)
}

/// An ASN.1 time for a unix time (UTCTime up to 2049, GeneralizedTime from 2050, as RFC 5280 requires).
pub(super) fn asn1_time(unix: i64) -> Result<Asn1Time, CryptoError> {
    // `time_t` is i64 on the platforms Keyhaven builds for; the conversion keeps narrower ones correct.
    #[allow(clippy::useless_conversion)]
    let t = unix
        .try_into()
        .map_err(|_| CryptoError::Malformed("the time is out of range for this platform".into()))?;
    Asn1Time::from_unix(t).map_err(CryptoError::openssl)
}

/// The unix time of an ASN.1 time.
pub(super) fn unix_time(t: &Asn1TimeRef) -> Result<i64, CryptoError> {
    let epoch = Asn1Time::from_unix(0).map_err(CryptoError::openssl)?;
    let diff = epoch.diff(t).map_err(|_| {
        CryptoError::Malformed("the certificate holds an invalid validity time".into())
    })?;
    Ok(i64::from(diff.days) * SECS_PER_DAY + i64::from(diff.secs))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix time of a UTC date and time.
    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
        days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + s
    }

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(at(2024, 2, 29, 12, 0, 0), 1_709_208_000);
        for days in (-200_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn months_keep_the_day_and_time() {
        let start = at(2024, 3, 15, 8, 30, 5);
        assert_eq!(add_months(start, 1).unwrap(), at(2024, 4, 15, 8, 30, 5));
        assert_eq!(add_months(start, 12).unwrap(), at(2025, 3, 15, 8, 30, 5));
        assert_eq!(add_months(start, 10).unwrap(), at(2025, 1, 15, 8, 30, 5));
        assert_eq!(add_months(start, 1200).unwrap(), at(2124, 3, 15, 8, 30, 5));
    }

    #[test]
    fn month_ends_are_clamped() {
        assert_eq!(
            add_months(at(2023, 1, 31, 23, 59, 59), 1).unwrap(),
            at(2023, 2, 28, 23, 59, 59)
        );
        assert_eq!(
            add_months(at(2024, 1, 31, 0, 0, 0), 1).unwrap(),
            at(2024, 2, 29, 0, 0, 0)
        );
        assert_eq!(
            add_months(at(2024, 2, 29, 6, 0, 0), 12).unwrap(),
            at(2025, 2, 28, 6, 0, 0)
        );
        assert_eq!(
            add_months(at(2024, 2, 29, 6, 0, 0), 48).unwrap(),
            at(2028, 2, 29, 6, 0, 0)
        );
        assert_eq!(
            add_months(at(2024, 3, 31, 0, 0, 0), 1).unwrap(),
            at(2024, 4, 30, 0, 0, 0)
        );
        assert_eq!(
            add_months(at(2100, 1, 31, 0, 0, 0), 1).unwrap(),
            at(2100, 2, 28, 0, 0, 0)
        );
        assert_eq!(
            add_months(at(2024, 8, 31, 0, 0, 0), 6).unwrap(),
            at(2025, 2, 28, 0, 0, 0)
        );
    }

    #[test]
    fn out_of_range_is_refused() {
        let now = at(2024, 1, 1, 0, 0, 0);
        for months in [0, 1201, u32::MAX] {
            assert!(matches!(
                add_months(now, months),
                Err(CryptoError::Malformed(_))
            ));
        }
        assert!(add_months(at(1949, 12, 31, 0, 0, 0), 1).is_err());
        assert!(add_months(at(9999, 12, 1, 0, 0, 0), 1).is_err());
        assert!(add_months(at(1950, 1, 1, 0, 0, 0), 1).is_ok());
        assert!(add_months(at(9999, 11, 30, 0, 0, 0), 1).is_ok());
        assert!(add_months(i64::MIN, 1).is_err());
        assert!(add_months(i64::MAX, 1).is_err());
    }

    #[test]
    fn asn1_times_round_trip() {
        for t in [
            0,
            at(2049, 12, 31, 23, 59, 59),
            at(2050, 1, 1, 0, 0, 0),
            at(1950, 1, 1, 0, 0, 0),
            at(9999, 12, 31, 23, 59, 59),
        ] {
            assert_eq!(unix_time(&asn1_time(t).unwrap()).unwrap(), t);
        }
    }
}
