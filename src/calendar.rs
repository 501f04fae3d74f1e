//! The business calendar SLA time runs on: working days, working hours and holidays in the
//! helpdesk's time zone. A target of "4h" for a P3 ticket means four working hours; a ticket
//! that arrives on Friday at 16:00 with a 4-hour target is due on Monday at 11:00.
//!
//! Everything works on local dates and converts each working window's boundaries to UTC, so
//! zones with daylight saving time come out right: a window is always "08:00 to 17:00 on the
//! wall clock", however many real hours that is on the day the clocks change.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

/// `[calendar]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Days the helpdesk works: "mon" ... "sun".
    #[serde(default = "default_days")]
    pub working_days: Vec<String>,
    /// Start of the working day, local "HH:MM".
    #[serde(default = "default_start")]
    pub start: String,
    /// End of the working day, local "HH:MM".
    #[serde(default = "default_end")]
    pub end: String,
    /// Dates ("YYYY-MM-DD") on which nobody works.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// A file with more holidays, one date per line ("#" starts a comment).
    #[serde(default)]
    pub holidays_file: Option<std::path::PathBuf>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig {
            working_days: default_days(),
            start: default_start(),
            end: default_end(),
            holidays: vec![],
            holidays_file: None,
        }
    }
}

fn default_days() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| d.to_string())
        .collect()
}
fn default_start() -> String {
    "08:00".into()
}
fn default_end() -> String {
    "17:00".into()
}

/// A validated calendar, ready for arithmetic.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: Tz,
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    holidays: BTreeSet<NaiveDate>,
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" | "sen" | "senin" => Weekday::Mon,
        "tue" | "tuesday" | "sel" | "selasa" => Weekday::Tue,
        "wed" | "wednesday" | "rab" | "rabu" => Weekday::Wed,
        "thu" | "thursday" | "kam" | "kamis" => Weekday::Thu,
        "fri" | "friday" | "jum" | "jumat" => Weekday::Fri,
        "sat" | "saturday" | "sab" | "sabtu" => Weekday::Sat,
        "sun" | "sunday" | "min" | "minggu" => Weekday::Sun,
        _ => return None,
    })
}

impl Calendar {
    /// Builds the calendar; an error names the key and what is wrong with it.
    pub fn new(cfg: &CalendarConfig, tz: Tz) -> Result<Calendar, (String, String)> {
        let mut days = [false; 7];
        for (i, d) in cfg.working_days.iter().enumerate() {
            let w = weekday(d).ok_or_else(|| {
                (
                    format!("calendar.working_days[{i}]"),
                    format!("`{d}` is not a day (use mon, tue, wed, thu, fri, sat, sun)"),
                )
            })?;
            days[w.num_days_from_monday() as usize] = true;
        }
        let time = |key: &str, v: &str| {
            NaiveTime::parse_from_str(v.trim(), "%H:%M").map_err(|_| {
                (
                    format!("calendar.{key}"),
                    format!("`{v}` is not a time like \"08:00\""),
                )
            })
        };
        let start = time("start", &cfg.start)?;
        let end = time("end", &cfg.end)?;
        if end <= start {
            return Err((
                "calendar.end".into(),
                format!("must be later than calendar.start ({})", cfg.start),
            ));
        }
        if !days.iter().any(|d| *d) {
            return Err((
                "calendar.working_days".into(),
                "needs at least one day".into(),
            ));
        }
        let mut holidays = BTreeSet::new();
        let date = |key: String, v: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| (key, format!("`{v}` is not a date like \"2026-12-25\"")))
        };
        for (i, h) in cfg.holidays.iter().enumerate() {
            holidays.insert(date(format!("calendar.holidays[{i}]"), h)?);
        }
        if let Some(path) = &cfg.holidays_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                (
                    "calendar.holidays_file".to_string(),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                // "2026-12-25 Natal": the date first, a name may follow.
                let first = line.split_whitespace().next().unwrap_or(line);
                holidays.insert(date(
                    format!("calendar.holidays_file ({} line {})", path.display(), n + 1),
                    first,
                )?);
            }
        }
        Ok(Calendar {
            tz,
            days,
            start,
            end,
            holidays,
        })
    }

    /// Around the clock, every day: for priorities whose clock runs 24x7, and for tests.
    pub fn always(tz: Tz) -> Calendar {
        Calendar {
            tz,
            days: [true; 7],
            start: NaiveTime::MIN,
            end: NaiveTime::MIN,
            holidays: BTreeSet::new(),
        }
    }

    fn is_always(&self) -> bool {
        self.start == self.end
    }

    fn works_on(&self, d: NaiveDate) -> bool {
        self.days[d.weekday().num_days_from_monday() as usize] && !self.holidays.contains(&d)
    }

    /// A local wall-clock moment as UTC. In a DST gap the wall time does not exist: the first
    /// moment after the gap is used; in an overlap, the earlier of the two.
    fn utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let mut probe = local;
        for _ in 0..4 {
            if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                return t.with_timezone(&Utc);
            }
            probe += chrono::Duration::minutes(30);
        }
        // No zone has a gap longer than two hours; treat the wall time as UTC rather than fail.
        Utc.from_utc_datetime(&local)
    }

    /// The working window of local date `d`, in UTC, if `d` is a working day.
    fn window(&self, d: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.works_on(d) {
            return None;
        }
        Some((
            self.utc(d.and_time(self.start)),
            self.utc(d.and_time(self.end)),
        ))
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The moment `dur` of working time after `start`.
    pub fn add(&self, start: DateTime<Utc>, dur: Duration) -> DateTime<Utc> {
        let Ok(mut left) = chrono::Duration::from_std(dur) else {
            return DateTime::<Utc>::MAX_UTC;
        };
        if self.is_always() || left.is_zero() {
            return start
                .checked_add_signed(left)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        }
        let mut date = self.local_date(start);
        // Ten years without a working day would be a broken calendar; stop rather than spin.
        for _ in 0..3660 {
            if let Some((ws, we)) = self.window(date) {
                let from = ws.max(start);
                if from < we {
                    let avail = we - from;
                    if left <= avail {
                        return from + left;
                    }
                    left -= avail;
                }
            }
            date = date.succ_opt().unwrap_or(date);
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// Working time between `a` and `b` (zero when `b` is not after `a`).
    pub fn between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::ZERO;
        }
        if self.is_always() {
            return (b - a).to_std().unwrap_or(Duration::ZERO);
        }
        let mut total = chrono::Duration::zero();
        let mut date = self.local_date(a);
        let last = self.local_date(b);
        while date <= last {
            if let Some((ws, we)) = self.window(date) {
                let from = ws.max(a);
                let to = we.min(b);
                if to > from {
                    total += to - from;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total.to_std().unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jakarta() -> Calendar {
        let cfg = CalendarConfig {
            holidays: vec!["2026-12-25".into()],
            ..CalendarConfig::default()
        };
        Calendar::new(&cfg, chrono_tz::Asia::Jakarta).expect("calendar")
    }

    /// Local Jakarta time (UTC+7, no DST) as UTC.
    fn wib(s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time");
        chrono_tz::Asia::Jakarta
            .from_local_datetime(&naive)
            .single()
            .expect("unambiguous")
            .with_timezone(&Utc)
    }

    const H: u64 = 3600;

    #[test]
    fn within_one_working_day() {
        let c = jakarta();
        assert_eq!(
            c.add(wib("2026-11-23 09:00"), Duration::from_secs(4 * H)),
            wib("2026-11-23 13:00")
        );
    }

    #[test]
    fn end_of_day_carries_to_the_next_morning() {
        let c = jakarta();
        assert_eq!(
            c.add(wib("2026-11-23 16:00"), Duration::from_secs(4 * H)),
            wib("2026-11-24 11:00")
        );
    }

    #[test]
    fn friday_afternoon_carries_over_the_weekend() {
        let c = jakarta();
        // Friday 27 Nov 2026, 16:00 + 4h -> Monday 30 Nov 11:00.
        assert_eq!(
            c.add(wib("2026-11-27 16:00"), Duration::from_secs(4 * H)),
            wib("2026-11-30 11:00")
        );
    }

    #[test]
    fn before_opening_and_on_weekends_the_clock_waits() {
        let c = jakarta();
        assert_eq!(
            c.add(wib("2026-11-23 06:00"), Duration::from_secs(H)),
            wib("2026-11-23 09:00")
        );
        assert_eq!(
            c.add(wib("2026-11-28 10:00"), Duration::from_secs(H)),
            wib("2026-11-30 09:00")
        );
    }

    #[test]
    fn holidays_are_skipped() {
        let c = jakarta();
        // Thursday 24 Dec 16:00 + 2h: Friday 25 Dec is a holiday, then the weekend.
        assert_eq!(
            c.add(wib("2026-12-24 16:00"), Duration::from_secs(2 * H)),
            wib("2026-12-28 09:00")
        );
    }

    #[test]
    fn between_counts_only_working_time() {
        let c = jakarta();
        assert_eq!(
            c.between(wib("2026-11-27 16:00"), wib("2026-11-30 11:00")),
            Duration::from_secs(4 * H)
        );
        assert_eq!(
            c.between(wib("2026-11-28 10:00"), wib("2026-11-29 10:00")),
            Duration::ZERO
        );
        assert_eq!(
            c.between(wib("2026-11-30 11:00"), wib("2026-11-27 16:00")),
            Duration::ZERO
        );
    }

    #[test]
    fn add_and_between_agree() {
        let c = jakarta();
        let start = wib("2026-11-20 15:37");
        for hours in [1, 3, 9, 17, 48] {
            let end = c.add(start, Duration::from_secs(hours * H));
            assert_eq!(
                c.between(start, end),
                Duration::from_secs(hours * H),
                "{hours}h"
            );
        }
    }

    #[test]
    fn around_the_clock() {
        let c = Calendar::always(chrono_tz::Asia::Jakarta);
        assert_eq!(
            c.add(wib("2026-11-28 23:00"), Duration::from_secs(2 * H)),
            wib("2026-11-29 01:00")
        );
        assert_eq!(
            c.between(wib("2026-11-28 23:00"), wib("2026-11-29 01:00")),
            Duration::from_secs(2 * H)
        );
    }

    #[test]
    fn daylight_saving_days_keep_wall_clock_windows() {
        // Amsterdam switches to summer time on Sunday 29 March 2026; work on Sat and Sun too,
        // so the short day is a working day: 08:00-17:00 local is still nine working hours.
        let cfg = CalendarConfig {
            working_days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .map(String::from)
                .to_vec(),
            ..CalendarConfig::default()
        };
        let c = Calendar::new(&cfg, chrono_tz::Europe::Amsterdam).expect("calendar");
        let local = |s: &str| {
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time");
            chrono_tz::Europe::Amsterdam
                .from_local_datetime(&naive)
                .single()
                .expect("unambiguous")
                .with_timezone(&Utc)
        };
        assert_eq!(
            c.add(local("2026-03-28 16:00"), Duration::from_secs(2 * H)),
            local("2026-03-29 09:00")
        );
        assert_eq!(
            c.between(local("2026-03-29 08:00"), local("2026-03-29 17:00")),
            Duration::from_secs(9 * H)
        );
        // Autumn: 25 October 2026, clocks go back; the window is still 08:00-17:00 local.
        assert_eq!(
            c.add(local("2026-10-24 16:30"), Duration::from_secs(H)),
            local("2026-10-25 08:30")
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut cfg = CalendarConfig::default();
        cfg.working_days.push("funday".into());
        let (key, _) = Calendar::new(&cfg, chrono_tz::Asia::Jakarta).expect_err("bad day");
        assert_eq!(key, "calendar.working_days[5]");
        let cfg = CalendarConfig {
            start: "17:00".into(),
            end: "08:00".into(),
            ..CalendarConfig::default()
        };
        assert_eq!(
            Calendar::new(&cfg, chrono_tz::Asia::Jakarta)
                .expect_err("bad end")
                .0,
            "calendar.end"
        );
        let cfg = CalendarConfig {
            holidays: vec!["25-12-2026".into()],
            ..CalendarConfig::default()
        };
        assert_eq!(
            Calendar::new(&cfg, chrono_tz::Asia::Jakarta)
                .expect_err("bad date")
                .0,
            "calendar.holidays[0]"
        );
    }
}
