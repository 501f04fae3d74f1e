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
    /// Whether `s` literally holds `[PREFIX-n]` (any case, spaces inside the brackets, leading
    /// zeros): the independent check of what `tag_in_subject` may return.
    fn literally_tagged(s: &str, n: i64) -> bool {
        let lower = s.to_lowercase();
        let mut from = 0;
        while let Some(i) = lower[from..].find("hd-") {
            let at = from + i;
            from = at + 3;
            let before = lower[..at].trim_end();
            let digits: String = lower[at + 3..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let after = lower[at + 3 + digits.len()..].trim_start();
            let value = digits.trim_start_matches('0');
            let value = if value.is_empty() && !digits.is_empty() {
                "0"
            } else {
                value
            };
            if before.ends_with('[') && after.starts_with(']') && value == n.to_string() {
                return true;
            }
        }
        false
    }

    fn renderer() -> &'static crate::outbound::render::Renderer {
        static R: std::sync::OnceLock<crate::outbound::render::Renderer> =
            std::sync::OnceLock::new();
        R.get_or_init(|| crate::outbound::render::Renderer::new(None).expect("templates"))
    }

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
            let sent = renderer().render("ack", lang, &data).unwrap().subject;
            let reply = format!("{before}{sent}{after}");
            proptest::prop_assert_eq!(tag_in_subject(&reply, "HD"), Some(n), "{}", reply);
            let built = tagged_subject("HD", n, &original, "-");
            proptest::prop_assert_eq!(tag_in_subject(&format!("{before}{built}{after}"), "HD"), Some(n));
        }

        /// Random text never panics, and a tag is found only where one is written.
        #[test]
        fn random_subjects_yield_only_tags_that_are_there(
            s in "(\\PC|\\[|\\]|HD-|hd-|Hd-|[0-9]|0| |\\t){0,60}",
        ) {
            if let Some(n) = tag_in_subject(&s, "HD") {
                proptest::prop_assert!(literally_tagged(&s, n), "{:?} -> {}", s, n);
            }
            let stripped = strip_tags(&s, "HD");
            proptest::prop_assert_eq!(tag_in_subject(&stripped, "HD"), None, "{:?} -> {:?}", s, stripped);
        }
    }

    #[test]
    fn stripping_a_tag_cannot_assemble_another() {
        assert_eq!(strip_tags("[[HD-1]HD-2] x", "HD"), "x");
        assert_eq!(tagged_subject("HD", 9, "[[HD-1]HD-2] x", "-"), "[HD-9] x");
    }
}
