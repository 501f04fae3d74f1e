//! Everything that leaves Loket. `mails` has one function per kind of mail (its template and
//! the shape of its data); this module renders it, composes the bytes and writes them to the
//! outbox inside the caller's transaction, and the sender task (`smtp`) only ever sends what is
//! committed. `labels` holds every word Rust writes into a mail.

pub mod compose;
pub mod labels;
pub mod mails;
pub mod render;
pub mod smtp;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::config::Config;
use crate::inbound::{Address, Inbound};
use crate::model::EventKind;
use crate::store::{self, Ticket};
use compose::{Envelope, compose, new_message_id};
use render::Renderer;
// Callers name the labels here since before they had a module of their own.
pub use labels::{human_duration, level_label, status_label};
pub use mails::MailKind;

/// What every mail needs from its surroundings.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub renderer: &'a Renderer,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub fn tag(&self, ticket: i64) -> String {
        format!("{}-{}", self.cfg.helpdesk.tag_prefix, ticket)
    }

    pub fn local_time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.cfg.helpdesk.timezone)
            .format("%d-%m-%Y %H:%M %Z")
            .to_string()
    }

    /// The template values every mail about a ticket shares, in `lang` (labels).
    fn ticket_data(&self, t: &Ticket, lang: &str) -> Value {
        let owner_name = t.owner.as_deref().map(|o| {
            self.cfg
                .technician(o)
                .map(|tech| tech.name.clone())
                .unwrap_or_else(|| o.to_string())
        });
        // Templates that name the helpdesk name the address the ticket came in at.
        let (name, address) = self.cfg.sender_for(t.mailbox.as_deref());
        json!({
            "helpdesk": {"name": name, "address": address},
            "ticket": {
                "id": t.id,
                "tag": self.tag(t.id),
                "subject": t.subject,
                "status": t.status,
                "priority": t.priority,
                "category": t.category,
                "level": t.level,
                "owner": t.owner,
                "owner_name": owner_name,
                "priority_label": t.priority.as_deref()
                    .and_then(|p| crate::decide::rules::priority(self.cfg, p))
                    .map(|p| p.label.clone()),
                "category_label": t.category.as_deref()
                    .and_then(|c| crate::decide::rules::category(self.cfg, c))
                    .map(|c| c.label.clone()),
                "status_label": t.status.label(lang),
                "level_label": level_label(lang, t.level),
                "created_local": self.local_time(t.created_at),
            },
            "requester": {
                "email": t.requester_email,
                "name": t.requester_name,
                "display": t.requester_name.clone().unwrap_or_else(|| t.requester_email.clone()),
            },
        })
    }
}

/// One mail to queue about a ticket.
struct Queued<'a> {
    kind: MailKind,
    lang: &'a str,
    data: Value,
    to: Vec<Address>,
    cc: Vec<Address>,
    in_reply_to: Option<&'a str>,
    references: Vec<String>,
}

/// Renders, composes and writes one mail to the outbox, and records it on the ticket so replies
/// to it thread by In-Reply-To. Returns the outbox id.
fn queue(conn: &Connection, ctx: &Ctx<'_>, ticket: &Ticket, mut q: Queued<'_>) -> Result<i64> {
    let dropped = cap_recipients(&mut q.to, &mut q.cc, ctx.cfg.limits.max_recipients);
    if !dropped.is_empty() {
        let emails: Vec<&str> = dropped.iter().map(|a| a.email.as_str()).collect();
        let detail = format!(
            "{} mail: {}",
            q.kind.name(),
            dropped_recipients(&emails, ctx.cfg.limits.max_recipients)
        );
        store::events::add(
            conn,
            Some(ticket.id),
            ctx.now,
            "loket",
            EventKind::RecipientsDropped,
            &detail,
        )?;
        tracing::warn!(
            ticket = ticket.id,
            kind = q.kind.name(),
            dropped = dropped.len(),
            "recipients beyond limits.max_recipients not mailed"
        );
    }
    let rendered = ctx.renderer.render(q.kind.name(), q.lang, &q.data)?;
    let tag = ctx.tag(ticket.id);
    // The tag is what threads the answer back; an override template that forgets it still
    // gets it.
    let subject = if rendered.subject.contains(&format!("[{tag}]")) {
        rendered.subject.clone()
    } else {
        format!("[{tag}] {}", rendered.subject)
    };
    let rendered = render::Rendered {
        subject,
        ..rendered
    };
    let message_id = new_message_id(ctx.cfg.domain(), Some(ticket.id));
    // A ticket that came in at another helpdesk address is answered from that address.
    let (from_name, from_email) = ctx.cfg.sender_for(ticket.mailbox.as_deref());
    let composed = compose(
        &Envelope {
            from_name,
            from_email,
            to: &q.to,
            cc: &q.cc,
            in_reply_to: q.in_reply_to,
            references: &q.references,
            ticket_tag: Some(&tag),
            now: ctx.now,
        },
        &rendered,
        message_id,
    )?;
    let rcpt = composed.rcpt.join(",");
    store::messages::insert(
        conn,
        &store::messages::NewMessage {
            ticket_id: ticket.id,
            direction: "out",
            kind: q.kind.name(),
            message_id: &composed.message_id,
            content_hash: None,
            from_email: Some(from_email),
            from_name: Some(from_name),
            to_list: rcpt.clone(),
            cc_list: String::new(),
            subject: &rendered.subject,
            body: &rendered.text,
            date: Some(ctx.now),
            now: ctx.now,
            raw: None,
        },
    )?;
    store::outbox::enqueue(
        conn,
        &store::outbox::NewMail {
            ticket_id: Some(ticket.id),
            kind: q.kind.name(),
            message_id: &composed.message_id,
            envelope_from: &composed.envelope_from,
            rcpt: &rcpt,
            raw: &composed.raw,
            now: ctx.now,
        },
    )
}

/// Keeps at most `limit` distinct recipients, To before Cc, in order; returns the ones left out.
/// Duplicates (the same address in To and Cc) count once and are removed.
pub fn cap_recipients(to: &mut Vec<Address>, cc: &mut Vec<Address>, limit: u64) -> Vec<Address> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut seen: Vec<String> = Vec::new();
    let mut dropped = Vec::new();
    for list in [to, cc] {
        let all = std::mem::take(list);
        for a in all {
            if seen.contains(&a.email) {
                continue;
            }
            if seen.len() >= limit {
                dropped.push(a);
                continue;
            }
            seen.push(a.email.clone());
            list.push(a);
        }
    }
    dropped
}

/// The event text for addresses left out: how many, and the first few (a hostile mail may
/// copy thousands; the event stays readable).
pub(crate) fn dropped_recipients(dropped: &[&str], limit: u64) -> String {
    const SHOWN: usize = 10;
    let mut shown = dropped
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if dropped.len() > SHOWN {
        shown.push_str(&format!(" and {} more", dropped.len() - SHOWN));
    }
    format!(
        "{} address(es) beyond limits.max_recipients ({limit}) left out: {shown}",
        dropped.len()
    )
}

/// The thread a reply to `msg` continues: its references, then itself.
fn thread_of(msg: &Inbound) -> Vec<String> {
    let mut refs = msg.references.clone();
    if refs.is_empty() {
        refs.extend(msg.in_reply_to.iter().cloned());
    }
    if !msg.synthetic_message_id {
        refs.push(msg.message_id.clone());
    }
    // Long threads make long headers; the first and the latest references carry the thread.
    if refs.len() > 10 {
        let tail = refs.split_off(refs.len() - 9);
        refs.truncate(1);
        refs.extend(tail);
    }
    refs
}

/// The acknowledgement of a new ticket, to its requester. `extra` adds template values (the
/// priority's label and the SLA deadlines).
pub(crate) fn ack(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    msg: &Inbound,
    extra: Value,
) -> Result<i64> {
    let to = Address {
        name: ticket.requester_name.clone(),
        email: ticket.requester_email.clone(),
    };
    queue(
        conn,
        ctx,
        ticket,
        Queued {
            kind: MailKind::Ack,
            lang: &ticket.language,
            data: with_extra(ctx.ticket_data(ticket, &ticket.language), extra),
            to: vec![to],
            cc: vec![],
            in_reply_to: (!msg.synthetic_message_id).then_some(msg.message_id.as_str()),
            references: thread_of(msg),
        },
    )
}

/// A status as the requester reads it.
/// The references of a mail about `ticket` that answers nothing in particular: the message
/// that opened the conversation, so mail clients keep one thread.
fn ticket_thread(conn: &Connection, ticket: i64) -> Result<Vec<String>> {
    Ok(store::messages::thread_root(conn, ticket)?
        .filter(|id| !id.ends_with("@loket.invalid"))
        .into_iter()
        .collect())
}

/// Adds `extra`'s fields to the shared ticket values.
pub fn with_extra(mut data: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(more)) = (data.as_object_mut(), extra) {
        base.extend(more);
    }
    data
}

/// A mail about `ticket` to its requester (and, with `with_cc`, to the people they copied), in
/// the ticket's language.
fn to_requester(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    kind: MailKind,
    extra: Value,
    with_cc: bool,
) -> Result<i64> {
    let to = vec![Address {
        name: ticket.requester_name.clone(),
        email: ticket.requester_email.clone(),
    }];
    let cc = if with_cc {
        store::tickets::participants(conn, ticket.id)?
            .into_iter()
            .filter(|p| p.role == crate::model::Role::Cc && p.email != ticket.requester_email)
            .map(|p| Address {
                name: p.name,
                email: p.email,
            })
            .collect()
    } else {
        vec![]
    };
    in_thread(conn, ctx, ticket, (kind, &ticket.language), extra, (to, cc))
}

/// A mail about `ticket` to one person on the requester's side (the requester or someone
/// copied), in the ticket's language.
fn to_person(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    kind: MailKind,
    extra: Value,
    to: Address,
) -> Result<i64> {
    in_thread(
        conn,
        ctx,
        ticket,
        (kind, &ticket.language),
        extra,
        (vec![to], vec![]),
    )
}

/// Queues a mail about `ticket` in its thread (In-Reply-To the message that opened it).
fn in_thread(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    (kind, lang): (MailKind, &str),
    extra: Value,
    (to, cc): (Vec<Address>, Vec<Address>),
) -> Result<i64> {
    let references = ticket_thread(conn, ticket.id)?;
    queue(
        conn,
        ctx,
        ticket,
        Queued {
            kind,
            lang,
            data: with_extra(ctx.ticket_data(ticket, lang), extra),
            to,
            cc,
            in_reply_to: references.first().map(String::as_str),
            references: references.clone(),
        },
    )
}

/// A mail about `ticket` to technicians, in the helpdesk's language. Nothing is queued when
/// `to` is empty.
fn to_technicians(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    kind: MailKind,
    extra: Value,
    to: &[&crate::config::Technician],
) -> Result<Option<i64>> {
    let to = to
        .iter()
        .map(|t| Address {
            name: Some(t.name.clone()),
            email: t.email.clone(),
        })
        .collect();
    to_staff(conn, ctx, ticket, kind, extra, to)
}

/// A mail about `ticket` to people inside the organisation (technicians, managers, the IT
/// head), in the helpdesk's language. Nothing is queued when `to` is empty.
fn to_staff(
    conn: &Connection,
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    kind: MailKind,
    extra: Value,
    to: Vec<Address>,
) -> Result<Option<i64>> {
    if to.is_empty() {
        return Ok(None);
    }
    let lang = ctx.cfg.helpdesk.language.as_str();
    in_thread(conn, ctx, ticket, (kind, lang), extra, (to, vec![])).map(Some)
}

/// The answer to a question asked by mail, which opened no ticket: to `to`, in `lang`,
/// In-Reply-To the question, `Auto-Submitted: auto-replied`, from the `[helpdesk]` address.
/// `about` is the ticket it is about, if one: its tag goes in the subject, so a reply to the
/// answer lands on that ticket.
pub fn queue_answer(
    conn: &Connection,
    ctx: &Ctx<'_>,
    (kind, lang): (MailKind, &str),
    data: &Value,
    to: Address,
    question: &Inbound,
    about: Option<i64>,
) -> Result<i64> {
    let rendered = ctx.renderer.render(kind.name(), lang, data)?;
    let tag = about.map(|id| ctx.tag(id));
    let subject = match &tag {
        Some(tag) if !rendered.subject.contains(&format!("[{tag}]")) => {
            format!("[{tag}] {}", rendered.subject)
        }
        _ => rendered.subject.clone(),
    };
    let rendered = render::Rendered {
        subject,
        ..rendered
    };
    let composed = compose(
        &Envelope {
            from_name: &ctx.cfg.helpdesk.name,
            from_email: &ctx.cfg.helpdesk.address,
            to: &[to],
            cc: &[],
            in_reply_to: (!question.synthetic_message_id).then_some(question.message_id.as_str()),
            references: &thread_of(question),
            ticket_tag: tag.as_deref(),
            now: ctx.now,
        },
        &rendered,
        new_message_id(ctx.cfg.domain(), about),
    )?;
    store::outbox::enqueue(
        conn,
        &store::outbox::NewMail {
            ticket_id: about,
            kind: kind.name(),
            message_id: &composed.message_id,
            envelope_from: &composed.envelope_from,
            rcpt: &composed.rcpt.join(","),
            raw: &composed.raw,
            now: ctx.now,
        },
    )
}

/// A mail about no ticket to people inside the organisation (the managers' digest and monthly
/// recap), in `lang`: rendered, composed with its inline images and attachments, and written to
/// the outbox (no ticket, so nothing threads back to one) inside the caller's transaction.
/// Returns the outbox id.
#[allow(clippy::too_many_arguments)]
pub fn queue_report(
    conn: &Connection,
    ctx: &Ctx<'_>,
    kind: MailKind,
    lang: &str,
    data: &Value,
    to: &[Address],
    inline: &[compose::Inline<'_>],
    attachments: &[compose::Attached<'_>],
) -> Result<i64> {
    let rendered = ctx.renderer.render(kind.name(), lang, data)?;
    let mut to = to.to_vec();
    let dropped = cap_recipients(&mut to, &mut Vec::new(), ctx.cfg.limits.max_recipients);
    if !dropped.is_empty() {
        tracing::warn!(
            kind = kind.name(),
            dropped = dropped.len(),
            "report recipients beyond limits.max_recipients not mailed"
        );
    }
    let composed = compose::compose_report(
        &Envelope {
            from_name: &ctx.cfg.helpdesk.name,
            from_email: &ctx.cfg.helpdesk.address,
            to: &to,
            cc: &[],
            in_reply_to: None,
            references: &[],
            ticket_tag: None,
            now: ctx.now,
        },
        &rendered,
        inline,
        attachments,
        new_message_id(ctx.cfg.domain(), None),
    )?;
    store::outbox::enqueue(
        conn,
        &store::outbox::NewMail {
            ticket_id: None,
            kind: kind.name(),
            message_id: &composed.message_id,
            envelope_from: &composed.envelope_from,
            rcpt: &composed.rcpt.join(","),
            raw: &composed.raw,
            now: ctx.now,
        },
    )
}
