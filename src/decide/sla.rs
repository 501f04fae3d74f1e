//! SLA timers: when a ticket's response and resolution are due, when the clock pauses, and which
//! warning or breach step is due now. Pure: the ticket, its targets, the calendar and the time
//! go in; deadlines and steps come out. The scheduler records each step once (`sla_steps`) and
//! sends what it causes.
//!
//! Response is met by the first public technician answer or status change (the ticket's
//! `first_response_at`); resolution by reaching resolved. Both clocks pause while the ticket
//! waits on the requester or on an approval: at the pause the working time left is kept, and at
//! the resume the deadline moves to "now plus what was left".

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::calendar::Calendar;
use crate::model::{Status, Ticket};

pub use crate::model::Targets;

/// Statuses during which the SLA clock stands still.
pub fn is_paused_status(status: Status) -> bool {
    matches!(status, Status::Waiting | Status::AwaitingApproval)
}

/// Deadlines and pause state as stored on the ticket (the ticket's SLA clock).
pub use crate::model::SlaClock as Clock;

fn calendar_for<'a>(cal: &'a Calendar, always: &'a Calendar, t: &Targets) -> &'a Calendar {
    if t.always_on { always } else { cal }
}

/// Deadlines for a ticket whose clock starts at `start` (its creation, or a priority change).
pub fn deadlines(start: DateTime<Utc>, t: &Targets, cal: &Calendar) -> Clock {
    let always = Calendar::always(cal.tz);
    let c = calendar_for(cal, &always, t);
    Clock {
        response_due: Some(c.add(start, t.response)),
        resolution_due: Some(c.add(start, t.resolution)),
        paused_at: None,
    }
}

/// The clock after a status change from `from` to `to` at `now`: paused on entering a waiting
/// status, resumed (deadlines moved by the paused time) on leaving it.
pub fn on_status(
    clock: Clock,
    from: Status,
    to: Status,
    now: DateTime<Utc>,
    t: &Targets,
    cal: &Calendar,
) -> Clock {
    let always = Calendar::always(cal.tz);
    let c = calendar_for(cal, &always, t);
    match (is_paused_status(from), is_paused_status(to)) {
        (false, true) => Clock {
            paused_at: Some(now),
            ..clock
        },
        (true, false) => {
            let Some(paused_at) = clock.paused_at else {
                return clock;
            };
            // What was left of each target when the clock stopped, counted from now.
            let shift = |due: Option<DateTime<Utc>>| {
                due.map(|d| {
                    let left = c.between(paused_at, d);
                    if d <= paused_at { d } else { c.add(now, left) }
                })
            };
            Clock {
                response_due: shift(clock.response_due),
                resolution_due: shift(clock.resolution_due),
                paused_at: None,
            }
        }
        _ => clock,
    }
}

/// A step on the SLA ladder. Its `key` is what `sla_steps` records, once per ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ResponseWarning,
    ResponseBreach,
    ResolutionWarning,
    ResolutionBreach,
}

impl Step {
    pub fn key(self) -> &'static str {
        match self {
            Step::ResponseWarning => "response_warning",
            Step::ResponseBreach => "response_breach",
            Step::ResolutionWarning => "resolution_warning",
            Step::ResolutionBreach => "resolution_breach",
        }
    }

    pub fn is_breach(self) -> bool {
        matches!(self, Step::ResponseBreach | Step::ResolutionBreach)
    }

    pub fn target(self) -> &'static str {
        match self {
            Step::ResponseWarning | Step::ResponseBreach => "response",
            Step::ResolutionWarning | Step::ResolutionBreach => "resolution",
        }
    }
}

/// The steps due at `now` (already-recorded ones are filtered out by the caller). A breach makes
/// its warning pointless, so only the breach is returned then.
pub fn due_steps(
    ticket: &Ticket,
    clock: &Clock,
    t: &Targets,
    warn_at: f64,
    now: DateTime<Utc>,
    cal: &Calendar,
) -> Vec<Step> {
    if clock.paused_at.is_some() || ticket.status.is_done() {
        return vec![];
    }
    let always = Calendar::always(cal.tz);
    let c = calendar_for(cal, &always, t);
    let mut steps = Vec::new();
    let mut check = |due: Option<DateTime<Utc>>, target: Duration, warn: Step, breach: Step| {
        let Some(due) = due else { return };
        if now >= due {
            steps.push(breach);
        } else {
            // Warn once the working time left is at most (1 - warn_at) of the target.
            let left = c.between(now, due);
            if left.as_secs_f64() <= target.as_secs_f64() * (1.0 - warn_at) {
                steps.push(warn);
            }
        }
    };
    if ticket.first_response_at.is_none() {
        check(
            clock.response_due,
            t.response,
            Step::ResponseWarning,
            Step::ResponseBreach,
        );
    }
    check(
        clock.resolution_due,
        t.resolution,
        Step::ResolutionWarning,
        Step::ResolutionBreach,
    );
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::CalendarConfig;

    const MIN: u64 = 60;

    fn cal() -> Calendar {
        Calendar::new(&CalendarConfig::default(), chrono_tz::Asia::Jakarta).expect("calendar")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn ticket(status: &str) -> Ticket {
        crate::fixtures::ticket(status.parse().expect("a status"))
    }

    const P3: Targets = Targets {
        response: Duration::from_secs(240 * MIN),
        resolution: Duration::from_secs(48 * 60 * MIN),
        always_on: false,
    };
    const P1: Targets = Targets {
        response: Duration::from_secs(15 * MIN),
        resolution: Duration::from_secs(240 * MIN),
        always_on: true,
    };

    #[test]
    fn business_and_round_the_clock_deadlines() {
        // Monday 23 Nov 2026 09:00 WIB = 02:00 UTC.
        let c = deadlines(at("2026-11-23T02:00:00Z"), &P3, &cal());
        assert_eq!(c.response_due, Some(at("2026-11-23T06:00:00Z")));
        // Saturday 23:00 WIB, P1 24x7: due 15 minutes later, on a Saturday night.
        let c = deadlines(at("2026-11-28T16:00:00Z"), &P1, &cal());
        assert_eq!(c.response_due, Some(at("2026-11-28T16:15:00Z")));
    }

    #[test]
    fn waiting_pauses_and_resumes_with_the_time_left() {
        let cal = cal();
        let start = at("2026-11-23T02:00:00Z"); // Mon 09:00 WIB, response due 13:00 WIB.
        let c = deadlines(start, &P3, &cal);
        // Paused at 10:00 WIB with 3h left; resumed next day 09:00 WIB -> due 12:00 WIB.
        let paused = on_status(
            c,
            Status::InProgress,
            Status::Waiting,
            at("2026-11-23T03:00:00Z"),
            &P3,
            &cal,
        );
        assert!(paused.paused_at.is_some());
        let resumed = on_status(
            paused,
            Status::Waiting,
            Status::InProgress,
            at("2026-11-24T02:00:00Z"),
            &P3,
            &cal,
        );
        assert_eq!(resumed.response_due, Some(at("2026-11-24T05:00:00Z")));
        assert_eq!(resumed.paused_at, None);
        // No steps while paused.
        assert!(
            due_steps(
                &ticket("waiting"),
                &paused,
                &P3,
                0.75,
                at("2026-11-30T00:00:00Z"),
                &cal
            )
            .is_empty()
        );
    }

    #[test]
    fn warning_then_breach() {
        let cal = cal();
        let c = deadlines(at("2026-11-23T02:00:00Z"), &P3, &cal);
        let t = ticket("open");
        // 2h in: nothing. 3h in (75%): response warning. 4h: breach.
        assert!(due_steps(&t, &c, &P3, 0.75, at("2026-11-23T04:00:00Z"), &cal).is_empty());
        assert_eq!(
            due_steps(&t, &c, &P3, 0.75, at("2026-11-23T05:00:00Z"), &cal),
            vec![Step::ResponseWarning]
        );
        assert_eq!(
            due_steps(&t, &c, &P3, 0.75, at("2026-11-23T06:00:00Z"), &cal),
            vec![Step::ResponseBreach]
        );
        // Answered in time: the response clock is done, resolution still runs.
        let mut answered = t.clone();
        answered.first_response_at = Some(at("2026-11-23T03:00:00Z"));
        assert!(due_steps(&answered, &c, &P3, 0.75, at("2026-11-23T06:00:00Z"), &cal).is_empty());
        // Resolved tickets have no steps.
        assert!(
            due_steps(
                &ticket("resolved"),
                &c,
                &P3,
                0.75,
                at("2026-12-30T00:00:00Z"),
                &cal
            )
            .is_empty()
        );
    }
}
