//! The digest's numbers, counted from rows the store returned: pure functions of the rows, the
//! period, the scope and "now", so a test can check every figure against a seeded store.
//!
//! Definitions (what a manager reads is exactly this):
//! - A ticket is *open* (in the backlog) until it is resolved, closed or rejected.
//! - *Resolved* counts the tickets with a status change to `resolved` in the period; *reopened*
//!   the tickets with a change from `resolved` back to work (not the automatic `resolved ->
//!   closed`); *closed* the tickets whose status is `closed` and whose closure falls in the
//!   period. Each ticket counts once per figure.
//! - SLA: every target is decided once, at one moment: *met* when the response (resolution)
//!   came by its deadline, at that moment; *breached* at the deadline itself, when it passed
//!   without one. A period counts the targets decided in it. A target whose deadline is NULL
//!   counts as *no target* (in the period of its response or resolution), never as met or
//!   breached. A clock that was paused (waiting, awaiting-approval) before its deadline is not
//!   breached while it stays paused: the deadline moves when it resumes. A ticket closed
//!   without resolution counts its closure as the resolution; a rejected one has none.
//! - *Near breach*: an open ticket whose clock runs and whose next deadline is still ahead, by
//!   no more than a quarter of the target's span (creation to deadline) or one hour, whichever
//!   is longer, so a 15-minute P1 target shows up for its whole last hour and a two-day P3 one
//!   for its last half day.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::Status;
use crate::store::reports::{DigestTicket, PendingApproval, StatusEvent};

/// Days in the trend chart, ending with the digest's last day.
pub const TREND_DAYS: i64 = 14;
/// A deadline is "near" within this share of its target's span ...
pub const NEAR_SHARE: f64 = 0.25;
/// ... or within this many minutes, whichever is longer.
pub const NEAR_MINUTES: i64 = 60;
/// How many of the oldest open tickets are listed.
pub const OLDEST_SHOWN: usize = 5;
/// How many near-breach tickets and pending approvals are listed (all are counted).
pub const LIST_SHOWN: usize = 10;

/// Which categories a digest counts: `"*"` is every ticket; otherwise a ticket counts when its
/// category is listed (case-insensitive), and an uncategorised ticket never does.
#[derive(Debug, Clone)]
pub struct Scope {
    all: bool,
    categories: Vec<String>,
}

impl Scope {
    pub fn all() -> Scope {
        Scope {
            all: true,
            categories: vec![],
        }
    }

    pub fn new(categories: &[String]) -> Scope {
        let categories: Vec<String> = categories
            .iter()
            .map(|c| c.trim().to_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        Scope {
            all: categories.iter().any(|c| c == "*"),
            categories,
        }
    }

    pub fn covers(&self, category: Option<&str>) -> bool {
        self.all
            || category.is_some_and(|c| {
                let c = c.trim();
                self.categories.iter().any(|s| same_category(s, c))
            })
    }

    /// Whether a technician taking `categories` works on tickets this scope counts.
    pub fn overlaps(&self, categories: &[String]) -> bool {
        self.all
            || categories
                .iter()
                .any(|c| c.trim() == "*" || self.covers(Some(c)))
    }
}

/// Case-insensitive, without allocating in the common (ASCII) case: this runs per ticket.
fn same_category(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// The stretch of local days a digest reports on: `[first_day, last_day]`, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl Period {
    /// The days a digest sent on `date` covers: from the previous digest day (the closest
    /// earlier day of `weekdays`, Monday first) up to the day before `date`. With every day
    /// configured that is yesterday; with Monday to Friday, Monday's digest covers Friday to
    /// Sunday, so no day goes unreported.
    pub fn before(date: NaiveDate, weekdays: &[bool; 7]) -> Period {
        let last_day = date.pred_opt().unwrap_or(date);
        let mut first_day = date - Duration::days(7);
        for back in 1..=7 {
            let d = date - Duration::days(back);
            if weekdays[d.weekday().num_days_from_monday() as usize] {
                first_day = d;
                break;
            }
        }
        Period {
            first_day,
            last_day,
        }
    }

    pub fn days(&self) -> i64 {
        (self.last_day - self.first_day).num_days() + 1
    }
}

/// The first moment of local date `d` in `tz`, as UTC. Where midnight does not exist (a DST
/// gap), the first moment after the gap.
pub fn local_midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let mut probe = d.and_time(chrono::NaiveTime::MIN);
    for _ in 0..8 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN))
}

/// How one SLA target of one ticket turned out, as of "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done by the deadline, at this moment.
    Met(DateTime<Utc>),
    /// The deadline (this moment) passed without it.
    Breached(DateTime<Utc>),
    /// No deadline applies; done at this moment, if done.
    NoTarget(Option<DateTime<Utc>>),
    /// The deadline is ahead, or the clock stands still before it.
    Running,
    /// The ticket ended (closed, rejected) before the deadline without it: nothing to judge.
    Ended,
}

/// `due`: the deadline; `done`: when the target was reached; `ended`: when the ticket stopped
/// (closed, rejected); `paused`: since when the clock stands still.
pub fn outcome(
    due: Option<DateTime<Utc>>,
    done: Option<DateTime<Utc>>,
    ended: Option<DateTime<Utc>>,
    paused: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Outcome {
    let Some(due) = due else {
        return Outcome::NoTarget(done);
    };
    match done {
        Some(d) if d <= due => Outcome::Met(d),
        Some(_) => Outcome::Breached(due),
        None if ended.is_some_and(|e| e <= due) => Outcome::Ended,
        None if paused.is_some_and(|p| p <= due) => Outcome::Running,
        None if now > due => Outcome::Breached(due),
        None => Outcome::Running,
    }
}

/// Not yet resolved; a status unknown here (a newer Loket's) counts as open.
pub fn is_open(status: &str) -> bool {
    status.parse::<Status>().map_or(true, |s| s.is_active())
}

/// The response target of `t`.
pub fn response_outcome(t: &DigestTicket, now: DateTime<Utc>) -> Outcome {
    outcome(
        t.response_due_at,
        t.first_response_at,
        t.closed_at,
        t.sla_paused_at,
        now,
    )
}

/// The resolution target of `t`: resolved, or closed without a resolution.
pub fn resolution_outcome(t: &DigestTicket, now: DateTime<Utc>) -> Outcome {
    let done = t.resolved_at.or(if t.status == Status::Closed.as_str() {
        t.closed_at
    } else {
        None
    });
    outcome(t.resolution_due_at, done, t.closed_at, t.sla_paused_at, now)
}

/// "from -> to[: note]" as (from, to). The note may contain anything, so only the part before
/// the first colon is read; statuses contain neither colons nor spaces.
pub fn status_change(detail: &str) -> Option<(&str, &str)> {
    let head = detail.split(':').next().unwrap_or(detail);
    let (from, to) = head.split_once("->")?;
    Some((from.trim(), to.trim()))
}

fn is_resolution(detail: &str) -> bool {
    status_change(detail).is_some_and(|(_, to)| to.parse() == Ok(Status::Resolved))
}

fn is_reopen(detail: &str) -> bool {
    status_change(detail).is_some_and(|(from, to)| {
        from.parse() == Ok(Status::Resolved) && to.parse::<Status>().map_or(true, |s| !s.is_done())
    })
}

/// Met, breached and no-target counts of one kind of target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaLine {
    pub met: usize,
    pub breached: usize,
    pub no_target: usize,
}

impl SlaLine {
    /// Share met of the targets decided, in percent; None when none was.
    pub fn met_percent(&self) -> Option<f64> {
        let judged = self.met + self.breached;
        (judged > 0).then(|| self.met as f64 * 100.0 / judged as f64)
    }

    fn count(&mut self, o: Outcome, from: DateTime<Utc>, to: DateTime<Utc>) {
        let within = |t: DateTime<Utc>| t >= from && t < to;
        match o {
            Outcome::Met(t) if within(t) => self.met += 1,
            Outcome::Breached(t) if within(t) => self.breached += 1,
            Outcome::NoTarget(Some(t)) if within(t) => self.no_target += 1,
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    pub new: usize,
    pub resolved: usize,
    pub closed: usize,
    pub reopened: usize,
    /// New tickets whose requester got no acknowledgement (a suspected loop, the backstop).
    pub acks_held: usize,
}

/// One bucket of the backlog: `key` None is "no priority/category".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub key: Option<String>,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    pub total: usize,
    /// Open tickets past a deadline whose clock still runs.
    pub overdue: usize,
    pub by_priority: Vec<Count>,
    pub by_category: Vec<Count>,
    pub by_status: Vec<Count>,
    pub by_level: Vec<(i64, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Response,
    Resolution,
}

/// An open ticket to look at: near a deadline, or among the oldest.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: i64,
    pub subject: String,
    pub status: String,
    pub priority: Option<String>,
    pub owner: Option<String>,
    pub created_at: DateTime<Utc>,
    /// For a near-breach ticket: which deadline, and when.
    pub due: Option<(Target, DateTime<Utc>)>,
}

/// A technician's open tickets (owned now) and tickets resolved in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub email: String,
    pub open: usize,
    pub resolved: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendDay {
    pub date: NaiveDate,
    pub new: usize,
    pub resolved: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub period: Period,
    pub now: DateTime<Utc>,
    pub activity: Activity,
    pub backlog: Backlog,
    pub response: SlaLine,
    pub resolution: SlaLine,
    /// Every near-breach ticket counted; the first `LIST_SHOWN`, soonest first, listed.
    pub near_breach_count: usize,
    pub near_breach: Vec<Listed>,
    pub oldest: Vec<Listed>,
    pub technicians: Vec<Load>,
    pub approvals_count: usize,
    pub approvals: Vec<PendingApproval>,
    /// Messages quarantined in the period and still held; the first `LIST_SHOWN` listed.
    pub quarantined_count: usize,
    pub quarantined: Vec<crate::store::quarantine::Held>,
    pub trend: Vec<TrendDay>,
}

/// What the figures are counted from.
pub struct Inputs<'a> {
    /// `store::reports::digest_tickets` since the trend's first day.
    pub tickets: &'a [DigestTicket],
    /// `store::reports::status_events` over the trend's days and the period.
    pub events: &'a [StatusEvent],
    pub approvals: &'a [PendingApproval],
    pub quarantined: &'a [crate::store::quarantine::Held],
    /// Categories of the period's tickets whose acknowledgement was held back.
    pub acks_held: &'a [Option<String>],
}

/// Who the technician table lists and to whom resolutions are credited.
pub struct People<'a> {
    /// Every configured technician: a status change by one of them is credited to them,
    /// any other (the scheduler, an approval) to the ticket's owner.
    pub technicians: &'a [String],
    /// Technicians listed even with nothing to count (those working in the scope).
    pub listed: &'a [String],
}

/// The first day of the trend for a digest whose period ends on `last_day`.
pub fn trend_first_day(last_day: NaiveDate) -> NaiveDate {
    last_day - Duration::days(TREND_DAYS - 1)
}

/// Counts every figure of one digest.
pub fn compute(
    inp: &Inputs<'_>,
    scope: &Scope,
    people: &People<'_>,
    period: Period,
    tz: Tz,
    now: DateTime<Utc>,
) -> Figures {
    let from = local_midnight(tz, period.first_day);
    let to = local_midnight(tz, period.last_day + Duration::days(1));
    let within = |t: DateTime<Utc>| t >= from && t < to;
    let trend_first = trend_first_day(period.last_day);
    // The trend's day boundaries in UTC, found by binary search: cheaper per row than a time
    // zone conversion, and right on days that are not 24 hours long.
    let bounds: Vec<DateTime<Utc>> = (0..=TREND_DAYS)
        .map(|i| local_midnight(tz, trend_first + Duration::days(i)))
        .collect();
    let day_index = |t: DateTime<Utc>| -> Option<usize> {
        let i = bounds.partition_point(|b| *b <= t);
        (1..bounds.len()).contains(&i).then(|| i - 1)
    };
    let mut trend: Vec<TrendDay> = (0..TREND_DAYS)
        .map(|i| TrendDay {
            date: trend_first + Duration::days(i),
            new: 0,
            resolved: 0,
        })
        .collect();

    let mut activity = Activity::default();
    let mut response = SlaLine::default();
    let mut resolution = SlaLine::default();
    let mut backlog = Backlog::default();
    let mut by_priority: BTreeMap<Option<String>, usize> = BTreeMap::new();
    let mut by_category: BTreeMap<Option<String>, usize> = BTreeMap::new();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_level: BTreeMap<i64, usize> = BTreeMap::new();
    let mut near: Vec<Listed> = Vec::new();
    let mut open: Vec<&DigestTicket> = Vec::new();
    let mut loads: HashMap<String, Load> = HashMap::new();

    for t in inp
        .tickets
        .iter()
        .filter(|t| scope.covers(t.category.as_deref()))
    {
        if within(t.created_at) {
            activity.new += 1;
        }
        if let Some(i) = day_index(t.created_at) {
            trend[i].new += 1;
        }
        if t.status == Status::Closed.as_str() && t.closed_at.is_some_and(within) {
            activity.closed += 1;
        }
        let r = response_outcome(t, now);
        let s = resolution_outcome(t, now);
        response.count(r, from, to);
        resolution.count(s, from, to);

        if !is_open(&t.status) {
            continue;
        }
        open.push(t);
        backlog.total += 1;
        *by_priority.entry(t.priority.clone()).or_default() += 1;
        *by_category.entry(t.category.clone()).or_default() += 1;
        *by_status.entry(t.status.clone()).or_default() += 1;
        *by_level.entry(t.level).or_default() += 1;
        if let Some(owner) = &t.owner {
            load(&mut loads, owner).open += 1;
        }
        // A paused clock (waiting for the requester, for an approval) is neither.
        if t.sla_paused_at.is_none() {
            let (overdue, soonest) = pending_targets(t, now);
            backlog.overdue += usize::from(overdue);
            if let Some(due) = soonest {
                near.push(listed(t, Some(due)));
            }
        }
    }

    let (resolved, reopened) = resolutions(
        inp,
        scope,
        people,
        (&within, &day_index),
        &mut trend,
        &mut loads,
    );
    activity.acks_held = inp
        .acks_held
        .iter()
        .filter(|c| scope.covers(c.as_deref()))
        .count();
    activity.resolved = resolved;
    activity.reopened = reopened;

    backlog.by_priority = counts(by_priority);
    backlog.by_status = status_order(by_status);
    backlog.by_category = biggest_first(counts(by_category));
    backlog.by_level = by_level.into_iter().collect();

    near.sort_by_key(|l| (l.due.map(|(_, d)| d), l.id));
    let near_breach_count = near.len();
    near.truncate(LIST_SHOWN);

    open.sort_by_key(|t| (t.created_at, t.id));
    let oldest = open
        .iter()
        .take(OLDEST_SHOWN)
        .map(|t| listed(t, None))
        .collect();

    let approvals: Vec<PendingApproval> = inp
        .approvals
        .iter()
        .filter(|a| scope.covers(a.category.as_deref()))
        .cloned()
        .collect();

    Figures {
        period,
        now,
        activity,
        backlog,
        response,
        resolution,
        near_breach_count,
        near_breach: near,
        oldest,
        technicians: ranked(loads, people),
        approvals_count: approvals.len(),
        approvals: approvals.into_iter().take(LIST_SHOWN).collect(),
        quarantined_count: inp.quarantined.len(),
        quarantined: inp.quarantined.iter().take(LIST_SHOWN).cloned().collect(),
        trend,
    }
}

/// Whether one of `t`'s targets still to be reached is overdue, and the soonest one that is
/// near (within `NEAR_SHARE` of its span, at least `NEAR_MINUTES`). An answered ticket's
/// response target is settled: only targets still to be reached can be overdue or near.
fn pending_targets(
    t: &DigestTicket,
    now: DateTime<Utc>,
) -> (bool, Option<(Target, DateTime<Utc>)>) {
    let near_min = Duration::minutes(NEAR_MINUTES);
    let pending = [
        (Target::Response, t.response_due_at, t.first_response_at),
        (Target::Resolution, t.resolution_due_at, t.resolved_at),
    ];
    let overdue = pending
        .iter()
        .any(|(_, due, done)| done.is_none() && due.is_some_and(|d| now > d));
    let soonest = pending
        .iter()
        .filter(|(_, due, done)| done.is_none() && due.is_some_and(|d| d > now))
        .filter_map(|(target, due, _)| due.map(|d| (*target, d)))
        .filter(|(_, due)| {
            let span = *due - t.created_at;
            let margin =
                Duration::milliseconds((span.num_milliseconds() as f64 * NEAR_SHARE) as i64)
                    .max(near_min);
            *due - now <= margin
        })
        .min_by_key(|(_, due)| *due);
    (overdue, soonest)
}

/// The biggest piles first; ties alphabetically, "no category" last.
fn biggest_first(mut cats: Vec<Count>) -> Vec<Count> {
    cats.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.key.is_none().cmp(&b.key.is_none()))
            .then_with(|| a.key.cmp(&b.key))
    });
    cats
}

/// Every technician with a load or listed by the config: most open first, then most resolved.
fn ranked(mut loads: HashMap<String, Load>, people: &People<'_>) -> Vec<Load> {
    for email in people.listed {
        load(&mut loads, email);
    }
    let mut technicians: Vec<Load> = loads.into_values().collect();
    technicians.sort_by(|a, b| {
        b.open
            .cmp(&a.open)
            .then(b.resolved.cmp(&a.resolved))
            .then_with(|| a.email.cmp(&b.email))
    });
    technicians
}

/// Resolutions and reopenings in the period, each ticket once per period and once per trend
/// day: the resolutions go to the trend and to whoever resolved (the technician who wrote the
/// event, else the ticket's owner). Returns the tickets resolved and reopened in the period.
#[allow(clippy::type_complexity)]
fn resolutions(
    inp: &Inputs<'_>,
    scope: &Scope,
    people: &People<'_>,
    (within, day_index): (
        &dyn Fn(DateTime<Utc>) -> bool,
        &dyn Fn(DateTime<Utc>) -> Option<usize>,
    ),
    trend: &mut [TrendDay],
    loads: &mut HashMap<String, Load>,
) -> (usize, usize) {
    let mut resolved_in_period: HashSet<i64> = HashSet::new();
    let mut reopened: HashSet<i64> = HashSet::new();
    let mut resolved_per_day: HashSet<(usize, i64)> = HashSet::new();
    for e in inp
        .events
        .iter()
        .filter(|e| scope.covers(e.category.as_deref()))
    {
        if is_resolution(&e.detail) {
            if let Some(i) = day_index(e.at)
                && resolved_per_day.insert((i, e.ticket_id))
            {
                trend[i].resolved += 1;
            }
            if within(e.at) && resolved_in_period.insert(e.ticket_id) {
                let by = if people
                    .technicians
                    .iter()
                    .any(|tech| tech.eq_ignore_ascii_case(&e.actor))
                {
                    Some(e.actor.to_ascii_lowercase())
                } else {
                    e.owner.clone()
                };
                if let Some(by) = by {
                    load(loads, &by).resolved += 1;
                }
            }
        } else if is_reopen(&e.detail) && within(e.at) {
            reopened.insert(e.ticket_id);
        }
    }
    (resolved_in_period.len(), reopened.len())
}

fn load<'a>(loads: &'a mut HashMap<String, Load>, email: &str) -> &'a mut Load {
    let key = email.to_ascii_lowercase();
    loads.entry(key.clone()).or_insert(Load {
        email: key,
        open: 0,
        resolved: 0,
    })
}

fn listed(t: &DigestTicket, due: Option<(Target, DateTime<Utc>)>) -> Listed {
    Listed {
        id: t.id,
        subject: t.subject.clone(),
        status: t.status.clone(),
        priority: t.priority.clone(),
        owner: t.owner.clone(),
        created_at: t.created_at,
        due,
    }
}

/// Buckets in key order ("P1" before "P2"), the empty key last.
fn counts(map: BTreeMap<Option<String>, usize>) -> Vec<Count> {
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    v.sort_by(|a, b| {
        a.key
            .is_none()
            .cmp(&b.key.is_none())
            .then_with(|| a.key.cmp(&b.key))
    });
    v
}

/// Statuses in the order work moves through them; unknown ones after, alphabetically.
fn status_order(map: BTreeMap<String, usize>) -> Vec<Count> {
    let rank = |s: &str| {
        Status::ALL
            .iter()
            .position(|o| o.as_str() == s)
            .unwrap_or(Status::ALL.len())
    };
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(k, count)| Count {
            key: Some(k),
            count,
        })
        .collect();
    v.sort_by(|a, b| {
        let (ka, kb) = (
            a.key.as_deref().unwrap_or(""),
            b.key.as_deref().unwrap_or(""),
        );
        rank(ka).cmp(&rank(kb)).then_with(|| ka.cmp(kb))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn outcome_is_decided_once_at_one_moment() {
        let due = Some(at("2026-11-23T05:00:00Z"));
        let now = at("2026-11-24T00:00:00Z");
        assert_eq!(
            outcome(due, Some(at("2026-11-23T04:00:00Z")), None, None, now),
            Outcome::Met(at("2026-11-23T04:00:00Z"))
        );
        // Answered late: the breach happened at the deadline.
        assert_eq!(
            outcome(due, Some(at("2026-11-23T09:00:00Z")), None, None, now),
            Outcome::Breached(at("2026-11-23T05:00:00Z"))
        );
        assert_eq!(
            outcome(due, None, None, None, now),
            Outcome::Breached(at("2026-11-23T05:00:00Z"))
        );
        assert_eq!(
            outcome(due, None, None, None, at("2026-11-23T04:00:00Z")),
            Outcome::Running
        );
        // Paused before the deadline: the deadline moves on resume, nothing is breached.
        assert_eq!(
            outcome(due, None, None, Some(at("2026-11-23T03:00:00Z")), now),
            Outcome::Running
        );
        // Closed before the deadline without an answer: nothing to judge.
        assert_eq!(
            outcome(due, None, Some(at("2026-11-23T03:00:00Z")), None, now),
            Outcome::Ended
        );
        assert_eq!(
            outcome(None, None, None, None, now),
            Outcome::NoTarget(None)
        );
    }

    #[test]
    fn status_changes_are_read_before_the_note() {
        assert_eq!(
            status_change("resolved -> in-progress: still -> resolved?"),
            Some(("resolved", "in-progress"))
        );
        assert!(is_resolution("in-progress -> resolved: printer fixed"));
        assert!(is_reopen("resolved -> in-progress: reply from requester"));
        assert!(
            !is_reopen("resolved -> closed"),
            "auto-closure is no reopening"
        );
        assert!(!is_resolution("resolved -> in-progress: not -> resolved"));
    }

    #[test]
    fn monday_covers_the_weekend_with_working_day_digests() {
        let weekdays = [true, true, true, true, true, false, false];
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let p = Period::before(monday, &weekdays);
        assert_eq!(
            p.first_day,
            NaiveDate::from_ymd_opt(2026, 11, 20).expect("date")
        );
        assert_eq!(
            p.last_day,
            NaiveDate::from_ymd_opt(2026, 11, 22).expect("date")
        );
        assert_eq!(p.days(), 3);
        let tuesday = monday.succ_opt().expect("date");
        assert_eq!(Period::before(tuesday, &weekdays).days(), 1);
        assert_eq!(Period::before(monday, &[true; 7]).days(), 1);
        let only_monday = [true, false, false, false, false, false, false];
        assert_eq!(Period::before(monday, &only_monday).days(), 7);
    }

    #[test]
    fn scope_matches_categories_and_star() {
        let s = Scope::new(&["Network".into(), "email".into()]);
        assert!(s.covers(Some("network")));
        assert!(!s.covers(Some("printer")));
        assert!(!s.covers(None));
        assert!(Scope::new(&["*".into()]).covers(None));
        assert!(s.overlaps(&["*".into()]));
        assert!(!s.overlaps(&["printer".into()]));
    }

    #[test]
    fn sla_percent_counts_only_judged_targets() {
        let l = SlaLine {
            met: 3,
            breached: 1,
            no_target: 5,
        };
        assert_eq!(l.met_percent(), Some(75.0));
        assert_eq!(SlaLine::default().met_percent(), None);
    }
}
