//! The business calendar: when "business hours" and "business days" are.
//!
//! Runbooks say "within 3 business days" (Dealix works Sunday to Thursday in
//! Riyadh) and "page P2 in business hours only". These are pure functions of
//! the policy's [`Calendar`] and an instant; all zone and DST arithmetic is
//! jiff's. The loader validates the calendar, so the fallbacks below (UTC,
//! Monday–Friday, 09:00–17:00, for parts that do not parse) only matter for
//! policies built by hand.

use std::collections::BTreeSet;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

use super::{Calendar, Policy, WorkingHours};
use crate::Timestamp;

/// Day names the policy accepts in `working_days`, Sunday first.
pub const WEEKDAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// `sun`..`sat` (any case) → weekday.
pub(crate) fn parse_weekday(name: &str) -> Option<Weekday> {
    let days = [
        Weekday::Sunday,
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ];
    WEEKDAY_NAMES
        .iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .map(|i| days[i])
}

/// Strict `HH:MM`, 24-hour clock.
pub(crate) fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// Strict `YYYY-MM-DD`, a real date.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let shape_ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return None;
    }
    Date::new(
        s[0..4].parse().ok()?,
        s[5..7].parse().ok()?,
        s[8..10].parse().ok()?,
    )
    .ok()
}

/// The calendar with its strings parsed.
struct Rules {
    tz: TimeZone,
    working: [bool; 7],
    start: Time,
    end: Time,
    holidays: BTreeSet<Date>,
}

impl Rules {
    fn of(cal: &Calendar) -> Rules {
        let defaults = Calendar::default();
        let tz = TimeZone::get(&cal.time_zone).unwrap_or(TimeZone::UTC);
        let days = |names: &[String]| {
            let mut working = [false; 7];
            for day in names.iter().filter_map(|n| parse_weekday(n)) {
                working[day.to_sunday_zero_offset() as usize] = true;
            }
            working
        };
        let mut working = days(&cal.working_days);
        if !working.contains(&true) {
            working = days(&defaults.working_days);
        }
        let hours = |h: &WorkingHours| {
            Some((parse_hhmm(&h.start)?, parse_hhmm(&h.end)?)).filter(|(s, e)| s < e)
        };
        let (start, end) = hours(&cal.working_hours)
            .or_else(|| hours(&defaults.working_hours))
            .unwrap_or((Time::midnight(), Time::MAX));
        let holidays = cal.holidays.iter().filter_map(|d| parse_date(d)).collect();
        Rules {
            tz,
            working,
            start,
            end,
            holidays,
        }
    }

    fn is_business_day(&self, date: Date) -> bool {
        self.working[date.weekday().to_sunday_zero_offset() as usize]
            && !self.holidays.contains(&date)
    }

    /// The next business day strictly after `date`. Terminates because at
    /// least one weekday is working and the holidays are finitely many.
    fn next_business_day(&self, mut date: Date) -> Option<Date> {
        loop {
            date = date.tomorrow().ok()?;
            if self.is_business_day(date) {
                return Some(date);
            }
        }
    }

    /// The instant `time` happens on `date` here (jiff's "compatible" choice
    /// in DST gaps and folds: the later instant in a gap, the earlier in a fold).
    fn at(&self, date: Date, time: Time) -> Option<Timestamp> {
        date.to_datetime(time)
            .to_zoned(self.tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

impl Calendar {
    /// The calendar's zone (UTC when the name is unknown; the loader refuses those).
    pub fn tz(&self) -> TimeZone {
        TimeZone::get(&self.time_zone).unwrap_or(TimeZone::UTC)
    }

    /// Whether `date` (in the calendar's zone) is a working day and not a holiday.
    pub fn is_business_day(&self, date: Date) -> bool {
        Rules::of(self).is_business_day(date)
    }

    /// Whether `ts` falls in business hours: a business day, at or after
    /// `working_hours.start` and before `working_hours.end`, local time.
    pub fn is_business_time(&self, ts: Timestamp) -> bool {
        let rules = Rules::of(self);
        let local = ts.to_zoned(rules.tz.clone());
        rules.is_business_day(local.date())
            && rules.start <= local.time()
            && local.time() < rules.end
    }

    /// `ts` moved forward by `n` business days, keeping its local wall-clock
    /// time: non-working days and holidays are skipped, so with a Sunday–Thursday
    /// week, Thursday 16:00 + 3 = Tuesday 16:00. `n = 0` returns `ts`.
    ///
    /// Saturates at [`Timestamp::MAX`] past the end of jiff's calendar.
    pub fn add_business_days(&self, ts: Timestamp, n: u32) -> Timestamp {
        if n == 0 {
            return ts;
        }
        let rules = Rules::of(self);
        let local = ts.to_zoned(rules.tz.clone());
        let mut date = local.date();
        for _ in 0..n {
            match rules.next_business_day(date) {
                Some(next) => date = next,
                None => return Timestamp::MAX,
            }
        }
        rules.at(date, local.time()).unwrap_or(Timestamp::MAX)
    }

    /// `ts` itself if it is business time, else the next opening of business
    /// hours (today's, if `ts` is before it on a business day).
    pub fn next_business_time(&self, ts: Timestamp) -> Timestamp {
        let rules = Rules::of(self);
        let local = ts.to_zoned(rules.tz.clone());
        let today = local.date();
        if rules.is_business_day(today) && local.time() < rules.end {
            if rules.start <= local.time() {
                return ts;
            }
            return rules.at(today, rules.start).unwrap_or(ts);
        }
        rules
            .next_business_day(today)
            .and_then(|day| rules.at(day, rules.start))
            .unwrap_or(Timestamp::MAX)
    }
}

impl Policy {
    /// When the postmortem of an incident of `severity` resolved at
    /// `resolved_at` is due: `within` after resolution, or
    /// `within_business_days` business days later on the calendar. `None` if
    /// the severity is unknown or its rule sets no deadline.
    pub fn postmortem_due(&self, severity: &str, resolved_at: Timestamp) -> Option<Timestamp> {
        let rule = self.severity(severity)?.postmortem.as_ref()?;
        if let Some(within) = rule.within {
            return resolved_at.checked_add(within.as_signed()).ok();
        }
        rule.within_business_days
            .map(|n| self.calendar.add_business_days(resolved_at, n))
    }

    /// When the first response to an incident of `severity` declared at
    /// `declared_at` is due: `respond_within` after declaration, or
    /// `respond_within_business_days` business days later ("next business day").
    pub fn response_due(&self, severity: &str, declared_at: Timestamp) -> Option<Timestamp> {
        let severity = self.severity(severity)?;
        if let Some(within) = severity.respond_within {
            return declared_at.checked_add(within.as_signed()).ok();
        }
        severity
            .respond_within_business_days
            .map(|n| self.calendar.add_business_days(declared_at, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn riyadh() -> Calendar {
        Calendar {
            time_zone: "Asia/Riyadh".into(),
            working_days: ["sun", "mon", "tue", "wed", "thu"]
                .map(String::from)
                .to_vec(),
            working_hours: WorkingHours {
                start: "09:00".into(),
                end: "18:00".into(),
            },
            holidays: vec!["2026-03-22".into()],
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse()
            .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
    }

    #[test]
    fn parses_the_policy_spellings() {
        assert_eq!(parse_weekday("Sun"), Some(Weekday::Sunday));
        assert_eq!(parse_weekday("sunday"), None);
        assert_eq!(parse_hhmm("09:30"), Time::new(9, 30, 0, 0).ok());
        assert_eq!(parse_hhmm("9:30"), None);
        assert_eq!(parse_hhmm("24:00"), None);
        assert!(parse_date("2026-02-28").is_some());
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-2-28"), None);
    }

    #[test]
    fn thursday_plus_three_business_days_is_tuesday_in_riyadh() {
        // 2026-05-07 is a Thursday; 16:00 in Riyadh (UTC+3) is 13:00Z.
        let due = riyadh().add_business_days(at("2026-05-07T13:00:00Z"), 3);
        assert_eq!(due, at("2026-05-12T13:00:00Z"));
        assert_eq!(due.to_zoned(TimeZone::UTC).weekday(), Weekday::Tuesday);
    }

    #[test]
    fn holidays_are_skipped() {
        // Thursday 2026-03-19 + 1 would be Sunday 2026-03-22, a holiday → Monday.
        let due = riyadh().add_business_days(at("2026-03-19T10:00:00Z"), 1);
        assert_eq!(due, at("2026-03-23T10:00:00Z"));
    }

    #[test]
    fn business_time_is_local() {
        let cal = riyadh();
        assert!(
            cal.is_business_time(at("2026-05-10T06:00:00Z")),
            "Sunday 09:00 Riyadh opens"
        );
        assert!(
            !cal.is_business_time(at("2026-05-10T05:59:59Z")),
            "Sunday 08:59 is before opening"
        );
        assert!(
            !cal.is_business_time(at("2026-05-10T15:00:00Z")),
            "18:00 is closing time"
        );
        assert!(
            !cal.is_business_time(at("2026-05-08T10:00:00Z")),
            "Friday is the weekend"
        );
        assert!(!cal.is_business_time(at("2026-03-22T10:00:00Z")), "holiday");
    }

    #[test]
    fn next_business_time_waits_for_the_next_opening() {
        let cal = riyadh();
        let open = at("2026-05-10T08:00:00Z");
        assert_eq!(cal.next_business_time(open), open, "already open");
        // Thursday 20:00 Riyadh → Sunday 09:00 Riyadh.
        assert_eq!(
            cal.next_business_time(at("2026-05-07T17:00:00Z")),
            at("2026-05-10T06:00:00Z")
        );
        // Monday 07:00 Riyadh → Monday 09:00 the same day.
        assert_eq!(
            cal.next_business_time(at("2026-05-11T04:00:00Z")),
            at("2026-05-11T06:00:00Z")
        );
    }

    #[test]
    fn wall_clock_time_survives_a_dst_change() {
        let cal = Calendar {
            time_zone: "America/New_York".into(),
            ..Calendar::default()
        };
        // Friday 2026-03-06 10:00 EST (15:00Z) + 1 business day = Monday 10:00 EDT (14:00Z).
        assert_eq!(
            cal.add_business_days(at("2026-03-06T15:00:00Z"), 1),
            at("2026-03-09T14:00:00Z")
        );
    }

    #[test]
    fn results_always_land_on_business_time() {
        let cal = riyadh();
        let tz = TimeZone::get("Asia/Riyadh").expect("bundled zone");
        let step = jiff::SignedDuration::from_mins(7 * 60 + 13);
        let mut ts = at("2026-03-01T00:00:00Z");
        for _ in 0..600 {
            let next = cal.next_business_time(ts);
            assert!(next >= ts && cal.is_business_time(next), "{ts} → {next}");
            if next != ts {
                let just_before = next - jiff::SignedDuration::from_secs(1);
                assert!(
                    !cal.is_business_time(just_before),
                    "{ts} → {next} skipped an opening"
                );
            }
            let later = cal.add_business_days(ts, 2).to_zoned(tz.clone());
            assert!(cal.is_business_day(later.date()), "{ts} + 2 → {later}");
            assert_eq!(later.time(), ts.to_zoned(tz.clone()).time());
            ts += step;
        }
    }

    #[test]
    fn unparseable_parts_fall_back_to_defaults() {
        let cal = Calendar {
            time_zone: "Mars/Olympus".into(),
            working_days: vec![],
            ..Calendar::default()
        };
        // Saturday → Monday 09:00 UTC, as the default calendar would say.
        assert_eq!(
            cal.next_business_time(at("2026-05-09T12:00:00Z")),
            at("2026-05-11T09:00:00Z")
        );
    }
}
