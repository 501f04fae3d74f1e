//! A new ticket written: the row, its requester and copied people, the message, the events
//! that explain it (rules, classification, assignment), its SLA clock, and the mails it causes
//! (the acknowledgement, a security alert, the approval request or the technicians' notice).
//! What the ticket is was decided by `decide::intake`; this only writes it, inside the
//! caller's transaction.

use anyhow::{Context, Result};
use rusqlite::Connection;

use super::messages::{add_copied_participants, store_message};
use crate::decide::intake::Intake;
use crate::inbound::{Address, Inbound};
use crate::model::{EventKind, MessageKind, Role, Status, Ticket};
use crate::outbound::mails::{self, NewFor};
use crate::outbound::{Ctx, labels};
use crate::store;

/// What the pipeline decided besides the ticket itself.
pub struct Arrival<'a> {
    pub msg: &'a Inbound,
    pub raw: &'a [u8],
    /// Where it came from, for the `created` event (`imap:helpdesk:42`, `ingest`...).
    pub source: &'a str,
    /// The earlier ticket this one follows (a reply to a closed ticket).
    pub parent: Option<i64>,
    /// Why a tag or reference was not followed, for the `threading` event.
    pub note: Option<String>,
    /// `Err(why)`: no acknowledgement, and why (an automatic sender, the rate limit).
    pub acknowledge: Result<(), String>,
}

/// Writes the new ticket `intake` describes for `arrival.msg`; returns its number and whether
/// an acknowledgement was queued.
pub fn open_ticket(
    tx: &Connection,
    ctx: &Ctx<'_>,
    intake: &Intake<'_>,
    arrival: Arrival<'_>,
) -> Result<(i64, bool)> {
    let msg = arrival.msg;
    let sender = msg
        .requester()
        .context("decide guarantees a sender for new tickets")?;
    let ticket = insert(tx, ctx, intake, &arrival, sender)?;
    let id = ticket.id;
    let approver = approver(tx, ctx, intake, id)?;
    // When Loket holds the acknowledgement back, the ticket says why and so does the
    // technicians' notice: a person who wrote in good faith must not be silenced unnoticed.
    let (acknowledged, held) = match arrival.acknowledge {
        Ok(()) => {
            let queued = acknowledge(tx, ctx, &ticket, msg, approver.as_deref(), &sender.email)?;
            (queued, None)
        }
        Err(why) => {
            super::record(tx, ctx, id, EventKind::AckSuppressed, &why)?;
            (
                false,
                Some(labels::ack_held(&ctx.cfg.helpdesk.language, &why)),
            )
        }
    };
    let class = &intake.class;
    if class.escalate {
        let names: Vec<String> = class.matched().map(|r| r.to_string()).collect();
        super::security_alert(tx, ctx, &ticket, &names.join("; "))?;
    }
    match &approver {
        // Technicians hear of it once it is approved.
        Some(a) => {
            super::request_approval(tx, ctx, &ticket, a)?;
        }
        None => {
            let to = &intake.candidates;
            super::notify_technicians(tx, ctx, &ticket, to, NewFor::New, held.as_deref())?
        }
    }
    tracing::info!(ticket = id, acknowledged, priority = %class.priority, category = ?class.category, "ticket created");
    Ok((id, acknowledged))
}

/// The ticket row, its people, its message, the events that explain it and its SLA clock.
fn insert(
    tx: &Connection,
    ctx: &Ctx<'_>,
    intake: &Intake<'_>,
    arrival: &Arrival<'_>,
    sender: &Address,
) -> Result<Ticket> {
    let (cfg, now, msg, class) = (ctx.cfg, ctx.now, arrival.msg, &intake.class);
    let subject = match intake.subject.as_str() {
        "" => labels::no_subject(&intake.language),
        s => s,
    };
    let id = store::tickets::insert(
        tx,
        &store::tickets::NewTicket {
            subject,
            requester_email: &sender.email,
            requester_name: sender.name.as_deref(),
            status: Status::Open,
            priority: Some(&class.priority),
            category: class.category.as_deref(),
            level: intake.level,
            owner: intake.owner().map(|t| t.email.as_str()),
            language: &intake.language,
            parent_id: arrival.parent,
            mailbox: intake.via.as_deref(),
            now,
        },
    )?;
    store::tickets::add_participant(
        tx,
        id,
        &sender.email,
        sender.name.as_deref(),
        Role::Requester,
    )?;
    add_copied_participants(tx, cfg, id, msg, now)?;
    store_message(tx, cfg, id, MessageKind::Request, msg, arrival.raw, now)?;
    let event = |kind, detail: &str| store::events::add(tx, Some(id), now, "loket", kind, detail);
    store::events::add(
        tx,
        Some(id),
        now,
        &sender.email,
        EventKind::Created,
        &match msg.from {
            Some(_) => format!("via {}", arrival.source),
            None => format!(
                "via {} (no usable From; the requester is the Reply-To address)",
                arrival.source
            ),
        },
    )?;
    if let Some(note) = &arrival.note {
        event(EventKind::Threading, note)?;
        tracing::warn!(ticket = id, note, "tag or reference not followed");
    }
    for rule in class.matched() {
        event(EventKind::Rule, &rule.to_string())?;
    }
    event(EventKind::Classified, &class.to_string())?;
    if let Some(owner) = intake.by_turn {
        // The detail is the bare address: the next round-robin turn reads it back.
        event(EventKind::Assigned, &owner.email)?;
    }
    if let Some(owner) = intake.by_rule {
        event(EventKind::AssignedByRule, &owner.email)?;
    }
    let ticket = store::tickets::get(tx, id)?.context("ticket just inserted")?;
    super::start_sla(tx, cfg, &ticket, now)?;
    Ok(ticket)
}

/// Whose approval the ticket waits for. "manager" with no department for this requester:
/// nobody to ask. The technicians see it in the events and decide; the ticket is not stuck.
fn approver(
    tx: &Connection,
    ctx: &Ctx<'_>,
    intake: &Intake<'_>,
    id: i64,
) -> Result<Option<String>> {
    Ok(match &intake.approver {
        Some(Some(a)) => Some(a.clone()),
        Some(None) => {
            super::record(
                tx,
                ctx,
                id,
                EventKind::ApprovalUnresolved,
                "the rules ask for the requester's manager, and no [[departments]] entry lists the requester",
            )?;
            None
        }
        None => None,
    })
}

/// Queues the acknowledgement; `false` (and an event saying why) when the requester's address
/// cannot be mailed. A database error is temporary: the whole message is offered again.
fn acknowledge(
    tx: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    msg: &Inbound,
    approver: Option<&str>,
    requester: &str,
) -> Result<bool> {
    let id = ticket.id;
    let clock = store::tickets::sla_clock(tx, id)?;
    match mails::About::new(tx, ctx, ticket).ack(msg, &clock, approver) {
        Ok(_) => {
            super::record(tx, ctx, id, EventKind::AckQueued, requester)?;
            Ok(true)
        }
        Err(e) if e.downcast_ref::<rusqlite::Error>().is_some() => Err(e),
        Err(e) => {
            // A requester address lettre cannot send to must not cost the ticket.
            super::record(tx, ctx, id, EventKind::AckFailed, &format!("{e:#}"))?;
            tracing::warn!(ticket = id, error = %format!("{e:#}"), "acknowledgement not queued");
            Ok(false)
        }
    }
}
