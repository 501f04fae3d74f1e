//! An incoming message as it is kept on a ticket: the message row with its raw bytes, its
//! attachments within `[limits]`, and the people it copied as participants. Shared by a new
//! ticket (`open`) and a reply (`replies`), inside the caller's transaction.

use anyhow::Result;
use rusqlite::Connection;

use crate::config::Config;
use crate::inbound::Inbound;
use crate::model::{EventKind, MessageKind, Role};
use crate::store;

fn join(list: &[crate::inbound::Address]) -> String {
    list.iter()
        .map(|a| a.email.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Why attachment number `i` (from 0) of a message is not kept, if it is not: `[limits]`.
fn dropped(cfg: &Config, i: usize, a: &crate::inbound::Attachment) -> Option<String> {
    if i as u64 >= cfg.limits.max_attachments {
        Some(format!(
            "beyond limits.max_attachments ({} per message)",
            cfg.limits.max_attachments
        ))
    } else if a.data.len() as u64 > cfg.limits.max_attachment_bytes {
        Some(format!(
            "larger than limits.max_attachment_bytes ({} bytes)",
            cfg.limits.max_attachment_bytes
        ))
    } else {
        None
    }
}

/// The raw copy to keep: `raw` itself, or, when attachments are not kept, `raw` with their
/// bodies replaced by a note (in the part's own transfer encoding, so the copy still parses
/// and the note reads as the part's content). A limit then holds on disk too: the bytes of a
/// 30 MiB attachment are nowhere in the store.
fn raw_copy<'r>(
    raw: &'r [u8],
    cut: &[(crate::inbound::RawSpan, String)],
) -> std::borrow::Cow<'r, [u8]> {
    if cut.is_empty() {
        return raw.into();
    }
    let mut spans: Vec<_> = cut.iter().collect();
    spans.sort_by_key(|(s, _)| s.start);
    let mut out = Vec::with_capacity(raw.len().min(1 << 20));
    let mut at = 0;
    for (span, why) in spans {
        if span.start < at || span.end > raw.len() {
            // Overlapping or out of range (a parser oddity): the header block and a note, rather
            // than any chance of keeping the attachment.
            let head = crate::inbound::parse::header_block_len(raw).min(raw.len());
            let mut out = raw[..head].to_vec();
            out.extend_from_slice(
                b"\r\n[body removed by Loket: an attachment over [limits] could not be cut out alone]\r\n",
            );
            return out.into();
        }
        out.extend_from_slice(&raw[at..span.start]);
        let note = format!(
            "[attachment removed by Loket: {why}; {} bytes not kept]\r\n",
            span.end - span.start
        );
        if span.base64 {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(note.as_bytes());
            out.extend_from_slice(encoded.as_bytes());
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(note.as_bytes());
        }
        at = span.end;
    }
    out.extend_from_slice(&raw[at..]);
    out.into()
}

/// Stores `msg` (with its raw bytes) on `ticket` as `kind`, and its attachments within
/// `[limits]`: those beyond a limit are listed as dropped, never silently left out, and their
/// bytes are cut from the raw copy too.
pub fn store_message(
    conn: &Connection,
    cfg: &Config,
    ticket: i64,
    kind: MessageKind,
    msg: &Inbound,
    raw: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    let verdicts: Vec<Option<String>> = msg
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| dropped(cfg, i, a))
        .collect();
    let cut: Vec<_> = msg
        .attachments
        .iter()
        .zip(&verdicts)
        .filter_map(|(a, why)| Some((a.raw_body?, why.clone()?)))
        .collect();
    let kept = raw_copy(raw, &cut);
    let id = store::messages::insert(
        conn,
        &store::messages::NewMessage {
            ticket_id: ticket,
            direction: "in",
            kind: kind.as_str(),
            message_id: &msg.message_id,
            content_hash: Some(&msg.content_hash),
            from_email: msg.from.as_ref().map(|a| a.email.as_str()),
            from_name: msg.from.as_ref().and_then(|a| a.name.as_deref()),
            to_list: join(&msg.to),
            cc_list: join(&msg.cc),
            subject: &msg.subject,
            body: &msg.text,
            date: msg.date,
            now,
            raw: Some(&kept),
        },
    )?;
    for (a, dropped) in msg.attachments.iter().zip(&verdicts) {
        store::messages::add_attachment(
            conn,
            id,
            &a.name,
            &a.content_type,
            &a.data,
            dropped.as_deref(),
        )?;
    }
    Ok(id)
}

/// People the sender copied (To and Cc, less the helpdesk and technicians) may follow and write
/// to the ticket. Every mail to the requester's side goes to them too, so their number is
/// bounded: with the requester, at most `limits.max_recipients`. Those beyond it are recorded on
/// the ticket as dropped, never silently ignored.
pub fn add_copied_participants(
    conn: &Connection,
    cfg: &Config,
    ticket: i64,
    msg: &Inbound,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let room = usize::try_from(cfg.limits.max_recipients.saturating_sub(1)).unwrap_or(usize::MAX);
    let mut present = store::tickets::participants(conn, ticket)?
        .into_iter()
        .filter(|p| p.role == Role::Cc)
        .count();
    let mut dropped: Vec<&str> = Vec::new();
    for a in msg.to.iter().chain(msg.cc.iter()) {
        if cfg.is_helpdesk_address(&a.email) || cfg.technician(&a.email).is_some() {
            continue;
        }
        if store::tickets::is_participant(conn, ticket, &a.email)? {
            // Already on the ticket: this only fills in a missing name.
            store::tickets::add_participant(conn, ticket, &a.email, a.name.as_deref(), Role::Cc)?;
            continue;
        }
        if present >= room {
            if !dropped.contains(&a.email.as_str()) {
                dropped.push(&a.email);
            }
            continue;
        }
        store::tickets::add_participant(conn, ticket, &a.email, a.name.as_deref(), Role::Cc)?;
        present += 1;
    }
    if !dropped.is_empty() {
        let detail = crate::outbound::dropped_recipients(&dropped, cfg.limits.max_recipients);
        store::events::add(
            conn,
            Some(ticket),
            now,
            "loket",
            EventKind::RecipientsDropped,
            &detail,
        )?;
        tracing::warn!(
            ticket,
            dropped = dropped.len(),
            "copied addresses beyond limits.max_recipients not added"
        );
    }
    Ok(())
}
