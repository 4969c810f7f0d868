//! Five-field cron expressions and their next occurrence in a time zone.

use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Zoned;

/// A cron expression of five fields: minute, hour, day of month, month, day of week.
///
/// The syntax is standard cron, as KEDA's cron library reads it: `*`, lists (`1,15`), ranges
/// (`1-5`), steps (`*/15`, `0-30/10`), month and day names (`JAN`, `MON-FRI`), `?` for "any"
/// in the day fields, and Vixie cron's rule for the two day fields: when both are restricted, a
/// day matches if either does. Also accepted, beyond KEDA: `7` for Sunday, and the extensions
/// `L`, `W` and `#` of the day fields. Not accepted: a seconds or a year field, and `@daily`
/// and the other descriptors (KEDA rejects them too).
///
/// Occurrences are wall clock times in the trigger's time zone. A time the clock skips when
/// daylight saving time starts (02:30 on the night the clock goes from 02:00 to 03:00) occurs
/// at the first instant after the gap (03:00) when the expression names a fixed hour and
/// minute; a time the clock passes twice when daylight saving time ends occurs once, the first
/// time.
#[derive(Clone)]
pub struct CronExpr {
    raw: String,
    cron: Cron,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronExpr").field(&self.raw).finish()
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for CronExpr {}

impl CronExpr {
    /// Parses an expression, or says what is wrong with it.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let fields = raw.split_whitespace().count();
        if raw.trim_start().starts_with('@') {
            return Err("descriptors such as @daily are not supported; use 5 fields".to_owned());
        }
        if fields != 5 {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), got {fields}"
            ));
        }
        check_bounds(raw)?;
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(raw).map_err(|e| reason(&e.to_string()))?;
        Ok(CronExpr {
            raw: raw.to_owned(),
            cron,
        })
    }

    /// The expression as written in the config.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The fields separated by single spaces, to compare expressions as written.
    pub(crate) fn normalized(&self) -> String {
        self.raw.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The first occurrence strictly after `after`, in `after`'s time zone; `None` when there
    /// is none before the year 5000.
    pub(crate) fn next_after(&self, after: &Zoned) -> Option<Zoned> {
        self.cron.find_next_occurrence(after, false).ok()
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The fields, with the numbers each allows (day of week: 0 to 7, both Sunday).
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// Numbers out of their field's range, reported with the field's name (croner's own message
/// does not say which field). Steps, names and the `L`/`W`/`#` extensions are left to croner.
fn check_bounds(raw: &str) -> Result<(), String> {
    for (field, (name, low, high)) in raw.split_whitespace().zip(FIELDS) {
        for item in field.split(',') {
            let range = item.split('/').next().unwrap_or_default();
            for number in range.split('-').filter_map(|n| n.parse::<u32>().ok()) {
                if number < low || number > high {
                    return Err(format!("{name} {number} is out of range {low}-{high}"));
                }
            }
        }
    }
    Ok(())
}

/// croner's message in our style: without its category, lowercase start, no trailing period.
fn reason(message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    let message = [
        "Pattern contains illegal characters: CronPattern contains ",
        "Component error: ",
        "Invalid pattern: ",
    ]
    .iter()
    .find_map(|prefix| message.strip_prefix(prefix))
    .unwrap_or(message);
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn next(expr: &str, after: &str, tz: &str) -> String {
        let after: Timestamp = after.parse().unwrap();
        let zone = jiff::tz::db().get(tz).unwrap();
        let next = CronExpr::parse(expr)
            .unwrap()
            .next_after(&after.to_zoned(zone))
            .unwrap();
        next.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    #[test]
    fn next_occurrences_in_a_zone() {
        let at = "2026-01-14T10:15:30Z";
        assert_eq!(next("* * * * *", at, "UTC"), "2026-01-14T10:16:00+00:00");
        assert_eq!(next("0 9 * * *", at, "UTC"), "2026-01-15T09:00:00+00:00");
        assert_eq!(
            next("0 9 * * *", at, "Asia/Tokyo"),
            "2026-01-15T09:00:00+09:00"
        );
        assert_eq!(
            next("30 8 * * MON-FRI", at, "Europe/Berlin"),
            "2026-01-15T08:30:00+01:00"
        );
        assert_eq!(next("*/20 * * * *", at, "UTC"), "2026-01-14T10:20:00+00:00");
        // Strictly after: an occurrence at `after` itself is not the next one.
        assert_eq!(
            next("0 9 * * *", "2026-01-14T09:00:00Z", "UTC"),
            "2026-01-15T09:00:00+00:00"
        );
        // Both day fields restricted: either matches (the 1st, or any Monday).
        assert_eq!(
            next("0 0 1 * MON", "2026-01-02T00:00:00Z", "UTC"),
            "2026-01-05T00:00:00+00:00"
        );
        // One day field restricted: only it counts.
        assert_eq!(
            next("0 0 * * MON", "2026-01-01T00:00:00Z", "UTC"),
            "2026-01-05T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 13 * ?", "2026-01-01T00:00:00Z", "UTC"),
            "2026-01-13T00:00:00+00:00"
        );
    }

    #[test]
    fn daylight_saving_gaps_and_folds() {
        // New York springs forward on 2026-03-08 at 02:00 EST to 03:00 EDT.
        assert_eq!(
            next("30 2 * * *", "2026-03-08T06:00:00Z", "America/New_York"),
            "2026-03-08T03:00:00-04:00"
        );
        // And falls back on 2026-11-01 at 02:00 EDT to 01:00 EST: 01:30 happens twice, the
        // expression fires at the first.
        assert_eq!(
            next("30 1 * * *", "2026-11-01T04:00:00Z", "America/New_York"),
            "2026-11-01T01:30:00-04:00"
        );
        assert_eq!(
            next("30 1 * * *", "2026-11-01T05:30:00Z", "America/New_York"),
            "2026-11-02T01:30:00-05:00"
        );
    }

    #[test]
    fn invalid_expressions() {
        assert_eq!(
            CronExpr::parse("0 9 * *").unwrap_err(),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 4"
        );
        assert_eq!(
            CronExpr::parse("0 0 9 * * *").unwrap_err(),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 6"
        );
        assert_eq!(
            CronExpr::parse("@daily").unwrap_err(),
            "descriptors such as @daily are not supported; use 5 fields"
        );
        for (bad, reason) in [
            ("61 * * * *", "minute 61 is out of range 0-59"),
            ("* 24 * * *", "hour 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
            ("* * 1-32 * *", "day-of-month 32 is out of range 1-31"),
            ("* * * 13 *", "month 13 is out of range 1-12"),
            ("* * * * 1,8/2", "day-of-week 8 is out of range 0-7"),
            ("*/0 * * * *", "step cannot be zero"),
            ("5-1 * * * *", "range out of bounds"),
            ("x * * * *", "illegal character 'X' in part 'X'"),
        ] {
            assert_eq!(CronExpr::parse(bad).unwrap_err(), reason, "{bad}");
        }
    }

    #[test]
    fn croner_messages_lose_their_category_and_period() {
        assert_eq!(
            reason("Component error: Step cannot be zero."),
            "step cannot be zero"
        );
        assert_eq!(reason("Something else."), "something else");
        assert_eq!(reason(""), "");
    }
}
