//! Recurring duties (`[[duties]]`): when each occurrence falls in the
//! calendar's time zone, which occurrence a recorded run is for, and which
//! reminders are owed at `now`. Pure: the server stores the runs and the
//! reminders sent, and delivers them.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::policy::{Cadence, Calendar, RecurringDuty};

/// When a duty's occurrences fall.
#[derive(Clone, Debug)]
pub struct DutySchedule {
    when: When,
    tz: TimeZone,
}

#[derive(Clone, Debug)]
enum When {
    Calendar {
        cadence: Cadence,
        day: Day,
        at: Time,
    },
    Cron(Box<jiff_cron::Schedule>),
}

#[derive(Clone, Copy, Debug)]
enum Day {
    Weekday(Weekday),
    OfMonth(i8),
}

/// Why a duty's schedule is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

impl DutySchedule {
    /// The schedule `duty` describes, in `calendar`'s time zone.
    pub fn of(duty: &RecurringDuty, calendar: &Calendar) -> Result<DutySchedule, ScheduleError> {
        let tz = TimeZone::get(&calendar.time_zone).map_err(|e| {
            ScheduleError(format!("unknown time zone {:?}: {e}", calendar.time_zone))
        })?;
        if let Some(expr) = &duty.cron {
            if duty.every.is_some() || duty.day.is_some() || duty.at.is_some() {
                return Err(ScheduleError(
                    "give either `cron` or `every` (with `day` and `at`), not both".into(),
                ));
            }
            return Ok(DutySchedule {
                when: When::Cron(Box::new(cron(expr)?)),
                tz,
            });
        }
        let cadence = duty.every.ok_or_else(|| {
            ScheduleError(
                "`every` (\"weekly\", \"monthly\" or \"quarterly\") or `cron` is required".into(),
            )
        })?;
        let day_text = duty.day.as_deref().unwrap_or(match cadence {
            Cadence::Weekly => "mon",
            _ => "1",
        });
        let day = match cadence {
            Cadence::Weekly => Day::Weekday(weekday(day_text).ok_or_else(|| {
                ScheduleError(format!(
                    "`day` {day_text:?} is not a weekday: use sun, mon, tue, wed, thu, fri or sat"
                ))
            })?),
            Cadence::Monthly | Cadence::Quarterly => match day_text.trim().parse::<i8>() {
                Ok(n @ 1..=28) => Day::OfMonth(n),
                _ => {
                    return Err(ScheduleError(format!(
                        "`day` {day_text:?} is not a day of the month from 1 to 28 (every month has those)"
                    )));
                }
            },
        };
        let at_text = duty.at.as_deref().unwrap_or("10:00");
        let at = at_text.parse::<Time>().map_err(|e| {
            ScheduleError(format!("`at` {at_text:?} is not a time like 10:00: {e}"))
        })?;
        Ok(DutySchedule {
            when: When::Calendar { cadence, day, at },
            tz,
        })
    }

    fn at_date(&self, at: Time, date: Date) -> Option<Timestamp> {
        date.to_datetime(at)
            .to_zoned(self.tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }

    /// The period's occurrence date on or before `day`.
    fn on_or_before(cadence: Cadence, dom: Day, day: Date) -> Option<Date> {
        match dom {
            Day::Weekday(wd) => {
                let back = (i64::from(day.weekday().to_monday_zero_offset())
                    - i64::from(wd.to_monday_zero_offset()))
                .rem_euclid(7);
                day.checked_sub(jiff::Span::new().days(back)).ok()
            }
            Day::OfMonth(n) => {
                let first_month = match cadence {
                    Cadence::Quarterly => (day.month() - 1) / 3 * 3 + 1,
                    _ => day.month(),
                };
                let candidate = Date::new(day.year(), first_month, n).ok()?;
                if candidate <= day {
                    Some(candidate)
                } else {
                    Self::step(cadence, candidate, -1)
                }
            }
        }
    }

    /// One period later (`dir` 1) or earlier (`dir` -1).
    fn step(cadence: Cadence, date: Date, dir: i64) -> Option<Date> {
        let span = match cadence {
            Cadence::Weekly => jiff::Span::new().weeks(dir),
            Cadence::Monthly => jiff::Span::new().months(dir),
            Cadence::Quarterly => jiff::Span::new().months(3 * dir),
        };
        date.checked_add(span).ok()
    }

    /// The latest occurrence at or before `t`.
    pub fn prev(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.when {
            When::Calendar { cadence, day, at } => {
                let today = t.to_zoned(self.tz.clone()).date();
                let mut date = Self::on_or_before(*cadence, *day, today)?;
                if self.at_date(*at, date)? > t {
                    date = Self::step(*cadence, date, -1)?;
                }
                self.at_date(*at, date)
            }
            // `after` is exclusive; a second later makes `t` itself count.
            When::Cron(s) => s
                .after((t + jiff::SignedDuration::from_secs(1)).to_zoned(self.tz.clone()))
                .next_back()
                .map(|z| z.timestamp()),
        }
    }

    /// The first occurrence after `t`.
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.when {
            When::Calendar { cadence, at, .. } => {
                let prev = self.prev(t)?;
                let date = prev.to_zoned(self.tz.clone()).date();
                self.at_date(*at, Self::step(*cadence, date, 1)?)
            }
            When::Cron(s) => s
                .after(t.to_zoned(self.tz.clone()))
                .next()
                .map(|z| z.timestamp()),
        }
    }

    /// The schedule in words: `weekly on sun at 10:00`, `cron 0 10 * * 1`.
    pub fn describe(duty: &RecurringDuty) -> String {
        if let Some(c) = &duty.cron {
            return format!("cron {c}");
        }
        let every = match duty.every {
            Some(Cadence::Weekly) => "weekly",
            Some(Cadence::Monthly) => "monthly",
            Some(Cadence::Quarterly) => "quarterly",
            None => "?",
        };
        format!(
            "{every} on {} at {}",
            duty.day
                .as_deref()
                .unwrap_or(if every == "weekly" { "mon" } else { "1" }),
            duty.at.as_deref().unwrap_or("10:00")
        )
    }
}

/// A standard five-field cron expression (minute hour day-of-month month
/// day-of-week, 0 or 7 = Sunday) as the cron crate's seconds-first form,
/// with day-of-week numbers written as names (it counts 1 = Sunday).
fn cron(expr: &str) -> Result<jiff_cron::Schedule, ScheduleError> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return Err(ScheduleError(format!(
            "cron {expr:?} needs five fields: minute hour day-of-month month day-of-week"
        )));
    };
    const DAYS: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let name = |n: &str| -> Result<String, ScheduleError> {
        match n.parse::<usize>() {
            Ok(i) if i < DAYS.len() => Ok(DAYS[i].to_string()),
            Ok(_) => Err(ScheduleError(format!(
                "cron {expr:?}: day-of-week {n} is not 0-7"
            ))),
            Err(_) => Ok(n.to_string()),
        }
    };
    let mut parts = Vec::new();
    for part in dow.split(',') {
        let (base, step) = match part.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (part, None),
        };
        let base = match base.split_once('-') {
            Some((a, b)) => format!("{}-{}", name(a)?, name(b)?),
            None => name(base)?,
        };
        parts.push(match step {
            Some(s) => format!("{base}/{s}"),
            None => base,
        });
    }
    let full = format!("0 {minute} {hour} {dom} {month} {}", parts.join(","));
    full.parse::<jiff_cron::Schedule>()
        .map_err(|e| ScheduleError(format!("cron {expr:?} is not valid: {e}")))
}

/// Which reminder of an occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// The `i`th `remind_before`.
    Before(usize),
    /// It is due now.
    Due,
    /// No run recorded `overdue_after` past due.
    Overdue,
}

/// A reminder owed about one occurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DutyReminder {
    pub occurrence: Timestamp,
    pub kind: ReminderKind,
    pub at: Timestamp,
}

impl DutyReminder {
    /// Stable and unique per duty, occurrence and reminder: sent once.
    pub fn key(&self, duty: &str) -> String {
        let which = match self.kind {
            ReminderKind::Before(i) => format!("before-{i}"),
            ReminderKind::Due => "due".into(),
            ReminderKind::Overdue => "overdue".into(),
        };
        format!("{duty}:{}:{which}", self.occurrence.as_millisecond())
    }
}

/// The reminders of `duty` owed at `now`: before the next occurrence, each
/// `remind_before` that has come; for the last one, unless `done` says a
/// run was recorded for it, that it is due and then that it is overdue.
/// Occurrences before `since` (when the duty first appeared) are owed
/// nothing, so a new duty does not start overdue.
pub fn reminders_due(
    duty: &RecurringDuty,
    schedule: &DutySchedule,
    since: Timestamp,
    now: Timestamp,
    done: impl Fn(Timestamp) -> bool,
) -> Vec<DutyReminder> {
    let mut out = Vec::new();
    if let Some(next) = schedule.next(now) {
        for (i, before) in duty.remind_before.iter().enumerate() {
            if let Ok(at) = next.checked_sub(before.as_signed())
                && at <= now
                && at >= since
                && !done(next)
            {
                out.push(DutyReminder {
                    occurrence: next,
                    kind: ReminderKind::Before(i),
                    at,
                });
            }
        }
    }
    if let Some(prev) = schedule.prev(now)
        && prev >= since
        && !done(prev)
    {
        out.push(DutyReminder {
            occurrence: prev,
            kind: ReminderKind::Due,
            at: prev,
        });
        if let Ok(at) = prev.checked_add(duty.overdue_after.as_signed())
            && at <= now
        {
            out.push(DutyReminder {
                occurrence: prev,
                kind: ReminderKind::Overdue,
                at,
            });
        }
    }
    out
}

/// The occurrence a run recorded at `now` is for: the last one if it has
/// none yet, else the next (done early).
pub fn occurrence_for_run(
    schedule: &DutySchedule,
    since: Timestamp,
    now: Timestamp,
    done: impl Fn(Timestamp) -> bool,
) -> Option<Timestamp> {
    match schedule.prev(now) {
        Some(prev) if prev >= since && !done(prev) => Some(prev),
        _ => schedule.next(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Duration;
    use crate::policy::WorkingHours;

    fn riyadh() -> Calendar {
        Calendar {
            time_zone: "Asia/Riyadh".into(),
            working_days: vec![],
            working_hours: WorkingHours {
                start: "09:00".into(),
                end: "17:00".into(),
            },
            holidays: vec![],
        }
    }

    fn duty(every: Cadence, day: &str) -> RecurringDuty {
        RecurringDuty {
            key: "d".into(),
            every: Some(every),
            day: Some(day.into()),
            at: Some("10:00".into()),
            ..Default::default()
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn weekly_falls_on_its_weekday_at_local_time() {
        let s = DutySchedule::of(&duty(Cadence::Weekly, "sun"), &riyadh()).unwrap();
        // Wednesday 2026-12-02: the last Sunday was 11-29, 10:00 Riyadh = 07:00Z.
        let now = ts("2026-12-02T12:00:00Z");
        assert_eq!(s.prev(now), Some(ts("2026-11-29T07:00:00Z")));
        assert_eq!(s.next(now), Some(ts("2026-12-06T07:00:00Z")));
        // On the day, before and after the hour.
        assert_eq!(
            s.prev(ts("2026-12-06T06:59:00Z")),
            Some(ts("2026-11-29T07:00:00Z"))
        );
        assert_eq!(
            s.prev(ts("2026-12-06T07:00:00Z")),
            Some(ts("2026-12-06T07:00:00Z"))
        );
    }

    #[test]
    fn monthly_and_quarterly() {
        let m = DutySchedule::of(&duty(Cadence::Monthly, "1"), &riyadh()).unwrap();
        assert_eq!(
            m.prev(ts("2026-12-05T00:00:00Z")),
            Some(ts("2026-12-01T07:00:00Z"))
        );
        assert_eq!(
            m.next(ts("2026-12-05T00:00:00Z")),
            Some(ts("2027-01-01T07:00:00Z"))
        );
        assert_eq!(
            m.prev(ts("2026-12-01T06:00:00Z")),
            Some(ts("2026-11-01T07:00:00Z"))
        );
        let q = DutySchedule::of(&duty(Cadence::Quarterly, "3"), &riyadh()).unwrap();
        assert_eq!(
            q.prev(ts("2026-12-05T00:00:00Z")),
            Some(ts("2026-10-03T07:00:00Z"))
        );
        assert_eq!(
            q.next(ts("2026-12-05T00:00:00Z")),
            Some(ts("2027-01-03T07:00:00Z"))
        );
        assert_eq!(
            q.prev(ts("2026-01-02T00:00:00Z")),
            Some(ts("2025-10-03T07:00:00Z"))
        );
    }

    #[test]
    fn cron_in_the_calendars_time_zone() {
        let d = RecurringDuty {
            key: "d".into(),
            cron: Some("30 9 * * 1-5".into()),
            ..Default::default()
        };
        let s = DutySchedule::of(&d, &riyadh()).unwrap();
        // Saturday 2026-12-05 12:00Z: weekdays at 09:30 Riyadh (06:30Z).
        let now = ts("2026-12-05T12:00:00Z");
        assert_eq!(s.prev(now), Some(ts("2026-12-04T06:30:00Z")), "Friday");
        assert_eq!(s.next(now), Some(ts("2026-12-07T06:30:00Z")), "Monday");
        assert_eq!(
            s.prev(ts("2026-12-07T06:30:00Z")),
            Some(ts("2026-12-07T06:30:00Z"))
        );
        let sunday = RecurringDuty {
            cron: Some("0 10 * * 0".into()),
            ..d.clone()
        };
        let s = DutySchedule::of(&sunday, &riyadh()).unwrap();
        assert_eq!(s.next(now), Some(ts("2026-12-06T07:00:00Z")), "0 is Sunday");
        let bad = RecurringDuty {
            cron: Some("0 10 * *".into()),
            ..d
        };
        assert!(
            DutySchedule::of(&bad, &riyadh())
                .unwrap_err()
                .0
                .contains("five fields")
        );
    }

    #[test]
    fn bad_schedules_are_explained() {
        let e = DutySchedule::of(&duty(Cadence::Weekly, "funday"), &riyadh()).unwrap_err();
        assert!(e.0.contains("not a weekday"), "{e}");
        let e = DutySchedule::of(&duty(Cadence::Monthly, "31"), &riyadh()).unwrap_err();
        assert!(e.0.contains("1 to 28"), "{e}");
    }

    #[test]
    fn reminders_before_due_and_overdue_then_none_once_done() {
        let d = RecurringDuty {
            remind_before: vec![Duration::from_hours(24)],
            overdue_after: Duration::from_hours(24),
            ..duty(Cadence::Weekly, "sun")
        };
        let s = DutySchedule::of(&d, &riyadh()).unwrap();
        let since = ts("2026-11-01T00:00:00Z");
        let kinds = |now: &str, done: bool| -> Vec<(ReminderKind, Timestamp)> {
            reminders_due(&d, &s, since, ts(now), |_| done)
                .into_iter()
                .map(|r| (r.kind, r.occurrence))
                .collect()
        };
        let sunday = ts("2026-12-06T07:00:00Z");
        let last = ts("2026-11-29T07:00:00Z");
        // Saturday 08:00Z: a day before Sunday's; last week's was done.
        assert_eq!(kinds("2026-12-05T08:00:00Z", true), []);
        assert_eq!(
            kinds("2026-12-05T08:00:00Z", false),
            [
                (ReminderKind::Before(0), sunday),
                (ReminderKind::Due, last),
                (ReminderKind::Overdue, last)
            ]
        );
        // A new duty owes nothing from before it existed.
        let fresh = reminders_due(
            &d,
            &s,
            ts("2026-12-01T00:00:00Z"),
            ts("2026-12-02T00:00:00Z"),
            |_| false,
        );
        assert_eq!(fresh, []);
        assert_eq!(
            occurrence_for_run(&s, since, ts("2026-12-02T00:00:00Z"), |_| false),
            Some(last)
        );
        assert_eq!(
            occurrence_for_run(&s, since, ts("2026-12-02T00:00:00Z"), |_| true),
            Some(sunday),
            "done early"
        );
    }
}
