//! The SigV4 timestamp (`YYYYMMDDTHHMMSSZ`), with the calendar arithmetic done here so the
//! crate needs no date library.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A SigV4 request time: whole seconds since the Unix epoch, UTC. Parsed from and printed as
/// `YYYYMMDDTHHMMSSZ` (the `x-amz-date` / `X-Amz-Date` form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmzDate {
    unix: i64,
}

impl AmzDate {
    /// Parses `YYYYMMDDTHHMMSSZ`. Returns `None` for anything else, including impossible dates
    /// such as February 30th.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = b.get(range)?;
            digits.iter().try_fold(0i64, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
            })
        };
        let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Self {
            unix: days * 86_400 + hour * 3600 + minute * 60 + second,
        })
    }

    /// The date of `time`, truncated to whole seconds. Times before the epoch count as
    /// negative seconds.
    pub fn from_system_time(time: SystemTime) -> Self {
        let unix = match time.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                let d = e.duration();
                // Round towards the past so a pre-epoch instant never reads as later than it is.
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() > 0 {
                    -secs - 1
                } else {
                    -secs
                }
            }
        };
        Self { unix }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.unix
    }

    /// The instant as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        if self.unix >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.unix.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(self.unix.unsigned_abs())
        }
    }

    /// This date plus `secs` seconds (saturating).
    pub fn plus_seconds(self, secs: i64) -> Self {
        Self {
            unix: self.unix.saturating_add(secs),
        }
    }

    /// The `YYYYMMDD` day used in the credential scope.
    pub fn day(self) -> String {
        let (y, m, d) = civil_from_days(self.unix.div_euclid(86_400));
        format!("{y:04}{m:02}{d:02}")
    }
}

impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.unix.div_euclid(86_400));
        let secs = self.unix.rem_euclid(86_400);
        write!(
            f,
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian
// calendar, which is what UTC timestamps use.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_suite_date() {
        let d = AmzDate::parse("20150830T123600Z").unwrap();
        assert_eq!(d.unix_seconds(), 1_440_938_160);
        assert_eq!(d.to_string(), "20150830T123600Z");
        assert_eq!(d.day(), "20150830");
    }

    #[test]
    fn rejects_impossible_dates() {
        for s in [
            "20150230T000000Z",
            "20151301T000000Z",
            "20150830T240000Z",
            "2015083T123600Z",
            "20150830 123600Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
        ] {
            assert_eq!(AmzDate::parse(s), None, "{s}");
        }
        assert!(AmzDate::parse("20160229T000000Z").is_some());
    }

    #[test]
    fn round_trips_through_system_time() {
        let d = AmzDate::parse("20130524T000000Z").unwrap();
        assert_eq!(AmzDate::from_system_time(d.to_system_time()), d);
    }
}
