//! How a ticket changes: technician commands applied to the ticket as it is, a requester's reply
//! to a resolved ticket, assignment of new tickets, auto-closure. Pure: the ticket and the
//! config go in, the changed ticket and a list of changes come out; the pipeline and the
//! scheduler write them and turn them into mails.

use chrono::{DateTime, Utc};

use crate::config::{Config, Technician};
use crate::decide::commands::Command;
use crate::model::{EventKind, Status, Ticket};

/// One change, as recorded in the events table and told to the people concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Status {
        from: Status,
        to: Status,
        /// The technician's note for `#resolve note` / `#reject reason`.
        note: Option<String>,
    },
    Owner {
        from: Option<String>,
        to: Option<String>,
    },
    Level {
        from: i64,
        to: i64,
        reason: Option<String>,
    },
    Priority {
        from: Option<String>,
        to: String,
    },
    Category {
        from: Option<String>,
        to: String,
    },
    /// An internal note for the other technicians.
    Note(String),
    /// Someone the requester's answers should also reach.
    Cc(String),
    /// Folded into ticket `into` (`#merge`): the ticket is now `merged` and final.
    Merge {
        from: Status,
        into: i64,
    },
    /// Related to ticket `with` (`#link`), shown on both.
    Link {
        with: i64,
    },
    /// Working time `by` spent on it (`#time`).
    Time {
        by: String,
        spent: std::time::Duration,
    },
}

impl Change {
    /// The events table's `kind` and `detail`.
    pub fn event(&self) -> (EventKind, String) {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        match self {
            Change::Status { from, to, note } => (
                EventKind::Status,
                match note {
                    Some(n) => format!("{from} -> {to}: {n}"),
                    None => format!("{from} -> {to}"),
                },
            ),
            Change::Owner { from, to } => {
                (EventKind::Owner, format!("{} -> {}", opt(from), opt(to)))
            }
            Change::Level { from, to, reason } => (
                EventKind::Level,
                match reason {
                    Some(r) => format!("L{from} -> L{to}: {r}"),
                    None => format!("L{from} -> L{to}"),
                },
            ),
            Change::Priority { from, to } => {
                (EventKind::Priority, format!("{} -> {to}", opt(from)))
            }
            Change::Category { from, to } => {
                (EventKind::Category, format!("{} -> {to}", opt(from)))
            }
            Change::Note(text) => (EventKind::Note, text.clone()),
            Change::Cc(a) => (EventKind::Cc, a.clone()),
            Change::Merge { from, into } => {
                (EventKind::Merged, format!("{from} -> merged into {into}"))
            }
            Change::Link { with } => (EventKind::Linked, format!("with {with}")),
            Change::Time { by, spent } => (
                EventKind::Time,
                format!("{} by {by}", humantime::format_duration(*spent)),
            ),
        }
    }
}

/// What the config knows that commands are checked against.
pub struct Known<'a> {
    pub cfg: &'a Config,
    /// Priority names (`P1`...). Compared case-insensitively, stored as written here.
    pub priorities: Vec<String>,
    /// Category names; empty means any category is accepted.
    pub categories: Vec<String>,
    /// The tickets `#merge` and `#link` name, as stored (looked up by the caller); a number
    /// missing here names no ticket.
    pub tickets: Vec<Ticket>,
}

impl Known<'_> {
    /// A technician by e-mail, by full name or by first name, case-insensitively; `me` is the
    /// author.
    fn technician<'c>(&'c self, who: &str, author: &'c Technician) -> Option<&'c Technician> {
        let who = who.trim().to_lowercase();
        if who == "me" || who == "saya" {
            return Some(author);
        }
        let techs = &self.cfg.technicians;
        techs
            .iter()
            .find(|t| t.email == who)
            .or_else(|| techs.iter().find(|t| t.name.to_lowercase() == who))
            .or_else(|| {
                let mut first = techs.iter().filter(|t| {
                    t.name
                        .split_whitespace()
                        .next()
                        .is_some_and(|f| f.to_lowercase() == who)
                });
                // A first name shared by two technicians names neither.
                match (first.next(), first.next()) {
                    (Some(t), None) => Some(t),
                    _ => None,
                }
            })
    }
}

/// The ticket after a technician's commands, and what changed. Either every command applies or
/// none does: the errors say what was wrong with each command that could not.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ticket: Ticket,
    pub changes: Vec<Change>,
}

fn set_status(t: &mut Ticket, to: Status, note: Option<String>, now: DateTime<Utc>) -> Change {
    let from = std::mem::replace(&mut t.status, to);
    match to {
        Status::Resolved => t.resolved_at = Some(now),
        Status::Closed | Status::Rejected => t.closed_at = Some(now),
        _ => t.resolved_at = None,
    }
    Change::Status { from, to, note }
}

pub fn apply(
    ticket: &Ticket,
    author: &Technician,
    commands: &[Command],
    known: &Known<'_>,
    now: DateTime<Utc>,
) -> Result<Plan, Vec<String>> {
    let mut t = ticket.clone();
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    let tag = |n: i64| format!("{}-{n}", known.cfg.helpdesk.tag_prefix);
    let named = |n: i64| known.tickets.iter().find(|k| k.id == n);
    for c in commands {
        // Notes, links and time are about work on the ticket, not changes of it: a closed
        // ticket takes them too.
        let bookkeeping = matches!(c, Command::Note(_) | Command::Link(_) | Command::Time(_));
        if t.status.is_final() && !bookkeeping {
            errors.push(format!(
                "{c}: the ticket is {}; a new reply from the requester opens a new ticket",
                t.status
            ));
            continue;
        }
        match c {
            Command::Assign(who) => match known.technician(who, author) {
                Some(tech) if t.owner.as_deref() == Some(tech.email.as_str()) => {}
                Some(tech) => changes.push(Change::Owner {
                    from: t.owner.replace(tech.email.clone()),
                    to: Some(tech.email.clone()),
                }),
                None => errors.push(format!(
                    "{c}: no technician `{who}` (use an e-mail address or name from [[technicians]], or `me`)"
                )),
            },
            Command::Status(s) if *s == t.status => {}
            Command::Status(s) => changes.push(set_status(&mut t, *s, None, now)),
            Command::Resolve(note) => {
                if t.status != Status::Resolved || note.is_some() {
                    changes.push(set_status(&mut t, Status::Resolved, note.clone(), now));
                }
            }
            Command::Priority(p) => {
                match known
                    .priorities
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(p))
                {
                    Some(k) if t.priority.as_deref() == Some(k.as_str()) => {}
                    Some(k) => changes.push(Change::Priority {
                        from: t.priority.replace(k.clone()),
                        to: k.clone(),
                    }),
                    None => errors.push(format!(
                        "{c}: unknown priority (known: {})",
                        known.priorities.join(", ")
                    )),
                }
            }
            Command::Category(name) => {
                let canonical = if known.categories.is_empty() {
                    Some(name.to_lowercase())
                } else {
                    known
                        .categories
                        .iter()
                        .find(|k| k.eq_ignore_ascii_case(name))
                        .cloned()
                };
                match canonical {
                    Some(k) if t.category.as_deref() == Some(k.as_str()) => {}
                    Some(k) => changes.push(Change::Category {
                        from: t.category.replace(k.clone()),
                        to: k,
                    }),
                    None => errors.push(format!(
                        "{c}: unknown category (known: {})",
                        known.categories.join(", ")
                    )),
                }
            }
            Command::Note(text) => changes.push(Change::Note(text.clone())),
            Command::Escalate { level, reason } => {
                let to = level.unwrap_or(t.level + 1);
                if to > 3 {
                    errors.push(format!("{c}: the ticket is already at L3, the last level"));
                } else if to <= t.level {
                    errors.push(format!(
                        "{c}: the ticket is already at L{}; escalation goes up",
                        t.level
                    ));
                } else {
                    changes.push(Change::Level {
                        from: t.level,
                        to,
                        reason: reason.clone(),
                    });
                    t.level = to;
                    // The new level's technicians take it from here.
                    if t.owner.is_some() {
                        changes.push(Change::Owner {
                            from: t.owner.take(),
                            to: None,
                        });
                    }
                }
            }
            Command::Reject(reason) => {
                changes.push(set_status(&mut t, Status::Rejected, Some(reason.clone()), now))
            }
            Command::Cc(a) => changes.push(Change::Cc(a.clone())),
            Command::Close => changes.push(set_status(&mut t, Status::Closed, None, now)),
            Command::Merge(n) => match named(*n) {
                _ if *n == t.id => errors.push(format!(
                    "#merge {}: a ticket cannot be merged into itself",
                    tag(*n)
                )),
                None => errors.push(format!("#merge {}: there is no such ticket", tag(*n))),
                Some(target) if target.merged_into == Some(t.id) => errors.push(format!(
                    "#merge {}: {} was merged into this ticket; merging back would make a loop",
                    tag(*n),
                    tag(*n)
                )),
                Some(target) if target.status == Status::Merged => errors.push(format!(
                    "#merge {}: {} was itself merged into {}; merge into that one",
                    tag(*n),
                    tag(*n),
                    target.merged_into.map_or_else(|| "another ticket".into(), tag)
                )),
                Some(target) if target.status.is_final() => errors.push(format!(
                    "#merge {}: {} is {}; merge into a ticket that is still open",
                    tag(*n),
                    tag(*n),
                    target.status
                )),
                Some(target) => {
                    let from = std::mem::replace(&mut t.status, Status::Merged);
                    t.closed_at = Some(now);
                    t.merged_into = Some(target.id);
                    changes.push(Change::Merge {
                        from,
                        into: target.id,
                    });
                }
            },
            Command::Link(n) => match named(*n) {
                _ if *n == t.id => errors.push(format!(
                    "#link {}: a ticket cannot be linked to itself",
                    tag(*n)
                )),
                None => errors.push(format!("#link {}: there is no such ticket", tag(*n))),
                Some(other) if other.status == Status::Merged => errors.push(format!(
                    "#link {}: {} was merged into {}; link to that one",
                    tag(*n),
                    tag(*n),
                    other.merged_into.map_or_else(|| "another ticket".into(), tag)
                )),
                Some(other) => changes.push(Change::Link { with: other.id }),
            },
            Command::Time(spent) => changes.push(Change::Time {
                by: author.email.clone(),
                spent: *spent,
            }),
        }
    }
    if errors.is_empty() {
        Ok(Plan { ticket: t, changes })
    } else {
        Err(errors)
    }
}

/// A reply from the requester (or a CC participant): a resolved ticket reopens, a ticket that
/// waited for them is worked on again.
pub fn on_requester_reply(ticket: &Ticket, now: DateTime<Utc>) -> Option<Plan> {
    if !matches!(ticket.status, Status::Resolved | Status::Waiting) {
        return None;
    }
    let mut t = ticket.clone();
    let note =
        (ticket.status == Status::Resolved).then(|| "reopened by the requester's reply".into());
    let change = set_status(&mut t, Status::InProgress, note, now);
    Some(Plan {
        ticket: t,
        changes: vec![change],
    })
}

/// A resolved ticket whose requester stayed silent for `after`: closed.
pub fn auto_close(ticket: &Ticket, after: std::time::Duration, now: DateTime<Utc>) -> Option<Plan> {
    let resolved_at = ticket.resolved_at?;
    let after = chrono::Duration::from_std(after).ok()?;
    if ticket.status != Status::Resolved || now < resolved_at + after {
        return None;
    }
    let mut t = ticket.clone();
    let change = set_status(
        &mut t,
        Status::Closed,
        Some("closed automatically: no reply after resolution".into()),
        now,
    );
    Some(Plan {
        ticket: t,
        changes: vec![change],
    })
}

/// The technicians a ticket of `category` at `level` goes to, in config order.
pub fn candidates<'c>(cfg: &'c Config, level: i64, category: Option<&str>) -> Vec<&'c Technician> {
    cfg.technicians
        .iter()
        .filter(|t| i64::from(t.level) == level)
        .filter(|t| {
            t.categories
                .iter()
                .any(|c| c == "*" || category.is_some_and(|cat| c.eq_ignore_ascii_case(cat)))
        })
        .collect()
}

/// Round-robin: the candidate after the one assigned last (the first when the last is not a
/// candidate, or none was assigned yet).
pub fn next_in_turn<'c>(
    candidates: &[&'c Technician],
    last: Option<&str>,
) -> Option<&'c Technician> {
    let after = last.and_then(|l| candidates.iter().position(|t| t.email == l));
    match after {
        Some(i) => candidates.get((i + 1) % candidates.len()).copied(),
        None => candidates.first().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::commands::parse;

    fn cfg() -> Config {
        crate::fixtures::config(
            "helpdesk@example.test",
            r#"
[[technicians]]
email = "budi@example.test"
name = "Budi Santoso"
[[technicians]]
email = "andi@example.test"
name = "Andi"
categories = ["printer"]
[[technicians]]
email = "sari@example.test"
name = "Sari"
level = 2
"#,
        )
        .expect("config")
    }

    fn ticket() -> Ticket {
        crate::fixtures::ticket(Status::Open)
    }

    fn known(cfg: &Config) -> Known<'_> {
        Known {
            cfg,
            priorities: vec!["P1".into(), "P2".into(), "P3".into()],
            categories: vec![],
            tickets: vec![],
        }
    }

    #[test]
    fn commands_apply_in_order() {
        let cfg = cfg();
        let now = "2026-11-23T03:00:00Z".parse().expect("time");
        let cmds = parse("#assign me\n#priority p1\n#resolve toner diganti").commands;
        let plan = apply(&ticket(), &cfg.technicians[0], &cmds, &known(&cfg), now).expect("plan");
        assert_eq!(plan.ticket.owner.as_deref(), Some("budi@example.test"));
        assert_eq!(plan.ticket.priority.as_deref(), Some("P1"));
        assert_eq!(plan.ticket.status, Status::Resolved);
        assert_eq!(plan.ticket.resolved_at, Some(now));
        assert_eq!(plan.changes.len(), 3);
    }

    #[test]
    fn one_bad_command_applies_nothing() {
        let cfg = cfg();
        let now = "2026-11-23T03:00:00Z".parse().expect("time");
        let cmds = parse("#resolve\n#assign nobody\n#priority P9").commands;
        let errors =
            apply(&ticket(), &cfg.technicians[0], &cmds, &known(&cfg), now).expect_err("errors");
        assert_eq!(errors.len(), 2);
        assert!(errors[0].contains("no technician `nobody`"));
        assert!(errors[1].contains("unknown priority"));
    }

    #[test]
    fn assign_by_name_or_first_name() {
        let cfg = cfg();
        let k = known(&cfg);
        assert_eq!(
            k.technician("budi", &cfg.technicians[1])
                .map(|t| t.email.as_str()),
            Some("budi@example.test")
        );
        assert_eq!(
            k.technician("Budi Santoso", &cfg.technicians[1])
                .map(|t| t.email.as_str()),
            Some("budi@example.test")
        );
    }

    #[test]
    fn escalation_goes_up_and_clears_the_owner() {
        let cfg = cfg();
        let now = "2026-11-23T03:00:00Z".parse().expect("time");
        let mut t = ticket();
        t.owner = Some("budi@example.test".into());
        let cmds = parse("#escalate server mati").commands;
        let plan = apply(&t, &cfg.technicians[0], &cmds, &known(&cfg), now).expect("plan");
        assert_eq!(plan.ticket.level, 2);
        assert_eq!(plan.ticket.owner, None);
        let cmds = parse("#escalate L1").commands;
        assert!(apply(&plan.ticket, &cfg.technicians[0], &cmds, &known(&cfg), now).is_err());
    }

    #[test]
    fn closed_ticket_takes_only_notes() {
        let cfg = cfg();
        let now = "2026-11-23T03:00:00Z".parse().expect("time");
        let mut t = ticket();
        t.status = Status::Closed;
        assert!(
            apply(
                &t,
                &cfg.technicians[0],
                &parse("#note ok").commands,
                &known(&cfg),
                now
            )
            .is_ok()
        );
        assert!(
            apply(
                &t,
                &cfg.technicians[0],
                &parse("#resolve").commands,
                &known(&cfg),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn resolved_ticket_reopens_on_reply_and_closes_after_silence() {
        let now: DateTime<Utc> = "2026-11-23T03:00:00Z".parse().expect("time");
        let mut t = ticket();
        t.status = Status::Resolved;
        t.resolved_at = Some(now);
        let day = std::time::Duration::from_secs(86400);
        assert!(auto_close(&t, day, now + chrono::Duration::hours(23)).is_none());
        let closed = auto_close(&t, day, now + chrono::Duration::hours(24)).expect("closes");
        assert_eq!(closed.ticket.status, Status::Closed);
        let reopened = on_requester_reply(&t, now).expect("reopens");
        assert_eq!(reopened.ticket.status, Status::InProgress);
        assert_eq!(reopened.ticket.resolved_at, None);
        assert!(on_requester_reply(&ticket(), now).is_none());
    }

    #[test]
    fn round_robin_follows_config_order_and_category() {
        let cfg = cfg();
        let all = candidates(&cfg, 1, Some("printer"));
        assert_eq!(all.len(), 2);
        let generic = candidates(&cfg, 1, Some("network"));
        assert_eq!(generic.len(), 1);
        assert_eq!(
            next_in_turn(&all, None).map(|t| t.name.as_str()),
            Some("Budi Santoso")
        );
        assert_eq!(
            next_in_turn(&all, Some("budi@example.test")).map(|t| t.name.as_str()),
            Some("Andi")
        );
        assert_eq!(
            next_in_turn(&all, Some("andi@example.test")).map(|t| t.name.as_str()),
            Some("Budi Santoso")
        );
        assert!(next_in_turn(&[], None).is_none());
    }
}
