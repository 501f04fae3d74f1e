//! Which ticket is a message for? The subject tag `[HD-42]` first, then In-Reply-To/References
//! (and the message's own Message-ID) against every message Loket stored or sent; otherwise a
//! new ticket. A tag or reference only counts when the sender belongs to the ticket: an outsider
//! who copies a tag into a subject
//! cannot add text to someone else's ticket. Mail to a ticket merged into another goes to that
//! other ticket.

use anyhow::Result;
use rusqlite::Connection;

use crate::config::Config;
use crate::inbound::Inbound;
use crate::store::{self, Ticket};

// The subject-tag functions and the placement types are pure and live in `decide`, which
// reads them; they are re-exported here, where threading's callers have always found them.
pub use crate::decide::tags::{strip_tags, tag_in_subject, tagged_subject};
pub use crate::decide::{Match, Placement};

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

/// The ticket mail to `ticket` goes to: the one it was merged into (`#merge`), else itself.
fn merged_onto(conn: &Connection, ticket: Option<Ticket>) -> Result<Option<Ticket>> {
    match ticket {
        Some(t) if t.merged_into.is_some() => {
            let target = store::service::merge_target(conn, t.id)?;
            Ok(store::tickets::get(conn, target)?.or(Some(t)))
        }
        other => Ok(other),
    }
}

/// How many tickets one reused Message-ID is looked up on: a hostile sender may reuse one ID a
/// thousand times, and threading must stay one indexed lookup per reference.
const MAX_TICKETS_PER_ID: usize = 8;

/// Places a message: on the ticket its tag or references name (when the sender may write to
/// it), or on a new ticket.
pub fn locate(conn: &Connection, cfg: &Config, msg: &Inbound) -> Result<Placement> {
    let sender = msg.from.as_ref().map(|a| a.email.as_str()).unwrap_or("");
    let prefix = &cfg.helpdesk.tag_prefix;
    let technician = crate::decide::authn::technician(cfg, msg).is_some();

    let mut note = None;
    if let Some(n) = tag_in_subject(&msg.subject, prefix) {
        match merged_onto(conn, store::tickets::get(conn, n)?)? {
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
        // References list oldest first; the newest is the best guess of the thread. Of the
        // tickets one Message-ID stands on (a reused ID), the sender's own counts: the newest one
        // they may write to, else none.
        let mut refused = None;
        for id in refs.iter().rev() {
            for t in store::messages::tickets_for_message_id(conn, id, MAX_TICKETS_PER_ID)? {
                let Some(ticket) = merged_onto(conn, store::tickets::get(conn, t)?)? else {
                    continue;
                };
                if may_write(conn, &ticket, sender, technician)? {
                    return Ok(Placement::Existing {
                        ticket,
                        by: Match::Reference,
                    });
                }
                refused.get_or_insert(ticket.id);
            }
            if refused.is_some() {
                break;
            }
        }
        if let Some(t) = refused {
            note = Some(format!(
                "reference to {prefix}-{t} ignored: sender {sender} is not the requester, a participant or a technician"
            ));
        }
    }
    Ok(Placement::New { note })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What people and their mail clients put around a subject.
    const AROUND: &str = "(Re: |RE: |AW: |Fwd: |FW: |TR: |Balas: |\\[EXTERNAL\\] |\\[SPAM\\] |【外部】|\\(HD-1\\) |[\\[\\]()0-9 -]|\\PC){0,12}";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The subject of every mail Loket sends about ticket n (the ack template, in both
        /// languages, around any subject the requester wrote) threads back to n, whatever a
        /// mail client or a person puts in front of or behind it.
        #[test]
        fn loket_subjects_parse_back_to_their_ticket(
            n in 1i64..1_000_000_000_000,
            original in "(\\PC|\\[HD-[0-9]{1,3}\\]|[\\[\\] ]){0,40}",
            before in AROUND,
            after in AROUND,
            english in proptest::bool::ANY,
        ) {
            proptest::prop_assume!(tag_in_subject(&before, "HD").is_none());
            let data = serde_json::json!({
                "ticket": {"tag": format!("HD-{n}"), "id": n, "subject": strip_tags(&original, "HD")},
                "helpdesk": {"name": "IT"},
                "requester": {"display": "R"},
            });
            let lang = if english { "en" } else { "id" };
            let sent = crate::fixtures::renderer().render("ack", lang, &data).unwrap().subject;
            let reply = format!("{before}{sent}{after}");
            proptest::prop_assert_eq!(tag_in_subject(&reply, "HD"), Some(n), "{}", reply);
            let built = tagged_subject("HD", n, &original, "-");
            proptest::prop_assert_eq!(tag_in_subject(&format!("{before}{built}{after}"), "HD"), Some(n));
        }
    }
}
