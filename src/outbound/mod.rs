//! Everything that leaves Loket. One small function per kind of mail renders its template,
//! composes the bytes and writes them to the outbox, inside the caller's transaction; the
//! sender task (`smtp`) only ever sends what is committed.

pub mod compose;
pub mod render;
pub mod smtp;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::config::Config;
use crate::inbound::{Address, Inbound};
use crate::store::{self, Ticket};
use compose::{Envelope, compose, new_message_id};
use render::Renderer;

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

    /// The template values every mail about a ticket shares.
    fn ticket_data(&self, t: &Ticket) -> Value {
        json!({
            "helpdesk": {"name": self.cfg.helpdesk.name, "address": self.cfg.helpdesk.address},
            "ticket": {
                "id": t.id,
                "tag": self.tag(t.id),
                "subject": t.subject,
                "status": t.status,
                "priority": t.priority,
                "category": t.category,
                "level": t.level,
                "owner": t.owner,
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
    kind: &'a str,
    lang: &'a str,
    data: Value,
    to: Vec<Address>,
    cc: Vec<Address>,
    in_reply_to: Option<&'a str>,
    references: Vec<String>,
}

/// Renders, composes and writes one mail to the outbox, and records it on the ticket so replies
/// to it thread by In-Reply-To. Returns the outbox id.
fn queue(conn: &Connection, ctx: &Ctx<'_>, ticket: &Ticket, q: Queued<'_>) -> Result<i64> {
    let rendered = ctx.renderer.render(q.kind, q.lang, &q.data)?;
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
    let composed = compose(
        &Envelope {
            from_name: &ctx.cfg.helpdesk.name,
            from_email: &ctx.cfg.helpdesk.address,
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
            kind: q.kind,
            message_id: &composed.message_id,
            content_hash: None,
            from_email: Some(&ctx.cfg.helpdesk.address),
            from_name: Some(&ctx.cfg.helpdesk.name),
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
            kind: q.kind,
            message_id: &composed.message_id,
            envelope_from: &composed.envelope_from,
            rcpt: &rcpt,
            raw: &composed.raw,
            now: ctx.now,
        },
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

/// The acknowledgement of a new ticket, to its requester.
pub fn ack(conn: &Connection, ctx: &Ctx<'_>, ticket: &Ticket, msg: &Inbound) -> Result<i64> {
    let to = Address {
        name: ticket.requester_name.clone(),
        email: ticket.requester_email.clone(),
    };
    queue(
        conn,
        ctx,
        ticket,
        Queued {
            kind: "ack",
            lang: &ticket.language,
            data: ctx.ticket_data(ticket),
            to: vec![to],
            cc: vec![],
            in_reply_to: (!msg.synthetic_message_id).then_some(msg.message_id.as_str()),
            references: thread_of(msg),
        },
    )
}
