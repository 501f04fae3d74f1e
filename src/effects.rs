//! Turns decided ticket changes into what they cause: the ticket row, one event per change, and
//! the mails that tell the people concerned. Shared by the pipeline (a technician's commands, a
//! requester's reply) and the scheduler (auto-closure), always inside the caller's transaction,
//! so a change and its mails are committed together or not at all.

use anyhow::Result;
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::config::{Config, Technician};
use crate::decide::lifecycle::{self, Change, Known, Plan};
use crate::outbound::{self, Ctx};
use crate::store::{self, Ticket};

/// The priorities and categories commands are checked against.
pub fn known(cfg: &Config) -> Known<'_> {
    Known {
        cfg,
        priorities: vec!["P1".into(), "P2".into(), "P3".into()],
        categories: vec![],
    }
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
    why: &str,
    reason: Option<&str>,
) -> Result<()> {
    if to.is_empty() {
        return Ok(());
    }
    let (text, attachments) = request_text(conn, ticket.id)?;
    let lang = ctx.cfg.helpdesk.language.as_str();
    let label = match (why, lang) {
        ("assigned", "id") => "Tiket dialihkan kepada Anda".to_string(),
        ("assigned", _) => "Ticket assigned to you".to_string(),
        ("escalated", "id") => format!("Tiket dieskalasi ke L{}", ticket.level),
        ("escalated", _) => format!("Ticket escalated to L{}", ticket.level),
        (_, "id") => "Tiket baru".to_string(),
        _ => "New ticket".to_string(),
    };
    outbound::to_technicians(
        conn,
        ctx,
        ticket,
        "tech_new",
        json!({"reason_label": label, "reason": reason, "text": text, "attachments": attachments}),
        to,
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
    let author_json = author.map(|a| json!({"name": a.name, "email": a.email}));
    for change in &plan.changes {
        let (kind, detail) = change.event();
        store::events::add(conn, Some(t.id), ctx.now, actor, kind, &detail)?;
        match change {
            Change::Status { from, to, note } => {
                let lang = t.language.as_str();
                let (mail, extra) = match to.as_str() {
                    "resolved" => (
                        "resolved",
                        json!({
                            "note": note,
                            "author": author_json,
                            "auto_close": outbound::human_duration(lang, cfg.lifecycle.auto_close_after),
                        }),
                    ),
                    "closed" => ("closed", json!({ "note": note })),
                    "rejected" => ("rejected", json!({ "note": note })),
                    _ => (
                        "status",
                        json!({
                            "note": note,
                            "waiting": to == "waiting",
                            "change": {
                                "from": from,
                                "to": to,
                                "from_label": outbound::status_label(lang, from),
                                "to_label": outbound::status_label(lang, to),
                            },
                        }),
                    ),
                };
                outbound::to_requester(conn, ctx, t, mail, extra, false)?;
            }
            Change::Owner { to, .. } => {
                // An escalation clears the owner; the level mail already says who handles it.
                if escalated && to.is_none() {
                    continue;
                }
                let name = to
                    .as_deref()
                    .map(|o| cfg.technician(o).map_or(o, |tech| tech.name.as_str()));
                outbound::to_requester(
                    conn,
                    ctx,
                    t,
                    "owner",
                    json!({"owner": {"name": name}}),
                    false,
                )?;
                if let Some(tech) = to.as_deref().and_then(|o| cfg.technician(o)) {
                    if author.is_none_or(|a| a.email != tech.email) {
                        notify_technicians(conn, ctx, t, &[tech], "assigned", None)?;
                    }
                }
            }
            Change::Level { reason, .. } => {
                outbound::to_requester(conn, ctx, t, "level", json!({ "reason": reason }), false)?;
                let level_techs = lifecycle::candidates(cfg, t.level, t.category.as_deref());
                notify_technicians(conn, ctx, t, &level_techs, "escalated", reason.as_deref())?;
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
                outbound::to_technicians(
                    conn,
                    ctx,
                    t,
                    "tech_note",
                    json!({"text": text, "author": author_json}),
                    &to,
                )?;
            }
            Change::Cc(address) => {
                store::tickets::add_participant(conn, t.id, address, None, "cc")?;
            }
            Change::Priority { .. } | Change::Category { .. } => {}
        }
    }
    Ok(())
}

/// Extra template values for a mail that quotes someone.
pub fn person(name: Option<&str>, email: &str) -> Value {
    json!({"name": name.unwrap_or(email), "email": email})
}
