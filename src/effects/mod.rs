//! Turns decided ticket changes into what they cause: the ticket row, one event per change, and
//! the mails that tell the people concerned. Shared by the pipeline (a technician's commands, a
//! requester's reply) and the scheduler (auto-closure), always inside the caller's transaction,
//! so a change and its mails are committed together or not at all.

pub mod messages;
pub mod open;
pub mod queries;
pub mod replies;
pub mod satisfaction;

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::config::{Config, Technician};
use crate::decide::lifecycle::{self, Change, Known, Plan};
use crate::decide::rules;
use crate::decide::sla::{self, Targets};
use crate::model::{EventKind, Role, Status};
use crate::outbound::mails::{self, NewFor};
use crate::outbound::{self, Ctx, labels};
use crate::store::{self, Ticket};

/// Records `kind` on ticket `ticket` as Loket's own doing, at the context's time.
pub(crate) fn record(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: i64,
    kind: EventKind,
    detail: &str,
) -> Result<()> {
    store::events::add(conn, Some(ticket), ctx.now, "loket", kind, detail)
}

/// The priorities and categories commands are checked against.
pub fn known(cfg: &Config) -> Known<'_> {
    Known {
        cfg,
        priorities: cfg.priorities.iter().map(|p| p.name.clone()).collect(),
        categories: cfg.categories.iter().map(|c| c.name.clone()).collect(),
        tickets: vec![],
    }
}

/// The SLA targets of a ticket: its priority's, with its category's overrides.
pub fn targets(cfg: &Config, ticket: &Ticket) -> Option<Targets> {
    let mut t = rules::priority(cfg, ticket.priority.as_deref()?)?.targets();
    if let Some(c) = ticket
        .category
        .as_deref()
        .and_then(|c| rules::category(cfg, c))
    {
        t.response = c.response.unwrap_or(t.response);
        t.resolution = c.resolution.unwrap_or(t.resolution);
    }
    Some(t)
}

/// Everyone told when a resolution target is breached or an approval is overdue: the
/// `[[managers]]` and the extra `escalation.managers` addresses, each once.
pub fn managers(cfg: &Config) -> Vec<crate::inbound::Address> {
    let mut out: Vec<crate::inbound::Address> = Vec::new();
    let all = cfg
        .managers
        .iter()
        .map(|m| (Some(m.name.clone()), m.email.clone()))
        .chain(cfg.escalation.managers.iter().map(|m| (None, m.clone())));
    for (name, email) in all {
        if !out.iter().any(|a| a.email == email) {
            out.push(crate::inbound::Address { name, email });
        }
    }
    out
}

/// Sets the SLA deadlines of `ticket` from its priority, counted from `start`.
pub fn start_sla(
    conn: &Connection,
    cfg: &Config,
    ticket: &Ticket,
    start: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let paused_at = store::tickets::sla_clock(conn, ticket.id)?.paused_at;
    let clock = match targets(cfg, ticket) {
        Some(t) => sla::deadlines(start, &t, &cfg.calendar()),
        None => sla::Clock::default(),
    };
    // A ticket that waits keeps waiting: the pause survives a change of priority.
    let clock = sla::Clock { paused_at, ..clock };
    store::tickets::set_sla_clock(conn, ticket.id, &clock)
}

/// Who hears about a ticket among technicians: its owner, or the technicians of its level and
/// category when nobody owns it.
pub fn responsible<'c>(cfg: &'c Config, ticket: &Ticket) -> Vec<&'c Technician> {
    if let Some(owner) = ticket.owner.as_deref().and_then(|o| cfg.technician(o)) {
        return vec![owner];
    }
    lifecycle::candidates(cfg, ticket.level, ticket.category.as_deref())
}

/// The requester's own words on the ticket (its first message), for technicians' notifications.
fn request_text(conn: &Connection, ticket: i64) -> Result<(String, Vec<String>)> {
    let first = store::messages::for_ticket(conn, ticket)?
        .into_iter()
        .find(|m| m.direction == "in");
    Ok(match first {
        Some(m) => (
            m.body,
            m.attachments.into_iter().map(|(name, ..)| name).collect(),
        ),
        None => (String::new(), vec![]),
    })
}

/// Tells technicians about a ticket that is new to them: a new ticket, one assigned to them, or
/// one escalated to their level.
pub fn notify_technicians(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    to: &[&Technician],
    why: NewFor,
    reason: Option<&str>,
) -> Result<()> {
    if to.is_empty() {
        return Ok(());
    }
    let (text, attachments) = request_text(conn, ticket.id)?;
    let similar = match why {
        NewFor::New if ctx.cfg.similar.enabled => store::similar::similar(
            conn,
            (&ticket.subject, &text),
            ctx.now - chrono::Duration::days(365),
            ticket.id,
            (ctx.cfg.similar.max, ctx.cfg.similar.min_overlap),
        )?,
        _ => vec![],
    };
    mails::About::new(conn, ctx, ticket).tech_new(
        to,
        why,
        reason,
        (&text, &attachments),
        &similar,
    )?;
    Ok(())
}

/// Writes `plan` (the ticket as changed from `before`), one event per change by `actor`, and the
/// mails each change causes. `author` is the technician whose commands these were, if any.
pub fn commit(
    conn: &Connection,
    ctx: &Ctx<'_>,
    before: &Ticket,
    plan: &Plan,
    actor: &str,
    author: Option<&Technician>,
) -> Result<()> {
    let cfg = ctx.cfg;
    let t = &plan.ticket;
    if t != before {
        store::tickets::update(conn, t, ctx.now)?;
    }
    let escalated = plan
        .changes
        .iter()
        .any(|c| matches!(c, Change::Level { .. }));
    for change in &plan.changes {
        let (kind, detail) = change.event();
        store::events::add(conn, Some(t.id), ctx.now, actor, kind, &detail)?;
        match change {
            Change::Status { from, to, note } => {
                if let Some(targets) = targets(cfg, t) {
                    let clock = store::tickets::sla_clock(conn, t.id)?;
                    let next =
                        sla::on_status(clock, *from, *to, ctx.now, &targets, &cfg.calendar());
                    if next != clock {
                        store::tickets::set_sla_clock(conn, t.id, &next)?;
                    }
                }
                mails::About::new(conn, ctx, t).status_changed(
                    (*from, *to),
                    note.as_deref(),
                    author,
                )?;
            }
            Change::Owner { to, .. } => {
                // An escalation clears the owner; the level mail already says who handles it.
                if escalated && to.is_none() {
                    continue;
                }
                let name = to
                    .as_deref()
                    .map(|o| cfg.technician(o).map_or(o, |tech| tech.name.as_str()));
                mails::About::new(conn, ctx, t).owner(name)?;
                // The new owner hears of it, unless they took it themselves.
                if let Some(tech) = to.as_deref().and_then(|o| cfg.technician(o))
                    && author.is_none_or(|a| a.email != tech.email)
                {
                    notify_technicians(conn, ctx, t, &[tech], NewFor::Assigned, None)?;
                }
            }
            Change::Level { reason, .. } => {
                mails::About::new(conn, ctx, t).level(reason.as_deref())?;
                let level_techs = lifecycle::candidates(cfg, t.level, t.category.as_deref());
                notify_technicians(
                    conn,
                    ctx,
                    t,
                    &level_techs,
                    NewFor::Escalated,
                    reason.as_deref(),
                )?;
            }
            Change::Note(text) => {
                let mut to = responsible(cfg, t);
                if let Some(owner) = t.owner.as_deref().and_then(|o| cfg.technician(o)) {
                    // The level's technicians follow notes too, not only the owner.
                    for c in lifecycle::candidates(cfg, t.level, t.category.as_deref()) {
                        if c.email != owner.email {
                            to.push(c);
                        }
                    }
                }
                to.retain(|tech| author.is_none_or(|a| a.email != tech.email));
                mails::About::new(conn, ctx, t).tech_note(&to, text, author)?;
            }
            Change::Cc(address) => {
                store::tickets::add_participant(conn, t.id, address, None, Role::Cc)?;
            }
            Change::Priority { .. } => {
                // New targets, counted from the ticket's creation (time spent paused before the
                // change is not credited back).
                start_sla(conn, cfg, t, t.created_at)?;
            }
            Change::Category { .. } => {}
            Change::Merge { into, .. } => merge(conn, ctx, t, *into, author)?,
            Change::Link { with } => {
                if store::service::link(conn, t.id, *with, actor, ctx.now)? {
                    let detail = format!("with {}", t.id);
                    store::events::add(
                        conn,
                        Some(*with),
                        ctx.now,
                        actor,
                        EventKind::Linked,
                        &detail,
                    )?;
                }
            }
            Change::Time { by, spent } => {
                store::service::add_time(conn, t.id, by, spent.as_secs(), ctx.now)?;
            }
        }
    }
    Ok(())
}

/// Folds `source` (already written as merged) into ticket `into`: its messages and people move
/// there, the target records it, each requester is told in one mail (one in all when both
/// tickets are the same person's), and the target's technicians hear of the joined request.
fn merge(
    conn: &Connection,
    ctx: &Ctx<'_>,
    source: &Ticket,
    into: i64,
    author: Option<&Technician>,
) -> Result<()> {
    let target = store::tickets::get(conn, into)?
        .with_context(|| format!("ticket {into}, the target of a merge"))?;
    let moved = store::service::move_into(conn, source.id, into)?;
    let actor = author.map_or("loket", |a| a.email.as_str());
    let detail = format!("{} merged into this ticket ({moved} messages)", source.id);
    store::events::add(conn, Some(into), ctx.now, actor, EventKind::Merged, &detail)?;
    store::tickets::touch(conn, into, ctx.now)?;
    let same_person = source.requester_email == target.requester_email;
    mails::About::new(conn, ctx, &target).merged(source, &target, same_person)?;
    if !same_person {
        mails::About::new(conn, ctx, source).merged(source, &target, false)?;
    }
    let mut to = responsible(ctx.cfg, &target);
    to.retain(|tech| author.is_none_or(|a| a.email != tech.email));
    let note = format!(
        "{} ({}, {}) merged into this ticket{}",
        ctx.tag(source.id),
        source.subject,
        source.requester_email,
        author.map_or(String::new(), |a| format!(" by {}", a.name)),
    );
    mails::About::new(conn, ctx, &target).tech_note(&to, &note, author)?;
    Ok(())
}

/// What an SLA step causes. A warning tells whoever is responsible; a breach tells them too and
/// escalates the ticket one level (the requester is told, the next level notified); a breached
/// resolution target also reaches the managers. The caller records the step once.
pub fn sla_step(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    clock: &sla::Clock,
    step: sla::Step,
) -> Result<()> {
    let cfg = ctx.cfg;
    let lang = cfg.helpdesk.language.as_str();
    let due = match step.target() {
        "response" => clock.response_due,
        _ => clock.resolution_due,
    };
    let target_label = labels::sla_target(lang, step.target());
    let event = if step.is_breach() {
        EventKind::SlaBreach
    } else {
        EventKind::SlaWarning
    };
    record(conn, ctx, ticket.id, event, step.target())?;
    let responsible = responsible(cfg, ticket);
    let due_local = due.map(|d| ctx.local_time(d));
    if !step.is_breach() {
        let left = due
            .map(|d| cfg.calendar().between(ctx.now, d))
            .unwrap_or_default();
        // Whole minutes, at least one: "3 jam 59 menit", never "59 detik".
        let left = std::time::Duration::from_secs(left.as_secs().max(60) / 60 * 60);
        let left = outbound::human_duration(lang, left);
        let due_local = due_local.as_deref();
        mails::About::new(conn, ctx, ticket).sla_warning(
            &responsible,
            target_label,
            due_local,
            &left,
        )?;
        return Ok(());
    }

    let (text, _) = request_text(conn, ticket.id)?;
    let mut escalated = None;
    if ticket.level < 3 {
        let mut t = ticket.clone();
        let mut changes = vec![Change::Level {
            from: t.level,
            to: t.level + 1,
            reason: Some(format!("{} SLA breached", step.target())),
        }];
        t.level += 1;
        if t.owner.is_some() {
            changes.push(Change::Owner {
                from: t.owner.take(),
                to: None,
            });
        }
        escalated = Some(Plan { ticket: t, changes });
    }
    let breach = mails::Breach {
        target_label,
        due_local,
        text: &text,
        escalated_to: escalated
            .as_ref()
            .map(|p| outbound::level_label(lang, p.ticket.level)),
    };
    let managers = (step == sla::Step::ResolutionBreach).then(|| managers(cfg));
    mails::About::new(conn, ctx, ticket).sla_breach(&responsible, managers, &breach)?;
    if let Some(plan) = escalated {
        commit(conn, ctx, ticket, &plan, "loket", None)?;
    }
    Ok(())
}

/// A ticket a rule marked for immediate escalation (security incidents): the IT head hears at
/// once.
pub fn security_alert(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    rules: &str,
) -> Result<()> {
    let (text, attachments) = request_text(conn, ticket.id)?;
    record(conn, ctx, ticket.id, EventKind::SecurityAlert, rules)?;
    mails::About::new(conn, ctx, ticket).security_alert((&text, &attachments), rules)?;
    Ok(())
}

/// Changes the status of `ticket` with its SLA clock and one event, without telling the
/// requester: for steps whose own mail says it better (an approval asked for or decided).
pub(crate) fn set_status_quietly(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    to: Status,
    actor: &str,
    note: Option<&str>,
) -> Result<Ticket> {
    let mut t = ticket.clone();
    let from = std::mem::replace(&mut t.status, to);
    if to.is_final() {
        t.closed_at = Some(ctx.now);
    }
    store::tickets::update(conn, &t, ctx.now)?;
    if let Some(targets) = targets(ctx.cfg, &t) {
        let clock = store::tickets::sla_clock(conn, t.id)?;
        let next = sla::on_status(clock, from, to, ctx.now, &targets, &ctx.cfg.calendar());
        store::tickets::set_sla_clock(conn, t.id, &next)?;
    }
    let detail = match note {
        Some(n) => format!("{from} -> {to}: {n}"),
        None => format!("{from} -> {to}"),
    };
    store::events::add(conn, Some(t.id), ctx.now, actor, EventKind::Status, &detail)?;
    Ok(t)
}

/// Puts a new ticket on hold until `approver` agrees: status awaiting-approval (SLA paused), a
/// single-use token, and the request mailed to the approver.
pub fn request_approval(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    approver: &str,
) -> Result<Ticket> {
    let token = crate::decide::approval::new_token()
        .map_err(|e| anyhow::anyhow!("reading /dev/urandom for an approval token: {e}"))?;
    store::approvals::insert(conn, ticket.id, approver, &token, ctx.now)?;
    let t = set_status_quietly(
        conn,
        ctx,
        ticket,
        Status::AwaitingApproval,
        "loket",
        Some(approver),
    )?;
    record(conn, ctx, t.id, EventKind::ApprovalRequested, approver)?;
    let (text, attachments) = request_text(conn, t.id)?;
    let token_tag = crate::decide::approval::token_tag(&token);
    mails::About::new(conn, ctx, &t).approval_request(
        approver,
        &token_tag,
        (&text, &attachments),
    )?;
    Ok(t)
}

/// A step of an approval still owed: the approver reminded, or the managers told it is
/// overdue despite the reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    Reminder,
    Overdue,
}

/// Records `step` of `approval` on the ticket and mails whoever it is for.
pub fn approval_owed(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    approval: &store::approvals::Approval,
    step: Owed,
) -> Result<()> {
    let kind = match step {
        Owed::Reminder => EventKind::ApprovalReminded,
        Owed::Overdue => EventKind::ApprovalOverdue,
    };
    record(conn, ctx, ticket.id, kind, &approval.approver)?;
    let mail = mails::About::new(conn, ctx, ticket);
    match step {
        Owed::Reminder => {
            let (text, _) = request_text(conn, ticket.id)?;
            let token_tag = crate::decide::approval::token_tag(&approval.token);
            mail.approval_reminder(approval, &token_tag, &text)?;
        }
        Owed::Overdue => {
            mail.approval_overdue(approval, managers(ctx.cfg))?;
        }
    }
    Ok(())
}
