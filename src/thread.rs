//! Which ticket is a message for? The subject tag `[HD-42]` first, then In-Reply-To/References
//! (and the message's own Message-ID) against every message Loket stored or sent; otherwise a
//! new ticket. A tag or reference only counts when the sender belongs to the ticket: an outsider
//! who copies a tag into a subject
//! cannot add text to someone else's ticket.

use std::sync::Mutex;

use anyhow::Result;
use regex::Regex;
use rusqlite::Connection;

use crate::config::Config;
use crate::inbound::Inbound;
use crate::store::{self, Ticket};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Tag,
    Reference,
}

#[derive(Debug, Clone)]
pub enum Placement {
    /// The message belongs on this ticket.
    Existing { ticket: Ticket, by: Match },
    /// A new ticket. `note` says why a tag or reference that was present was not followed, for
    /// the events table.
    New { note: Option<String> },
}

/// The tag pattern for `prefix`, compiled once per prefix and then shared: with Unicode `\s` and
/// `\d` and any case, compiling it costs more than the rest of threading a message.
fn tag_regex(prefix: &str) -> Regex {
    static CACHE: Mutex<Vec<(String, Regex)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, re)) = cache.iter().find(|(p, _)| p == prefix) {
        return re.clone();
    }
    // The prefix is validated as ASCII alphanumerics at config load, so it needs no escaping;
    // escape anyway so this function is safe on its own.
    let re = Regex::new(&format!(
        r"(?i)\[\s*{}-(\d{{1,18}})\s*\]",
        regex::escape(prefix)
    ))
    .unwrap_or_else(|_| {
        // Unreachable with an escaped prefix; a regex that never matches keeps this total.
        Regex::new(r"[^\s\S]").expect("static regex")
    });
    cache.push((prefix.to_string(), re.clone()));
    re
}

/// The ticket number of the first `[PREFIX-n]` tag in the subject, wherever it stands (after
/// Re:/AW:/TR:/Balas: or in the middle, as some phones put it).
pub fn tag_in_subject(subject: &str, prefix: &str) -> Option<i64> {
    tag_regex(prefix)
        .captures(subject)
        .and_then(|c| c.get(1))
        .and_then(|m| m.as_str().parse().ok())
}

/// The subject with every tag of ours removed and whitespace tidied: the base for a new tag.
pub fn strip_tags(subject: &str, prefix: &str) -> String {
    let stripped = tag_regex(prefix).replace_all(subject, " ");
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `[HD-42] subject`, never with a second tag, never empty.
pub fn tagged_subject(prefix: &str, ticket: i64, subject: &str, empty_placeholder: &str) -> String {
    let base = strip_tags(subject, prefix);
    let base = if base.is_empty() {
        empty_placeholder
    } else {
        base.as_str()
    };
    format!("[{prefix}-{ticket}] {base}")
}

/// Whether `email` may write to the ticket: the requester, a participant, an approver asked
/// about it, or (when `technician`, decided by `decide::authn`) a technician.
pub fn may_write(
    conn: &Connection,
    ticket: &Ticket,
    email: &str,
    technician: bool,
) -> Result<bool> {
    Ok(ticket.requester_email == email
        || technician
        || store::tickets::is_participant(conn, ticket.id, email)?
        || store::approvals::is_approver(conn, ticket.id, email)?)
}

/// Places a message: on the ticket its tag or references name (when the sender may write to
/// it), or on a new ticket.
pub fn locate(conn: &Connection, cfg: &Config, msg: &Inbound) -> Result<Placement> {
    let sender = msg.from.as_ref().map(|a| a.email.as_str()).unwrap_or("");
    let prefix = &cfg.helpdesk.tag_prefix;
    let technician = crate::decide::authn::technician(cfg, msg).is_some();

    let mut note = None;
    if let Some(n) = tag_in_subject(&msg.subject, prefix) {
        match store::tickets::get(conn, n)? {
            Some(ticket) if may_write(conn, &ticket, sender, technician)? => {
                return Ok(Placement::Existing {
                    ticket,
                    by: Match::Tag,
                });
            }
            Some(_) => {
                note = Some(format!(
                    "tag {prefix}-{n} ignored: sender {sender} is not the requester, a participant or a technician"
                ))
            }
            None => note = Some(format!("tag {prefix}-{n} names no ticket")),
        }
    }

    let mut refs: Vec<String> = msg.references.clone();
    refs.extend(msg.in_reply_to.iter().cloned());
    // A known Message-ID with new content is the same message sent again after an edit (or a
    // client that reuses IDs): it belongs where the first copy went.
    refs.push(msg.message_id.clone());
    if note.is_none() && !refs.is_empty() {
        if let Some(id) = store::messages::ticket_for_message_ids(conn, &refs)? {
            if let Some(ticket) = store::tickets::get(conn, id)? {
                if may_write(conn, &ticket, sender, technician)? {
                    return Ok(Placement::Existing {
                        ticket,
                        by: Match::Reference,
                    });
                }
                let tag = format!("{prefix}-{}", ticket.id);
                note = Some(format!(
                    "reference to {tag} ignored: sender {sender} is not the requester, a participant or a technician"
                ));
            }
        }
    }
    Ok(Placement::New { note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_found_after_reply_prefixes() {
        for s in [
            "[HD-42] Printer rusak",
            "Re: [HD-42] Printer rusak",
            "RE: RE: [HD-42] Printer rusak",
            "AW: [hd-42] Printer",
            "TR: Balas: [HD-42]",
            "Fwd: Printer rusak [HD-42]",
            "Balas: [ HD-42 ] x",
        ] {
            assert_eq!(tag_in_subject(s, "HD"), Some(42), "{s}");
        }
    }

    #[test]
    fn other_prefixes_and_malformed_tags_do_not_match() {
        for s in [
            "[HDX-42] a",
            "[XHD-42]",
            "HD-42 without brackets",
            "[HD-] x",
            "[HD-abc]",
            "",
        ] {
            assert_eq!(tag_in_subject(s, "HD"), None, "{s}");
        }
        assert_eq!(tag_in_subject("[HD-99999999999999999999999]", "HD"), None);
    }

    #[test]
    fn tagged_subject_never_doubles_the_tag() {
        assert_eq!(
            tagged_subject("HD", 7, "Printer rusak", "-"),
            "[HD-7] Printer rusak"
        );
        assert_eq!(
            tagged_subject("HD", 7, "[HD-7] Printer rusak", "-"),
            "[HD-7] Printer rusak"
        );
        assert_eq!(
            tagged_subject("HD", 8, "Re: [HD-7]  Printer", "-"),
            "[HD-8] Re: Printer"
        );
        assert_eq!(
            tagged_subject("HD", 9, "", "(tanpa subjek)"),
            "[HD-9] (tanpa subjek)"
        );
    }
}
