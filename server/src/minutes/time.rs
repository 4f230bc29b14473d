//! Times and durations as the minutes print them: wall-clock time in Asia/Shanghai
//! (UTC+8 all year, no daylight saving since 1991) and durations in Chinese units.

use yishi_protocol::Millis;

/// Asia/Shanghai's offset from UTC, in milliseconds.
const SHANGHAI_OFFSET_MS: i64 = 8 * 3600 * 1000;

/// `2026-12-06 14:30`: the minute of `at` in Asia/Shanghai.
pub fn local_minute(at: Millis) -> String {
    let (date, hour, minute, _) = split(at);
    format!("{date} {hour:02}:{minute:02}")
}

/// `14:30:05`: the time of day of `at` in Asia/Shanghai, to the second.
pub fn local_time(at: Millis) -> String {
    let (_, hour, minute, second) = split(at);
    format!("{hour:02}:{minute:02}:{second:02}")
}

/// `2026-12-06`: the date of `at` in Asia/Shanghai.
pub fn local_date(at: Millis) -> String {
    split(at).0
}

/// A duration rounded to the second: `45秒`, `3分05秒`, `1小时02分03秒`.
pub fn duration(ms: u64) -> String {
    let total = ms.saturating_add(500) / 1000;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}小时{minutes:02}分{seconds:02}秒")
    } else if minutes > 0 {
        format!("{minutes}分{seconds:02}秒")
    } else {
        format!("{seconds}秒")
    }
}

/// The local date (`YYYY-MM-DD`), hour, minute and second of `at`.
fn split(at: Millis) -> (String, i64, i64, i64) {
    let local = i64::try_from(at.0).unwrap_or(i64::MAX) / 1000 + SHANGHAI_OFFSET_MS / 1000;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The day, counted from 1970-01-01, of a proleptic Gregorian date (the inverse of
/// [`civil_from_days`], after Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A calendar date in Asia/Shanghai (`2026-12-06`), as periods of reports are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalDate {
    /// Days since 1970-01-01.
    days: i64,
}

impl LocalDate {
    /// `YYYY-MM-DD`, a real date; `None` for anything else.
    pub fn parse(text: &str) -> Option<LocalDate> {
        let mut parts = text.trim().splitn(3, '-');
        let mut next = |len: usize| {
            let part = parts.next()?;
            (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<i64>().ok())
                .flatten()
        };
        let (y, m, d) = (next(4)?, next(2)?, next(2)?);
        let days = days_from_civil(y, m, d);
        // 2026-02-30 would come back as 2026-03-02: not a date.
        (civil_from_days(days) == (y, m, d)).then_some(LocalDate { days })
    }

    /// Year, month and day.
    pub fn ymd(self) -> (u16, u8, u8) {
        let (y, m, d) = civil_from_days(self.days);
        (
            u16::try_from(y).unwrap_or(0),
            u8::try_from(m).unwrap_or(1),
            u8::try_from(d).unwrap_or(1),
        )
    }

    /// The first instant of this day in Shanghai.
    pub fn start(self) -> Millis {
        let ms = self.days * 86_400_000 - SHANGHAI_OFFSET_MS;
        Millis(u64::try_from(ms).unwrap_or(0))
    }

    /// The first instant of the next day in Shanghai.
    pub fn end(self) -> Millis {
        LocalDate {
            days: self.days + 1,
        }
        .start()
    }
}

impl std::fmt::Display for LocalDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(self.days);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_shanghai() {
        // 2026-12-06 06:30 UTC
        assert_eq!(local_minute(Millis(1_796_538_600_000)), "2026-12-06 14:30");
        assert_eq!(local_time(Millis(1_796_538_605_000)), "14:30:05");
        // 2024-02-29 15:59 UTC is 23:59 in Shanghai; a minute later it is March there.
        assert_eq!(local_minute(Millis(1_709_222_340_000)), "2024-02-29 23:59");
        assert_eq!(local_minute(Millis(1_709_222_400_000)), "2024-03-01 00:00");
        assert_eq!(local_date(Millis(0)), "1970-01-01");
        assert_eq!(local_time(Millis(0)), "08:00:00");
    }

    #[test]
    fn local_dates_are_read_and_bound_days_in_shanghai() {
        let day = LocalDate::parse("2026-12-06").unwrap();
        assert_eq!(day.to_string(), "2026-12-06");
        // 2026-12-06 00:00 in Shanghai is 2026-12-05 16:00 UTC.
        assert_eq!(local_minute(day.start()), "2026-12-06 00:00");
        assert_eq!(day.end().since(day.start()), 86_400_000);
        assert_eq!(local_minute(day.end()), "2026-12-07 00:00");
        assert_eq!(
            LocalDate::parse("2024-02-29").map(|d| d.to_string()),
            Some("2024-02-29".into())
        );
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "20261206",
            "",
            "x",
        ] {
            assert_eq!(LocalDate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_in_chinese_units() {
        assert_eq!(duration(0), "0秒");
        assert_eq!(duration(499), "0秒");
        assert_eq!(duration(1_500), "2秒");
        assert_eq!(duration(45_000), "45秒");
        assert_eq!(duration(185_000), "3分05秒");
        assert_eq!(duration(600_000), "10分00秒");
        assert_eq!(duration(3_723_000), "1小时02分03秒");
    }
}
