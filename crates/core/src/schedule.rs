//! Who is on call: pure evaluation of the policy's `[[schedules]]`.
//!
//! A schedule is a stack of layers, bottom first; at any instant the answer is
//! the person of the first active override (in slice order), else of the
//! *last* layer that has someone on call, else nobody.
//!
//! Hand-offs are civil (wall-clock) times in the schedule's zone: shift `k` of
//! a layer starts at the civil datetime `anchor + k × length` (anchor = first
//! hand-off on or after `start`), converted to an instant with jiff's
//! `to_zoned`. So a daily 09:00 hand-off stays at 09:00 local across DST, and
//! the shifts on DST days are 23 or 25 hours long. A hand-off time that does
//! not exist (spring-forward gap) or happens twice (fall-back fold) uses jiff's
//! default "compatible" disambiguation: the later instant in a gap, the
//! earlier in a fold.
//!
//! A returned shift is a stretch in which nothing changes: its bounds are the
//! nearest change points of any layer hand-off, business-hours edge (for
//! `restrictions.business_hours`) or override edge. Consecutive shifts may
//! therefore name the same person.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, ToSpan};

use crate::Timestamp;
use crate::policy::{Calendar, Policy, Rotation, Schedule, ScheduleLayer};

/// Someone taking a schedule over for a while: "Sara covers Omar from Tue
/// 18:00 to Wed 09:00". An override wins over every layer during
/// `[starts_at, ends_at)`; `covering` records whom it stands in for and does
/// not limit it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Name of the schedule (case-insensitive).
    pub schedule: String,
    pub person: String,
    pub covering: Option<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

/// Who is on call, and the stretch in which that does not change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnCall {
    /// Key of the person (in `[people]`).
    pub person: String,
    /// Name of the layer they are on call through; `None` for an override.
    pub layer: Option<String>,
    /// Start of the current shift (inclusive).
    pub since: Timestamp,
    /// End of the current shift (exclusive).
    pub until: Timestamp,
}

/// One shift of [`next_shifts`]; the same shape as [`OnCall`].
pub type Shift = OnCall;

/// Who is on call on `schedule` at `at`, with the bounds of the current
/// shift. `None` if the schedule does not exist or nobody is on call.
pub fn on_call(
    policy: &Policy,
    schedule: &str,
    at: Timestamp,
    overrides: &[Override],
) -> Option<OnCall> {
    let eval = Eval::new(policy, schedule)?;
    eval.at(at, overrides).0
}

/// The next `count` shifts on `schedule`, the first being the one in
/// progress at `from` (its `since` may be before `from`). Stretches with
/// nobody on call are skipped.
pub fn next_shifts(
    policy: &Policy,
    schedule: &str,
    from: Timestamp,
    overrides: &[Override],
    count: usize,
) -> Vec<Shift> {
    let mut shifts = Vec::with_capacity(count);
    let Some(eval) = Eval::new(policy, schedule) else {
        return shifts;
    };
    let mut t = from;
    // Every step moves `t` strictly forward; the cap only bounds gaps.
    for _ in 0..count.saturating_mul(4).saturating_add(1000) {
        if shifts.len() >= count {
            break;
        }
        let (found, until) = eval.at(t, overrides);
        shifts.extend(found);
        if until == Timestamp::MAX {
            break;
        }
        t = until;
    }
    shifts
}

/// A schedule with its strings parsed.
struct Eval<'a> {
    name: &'a str,
    layers: Vec<Layer<'a>>,
    business: Business,
}

struct Layer<'a> {
    layer: &'a ScheduleLayer,
    tz: TimeZone,
    /// The first hand-off, as a civil datetime and as an instant.
    anchor: DateTime,
    first: Timestamp,
    /// Shift length in civil seconds.
    length: i64,
}

/// A segment of a timeline: who (if anyone) and its bounds.
type Segment<T> = (Option<T>, Timestamp, Timestamp);

impl<'a> Eval<'a> {
    fn new(policy: &'a Policy, name: &str) -> Option<Eval<'a>> {
        let schedule: &Schedule = policy
            .schedules
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))?;
        let zone = schedule
            .time_zone
            .as_deref()
            .unwrap_or(&policy.calendar.time_zone);
        let tz = TimeZone::get(zone).unwrap_or(TimeZone::UTC);
        let layers = schedule
            .layers
            .iter()
            .filter_map(|l| Layer::new(l, tz.clone()))
            .collect();
        Some(Eval {
            name: &schedule.name,
            layers,
            business: Business::of(&policy.calendar),
        })
    }

    /// The answer at `t` and the end of the stretch it holds for.
    fn at(&self, t: Timestamp, overrides: &[Override]) -> (Option<OnCall>, Timestamp) {
        let mut since = Timestamp::MIN;
        let mut until = Timestamp::MAX;
        let mut answer: Option<(String, Option<String>)> = None;
        for layer in &self.layers {
            let (who, s, u) = layer.segment(t, &self.business);
            since = since.max(s);
            until = until.min(u);
            if let Some(who) = who {
                answer = Some((who.clone(), Some(layer.layer.name.clone())));
            }
        }
        let mut overridden = false;
        for o in overrides {
            if !o.schedule.eq_ignore_ascii_case(self.name) || o.starts_at >= o.ends_at {
                continue;
            }
            if t < o.starts_at {
                until = until.min(o.starts_at);
            } else if t >= o.ends_at {
                since = since.max(o.ends_at);
            } else {
                since = since.max(o.starts_at);
                until = until.min(o.ends_at);
                if !overridden {
                    overridden = true;
                    answer = Some((o.person.clone(), None));
                }
            }
        }
        let found = answer.map(|(person, layer)| OnCall {
            person,
            layer,
            since,
            until,
        });
        (found, until)
    }
}

impl<'a> Layer<'a> {
    fn new(layer: &'a ScheduleLayer, tz: TimeZone) -> Option<Layer<'a>> {
        let handoff: Time = layer.handoff.parse().ok()?;
        let mut start: Date = layer.start.parse().ok()?;
        let length = match layer.rotation? {
            Rotation::Daily => 86_400,
            Rotation::Weekly => {
                let day = layer.handoff_day.as_deref().and_then(weekday)?;
                while start.weekday() != day {
                    start = start.tomorrow().ok()?;
                }
                7 * 86_400
            }
            Rotation::Custom => layer.length?.as_secs(),
        };
        if length <= 0 || layer.participants.is_empty() {
            return None;
        }
        let anchor = start.to_datetime(handoff);
        let first = anchor.to_zoned(tz.clone()).ok()?.timestamp();
        Some(Layer {
            layer,
            tz,
            anchor,
            first,
            length,
        })
    }

    /// Start of shift `k`; `None` past the end of jiff's calendar.
    fn boundary(&self, k: i64) -> Option<Timestamp> {
        let civil = self
            .anchor
            .checked_add(SignedDuration::from_secs(k.checked_mul(self.length)?))
            .ok()?;
        Some(civil.to_zoned(self.tz.clone()).ok()?.timestamp())
    }

    /// Who this layer has on call at `t`, and the bounds of that.
    fn segment(&self, t: Timestamp, business: &Business) -> Segment<&'a String> {
        if t < self.first {
            return (None, Timestamp::MIN, self.first);
        }
        let mut k = t.duration_since(self.first).as_secs() / self.length;
        // The real length of a shift differs from `length` by at most a DST
        // change, so these loops run a step or two.
        while k > 0 && self.boundary(k).is_none_or(|b| b > t) {
            k -= 1;
        }
        while self.boundary(k + 1).is_some_and(|b| b <= t) {
            k += 1;
        }
        let since = self.boundary(k).unwrap_or(self.first);
        let until = self.boundary(k + 1).unwrap_or(Timestamp::MAX);
        let n = self.layer.participants.len() as i64;
        let who = &self.layer.participants[k.rem_euclid(n) as usize];
        if !self
            .layer
            .restrictions
            .as_ref()
            .is_some_and(|r| r.business_hours)
        {
            return (Some(who), since, until);
        }
        let (open, s, u) = business.segment(t);
        (open.map(|()| who), since.max(s), until.min(u))
    }
}

/// The calendar's business hours as a timeline of open and closed stretches.
struct Business {
    calendar: Calendar,
    tz: TimeZone,
    start: Time,
    end: Time,
}

/// How far to look for the previous or next business day.
const BUSINESS_SEARCH_DAYS: i32 = 400;

impl Business {
    fn of(calendar: &Calendar) -> Business {
        let tz = TimeZone::get(&calendar.time_zone).unwrap_or(TimeZone::UTC);
        let time = |s: &str, default: Time| s.parse().unwrap_or(default);
        let mut start = time(&calendar.working_hours.start, Time::constant(9, 0, 0, 0));
        let mut end = time(&calendar.working_hours.end, Time::constant(17, 0, 0, 0));
        if start >= end {
            (start, end) = (Time::constant(9, 0, 0, 0), Time::constant(17, 0, 0, 0));
        }
        Business {
            calendar: calendar.clone(),
            tz,
            start,
            end,
        }
    }

    fn instant(&self, date: Date, time: Time) -> Option<Timestamp> {
        Some(
            date.to_datetime(time)
                .to_zoned(self.tz.clone())
                .ok()?
                .timestamp(),
        )
    }

    /// Hours of `date` if it is a business day: `[open, close)`.
    fn hours(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.calendar.is_business_day(date) {
            return None;
        }
        Some((
            self.instant(date, self.start)?,
            self.instant(date, self.end)?,
        ))
    }

    /// `Some(())` while open, with the bounds of the open or closed stretch.
    fn segment(&self, t: Timestamp) -> Segment<()> {
        let today = t.to_zoned(self.tz.clone()).date();
        if let Some((open, close)) = self.hours(today)
            && open <= t
            && t < close
        {
            return (Some(()), open, close);
        }
        let days = |step: i32| {
            (0..BUSINESS_SEARCH_DAYS).filter_map(move |i| today.checked_add((i * step).days()).ok())
        };
        let since = days(-1)
            .filter_map(|d| self.hours(d))
            .map(|(_, close)| close)
            .find(|close| *close <= t)
            .unwrap_or(Timestamp::MIN);
        let until = days(1)
            .filter_map(|d| self.hours(d))
            .map(|(open, _)| open)
            .find(|open| *open > t)
            .unwrap_or(Timestamp::MAX);
        (None, since, until)
    }
}

/// `mon`..`sun` (any case) → weekday.
fn weekday(name: &str) -> Option<Weekday> {
    use Weekday::*;
    let days = [
        ("mon", Monday),
        ("tue", Tuesday),
        ("wed", Wednesday),
        ("thu", Thursday),
        ("fri", Friday),
        ("sat", Saturday),
        ("sun", Sunday),
    ];
    days.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &str) -> Policy {
        let src = format!(
            "[[severities]]\nname = \"P0\"\n[calendar]\ntime_zone = \"America/New_York\"\n{extra}"
        );
        Policy::parse(&src, "p.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
    }

    const DAILY: &str = r#"
[[schedules]]
name = "primary"
[[schedules.layers]]
name = "daily"
rotation = "daily"
handoff = "09:00"
start = "2026-03-01"
participants = ["omar", "sara", "lina"]
"#;

    #[test]
    fn daily_handoff_stays_at_nine_local_across_dst() {
        let p = policy(DAILY);
        // 2026-03-08 is the US spring-forward day: 09:00 EST on the 7th is
        // 14:00Z, 09:00 EDT on the 8th is 13:00Z — a 23-hour shift.
        let shift = on_call(&p, "primary", ts("2026-03-07T20:00:00Z"), &[]).expect("on call");
        assert_eq!(shift.since, ts("2026-03-07T14:00:00Z"));
        assert_eq!(shift.until, ts("2026-03-08T13:00:00Z"));
        // Day index 6 since 2026-03-01 → participants[6 % 3] = omar.
        assert_eq!(shift.person, "omar");
        assert_eq!(shift.layer.as_deref(), Some("daily"));
    }

    #[test]
    fn nobody_before_the_rotation_starts_or_on_unknown_schedules() {
        let p = policy(DAILY);
        assert_eq!(
            on_call(&p, "primary", ts("2026-03-01T13:59:59Z"), &[]),
            None
        );
        assert_eq!(on_call(&p, "nope", ts("2026-04-01T00:00:00Z"), &[]), None);
        let first = on_call(&p, "PRIMARY", ts("2026-03-01T14:00:00Z"), &[]).expect("on call");
        assert_eq!(first.person, "omar");
    }

    #[test]
    fn an_override_wins_inside_its_window_only() {
        let p = policy(DAILY);
        let cover = Override {
            schedule: "primary".into(),
            person: "sara".into(),
            covering: Some("omar".into()),
            starts_at: ts("2026-03-03T23:00:00Z"),
            ends_at: ts("2026-03-04T14:00:00Z"),
        };
        let during = on_call(
            &p,
            "primary",
            ts("2026-03-04T02:00:00Z"),
            std::slice::from_ref(&cover),
        )
        .expect("on call");
        assert_eq!(
            (
                during.person.as_str(),
                during.layer,
                during.since,
                during.until
            ),
            ("sara", None, cover.starts_at, cover.ends_at)
        );
        let before = on_call(
            &p,
            "primary",
            ts("2026-03-03T22:00:00Z"),
            std::slice::from_ref(&cover),
        )
        .expect("on call");
        assert_eq!(
            before.until, cover.starts_at,
            "the shift is cut by the override"
        );
        let after = on_call(&p, "primary", cover.ends_at, &[cover]).expect("on call");
        assert_eq!(after.layer.as_deref(), Some("daily"));
    }

    #[test]
    fn a_later_layer_wins_where_it_has_someone() {
        let p = policy(&format!(
            "{DAILY}\n[[schedules.layers]]\nname = \"office\"\nrotation = \"weekly\"\nhandoff = \"09:00\"\nhandoff_day = \"mon\"\nstart = \"2026-03-01\"\nparticipants = [\"ceo\"]\nrestrictions = {{ business_hours = true }}\n"
        ));
        // Tuesday 2026-03-10 10:00 EDT = 14:00Z: business hours → the office layer.
        let day = on_call(&p, "primary", ts("2026-03-10T14:00:00Z"), &[]).expect("on call");
        assert_eq!(
            (day.person.as_str(), day.layer.as_deref()),
            ("ceo", Some("office"))
        );
        assert_eq!(day.until, ts("2026-03-10T21:00:00Z"), "closes at 17:00");
        // 20:00 local → the daily layer again.
        let night = on_call(&p, "primary", ts("2026-03-11T00:00:00Z"), &[]).expect("on call");
        assert_eq!(night.layer.as_deref(), Some("daily"));
        assert_eq!(night.since, ts("2026-03-10T21:00:00Z"));
    }

    #[test]
    fn custom_twelve_hour_shifts_and_next_shifts_tile() {
        let p = policy(
            r#"
[[schedules]]
name = "halves"
time_zone = "UTC"
[[schedules.layers]]
name = "halves"
rotation = "custom"
length = "12h"
handoff = "08:00"
start = "2026-01-01"
participants = ["a", "b"]
"#,
        );
        let shifts = next_shifts(&p, "halves", ts("2026-01-02T09:00:00Z"), &[], 3);
        let got: Vec<_> = shifts
            .iter()
            .map(|s| (s.person.as_str(), s.since.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "2026-01-02T08:00:00Z".to_string()),
                ("b", "2026-01-02T20:00:00Z".to_string()),
                ("a", "2026-01-03T08:00:00Z".to_string()),
            ]
        );
    }

    #[test]
    fn weekday_names() {
        assert_eq!(weekday("Mon"), Some(Weekday::Monday));
        assert_eq!(weekday("monday"), None);
    }
}
