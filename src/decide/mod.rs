//! What happens to a message, decided without I/O: the message, where threading placed it, and a
//! few facts the store looked up go in; the action and the mails to send come out. Everything
//! the helpdesk knows about loops, bounces and acknowledgements lives here, where it is quick to
//! test and cannot be half-applied.

pub mod approval;
pub mod authn;
// The business calendar is a leaf the config compiles too; `decide::calendar` is its old path.
pub use crate::calendar;
pub mod commands;
pub mod intake;
pub mod lifecycle;
pub mod queries;
pub mod quote;
pub mod rules;
pub mod satisfaction;
pub mod sla;
pub mod tags;
pub mod words;

use crate::inbound::{AutoKind, Inbound};
use crate::model::MessageKind;
use crate::model::Ticket;

/// Facts about the message that only the store or the config can tell.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The sender is the helpdesk's own address.
    pub from_helpdesk: bool,
    /// The Message-ID is one Loket itself sent: our own mail came back.
    pub is_our_message_id: bool,
    /// For bounces: the ticket the bounced mail belonged to.
    pub bounce_ticket: Option<i64>,
    /// Acknowledgements already sent (or queued) to this sender within the rate window.
    pub recent_acks: u32,
    /// The most acknowledgements one sender may receive within the window (a backstop).
    pub ack_limit: u32,
    /// New requests from this sender within the window with exactly this subject and text.
    pub same_text_recent: u32,
    /// At this many requests with one text (this one included) the sender is a responder.
    pub loop_repeats: u32,
    /// The text names a ticket whose acknowledgement went to this sender moments ago
    /// (`helpdesk.loop_quick_reply`): an answer to it, written by a machine.
    pub answers_recent_ack: Option<i64>,
    /// The sender is a configured technician.
    pub technician: bool,
    /// Answers to questions (`#status`) sent to this sender within the rate window; counted
    /// against `ack_limit` too, only for a mail that [`queries::might_ask`].
    pub recent_answers: u32,
    /// The message is on a ticket that takes a rating from this sender now (`[satisfaction]`:
    /// enabled, the ticket closed or, with `on_resolved`, resolved within the window, and the
    /// sender its requester or a copied person).
    pub may_rate: bool,
}

/// How a message found its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Tag,
    Reference,
}

/// Where `thread::locate` put a message.
#[derive(Debug, Clone)]
pub enum Placement {
    /// The message belongs on this ticket.
    Existing { ticket: Ticket, by: Match },
    /// A new ticket. `note` says why a tag or reference that was present was not followed, for
    /// the events table.
    New { note: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a new ticket for the sender. `note` goes to the events table.
    NewTicket { note: Option<String> },
    /// Add the message to an existing ticket as `kind`.
    Append { ticket: i64, kind: MessageKind },
    /// Keep the raw bytes aside, with the reason.
    Quarantine { reason: String },
    /// Store nothing beyond a log line (our own mail echoed back, a question not answered).
    Ignore { reason: String },
    /// A question asked by mail: answer it, open no ticket (`effects::queries`).
    Answer(queries::Asked),
    /// The requester's rating of a resolved or closed ticket: stored with the message, neither
    /// relayed nor a reopening (`effects::satisfaction`).
    Rate {
        ticket: i64,
        rating: satisfaction::Rating,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// Send the sender an acknowledgement of their new ticket.
    pub acknowledge: bool,
    /// Why no acknowledgement goes out when a new ticket gets none (for the events table).
    pub no_ack_reason: Option<String>,
}

/// Why an automatic answer to this sender would be wrong, if it would.
pub fn why_not_answer(msg: &Inbound, facts: &Facts) -> Option<String> {
    if facts.from_helpdesk {
        return Some("sender is the helpdesk's own address".into());
    }
    match msg.auto {
        AutoKind::Person => {}
        AutoKind::AutoReply => return Some("automatic reply (Auto-Submitted/X-Autoreply)".into()),
        AutoKind::Bulk => return Some("bulk or list mail (Precedence/List-Id)".into()),
        AutoKind::Bounce => return Some("delivery status notification".into()),
        AutoKind::NoReply => return Some("sender does not read replies (no-reply address)".into()),
    }
    // What marks a loop, not a count a busy person reaches: the same text again and again, or
    // an answer to our acknowledgement that arrives as a new request within moments.
    if facts.loop_repeats >= 2 && facts.same_text_recent + 1 >= facts.loop_repeats {
        return Some(format!(
            "looks like an automatic responder: the same subject and text {} times within the \
             rate window (helpdesk.loop_repeats)",
            facts.same_text_recent + 1
        ));
    }
    if let Some(ticket) = facts.answers_recent_ack {
        return Some(format!(
            "looks like an automatic responder: answers the acknowledgement of ticket {ticket} \
             within helpdesk.loop_quick_reply, as a new request"
        ));
    }
    if facts.recent_acks >= facts.ack_limit {
        return Some(format!(
            "acknowledgement rate limit reached ({} in the window, helpdesk.ack_rate_limit)",
            facts.recent_acks
        ));
    }
    None
}

/// Why a question must go unanswered, if it must: an automatic sender never gets an answer
/// (answering a machine is how loops start), and a requester's questions count against the
/// acknowledgements' rate limit. A technician's are not limited: they are staff, authenticated.
fn why_not_answer_question(msg: &Inbound, facts: &Facts, asked: &queries::Asked) -> Option<String> {
    if msg.auto != AutoKind::Person {
        return Some(format!(
            "question from an automatic sender ({:?}) not answered",
            msg.auto
        ));
    }
    match asked {
        queries::Asked::Technician { .. } => None,
        queries::Asked::Requester(_) if facts.recent_answers >= facts.ack_limit => Some(format!(
            "question not answered: rate limit reached ({} answers in the window, \
             helpdesk.ack_rate_limit)",
            facts.recent_answers
        )),
        queries::Asked::Requester(_) => None,
    }
}

pub fn inbound(msg: &Inbound, placement: &Placement, facts: &Facts) -> Decision {
    let no_mail = |action| Decision {
        action,
        acknowledge: false,
        no_ack_reason: None,
    };

    if facts.is_our_message_id {
        return no_mail(Action::Ignore {
            reason: "our own outgoing mail came back".into(),
        });
    }
    if msg.auto == AutoKind::Bounce {
        // Bounces are recorded where they belong and never answered: answering a bounce is how
        // mail loops start.
        return no_mail(match facts.bounce_ticket {
            Some(ticket) => Action::Append {
                ticket,
                kind: MessageKind::Bounce,
            },
            None => Action::Quarantine {
                reason: "bounce for no known ticket".into(),
            },
        });
    }
    if msg.requester().is_none() {
        return no_mail(Action::Quarantine {
            reason: "no sender address".into(),
        });
    }

    if !facts.from_helpdesk
        && let Some(asked) = queries::read(msg, placement, facts.technician)
    {
        return no_mail(match why_not_answer_question(msg, facts, &asked) {
            None => Action::Answer(asked),
            Some(reason) => Action::Ignore { reason },
        });
    }

    match placement {
        Placement::Existing { ticket, by } => {
            let kind = append_kind(msg, facts, ticket, *by);
            // A machine never rates; a person's "5 terima kasih" after closure is no new request.
            if kind == MessageKind::Reply
                && facts.may_rate
                && !facts.technician
                && let Some(rating) = satisfaction::read(&quote::new_text(&msg.text))
            {
                return no_mail(Action::Rate {
                    ticket: ticket.id,
                    rating,
                });
            }
            if kind == MessageKind::Reply && ticket.status.is_final() && !facts.technician {
                // A closed ticket stays closed: the requester's new words are a new request,
                // linked to the old one through the placement.
                let why_not = why_not_answer(msg, facts);
                return Decision {
                    action: Action::NewTicket {
                        note: Some(format!("reply to {} ticket {}", ticket.status, ticket.id)),
                    },
                    acknowledge: why_not.is_none(),
                    no_ack_reason: why_not,
                };
            }
            no_mail(Action::Append {
                ticket: ticket.id,
                kind,
            })
        }
        Placement::New { note } if facts.from_helpdesk => no_mail(Action::Quarantine {
            reason: match note {
                Some(n) => format!("mail from the helpdesk's own address; {n}"),
                None => "mail from the helpdesk's own address on no ticket".into(),
            },
        }),
        Placement::New { note } => {
            let why_not = why_not_answer(msg, facts);
            Decision {
                action: Action::NewTicket { note: note.clone() },
                acknowledge: why_not.is_none(),
                no_ack_reason: why_not,
            }
        }
    }
}

fn append_kind(msg: &Inbound, facts: &Facts, _ticket: &Ticket, _by: Match) -> MessageKind {
    if facts.from_helpdesk {
        MessageKind::Own
    } else if msg.auto != AutoKind::Person {
        MessageKind::Auto
    } else {
        MessageKind::Reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::Address;

    pub(crate) fn msg(auto: AutoKind) -> Inbound {
        Inbound {
            message_id: "m1@example.test".into(),
            synthetic_message_id: false,
            from: Some(Address {
                name: Some("Rina".into()),
                email: "rina@example.test".into(),
            }),
            reply_to: None,
            to: vec![],
            cc: vec![],
            subject: "Printer rusak".into(),
            in_reply_to: vec![],
            references: vec![],
            date: None,
            text: "Printer lantai 3 rusak".into(),
            attachments: vec![],
            auto,
            bounce_refs: vec![],
            authentication_results: vec![],
            headers: vec![],
            content_hash: "h".into(),
            raw_size: 10,
        }
    }

    fn facts() -> Facts {
        Facts {
            ack_limit: 5,
            ..Facts::default()
        }
    }

    const NEW: Placement = Placement::New { note: None };

    #[test]
    fn a_busy_person_is_acknowledged_a_responder_is_not() {
        let busy = Facts {
            recent_acks: 10,
            ack_limit: 30,
            loop_repeats: 3,
            ..Facts::default()
        };
        // Whether a person's request under `facts` is acknowledged, and why not.
        let verdict = |facts: Facts| {
            let d = inbound(&msg(AutoKind::Person), &NEW, &facts);
            (d.acknowledge, d.no_ack_reason.unwrap_or_default())
        };
        assert!(verdict(busy.clone()).0);
        // The same subject and text a third time: a responder. Twice is a person again.
        let (acked, why) = verdict(Facts {
            same_text_recent: 2,
            ..busy.clone()
        });
        assert!(!acked && why.contains("loop_repeats"), "{why}");
        assert!(
            verdict(Facts {
                same_text_recent: 1,
                ..busy.clone()
            })
            .0
        );
        // A new request naming the ticket acknowledged moments ago.
        let (acked, why) = verdict(Facts {
            answers_recent_ack: Some(7),
            ..busy.clone()
        });
        assert!(!acked && why.contains("ticket 7"), "{why}");
        // The backstop still holds.
        assert!(
            !verdict(Facts {
                recent_acks: 30,
                ..busy
            })
            .0
        );
    }

    #[test]
    fn person_gets_ticket_and_ack() {
        let d = inbound(&msg(AutoKind::Person), &NEW, &facts());
        assert_eq!(d.action, Action::NewTicket { note: None });
        assert!(d.acknowledge);
    }

    #[test]
    fn automatic_senders_get_ticket_without_ack() {
        for kind in [AutoKind::AutoReply, AutoKind::Bulk, AutoKind::NoReply] {
            let d = inbound(&msg(kind), &NEW, &facts());
            assert!(matches!(d.action, Action::NewTicket { .. }), "{kind:?}");
            assert!(!d.acknowledge, "{kind:?}");
            assert!(d.no_ack_reason.is_some());
        }
    }

    #[test]
    fn bounce_is_recorded_on_its_ticket_or_quarantined_never_answered() {
        let mut f = facts();
        f.bounce_ticket = Some(4);
        let d = inbound(&msg(AutoKind::Bounce), &NEW, &f);
        assert_eq!(
            d.action,
            Action::Append {
                ticket: 4,
                kind: MessageKind::Bounce
            }
        );
        assert!(!d.acknowledge);
        let d = inbound(&msg(AutoKind::Bounce), &NEW, &facts());
        assert!(matches!(d.action, Action::Quarantine { .. }));
        assert!(!d.acknowledge);
    }

    #[test]
    fn own_address_never_answered() {
        let mut f = facts();
        f.from_helpdesk = true;
        let d = inbound(&msg(AutoKind::Person), &NEW, &f);
        assert!(matches!(d.action, Action::Quarantine { .. }));
        assert!(!d.acknowledge);
    }

    #[test]
    fn rate_limit_stops_acks_but_not_tickets() {
        let mut f = facts();
        f.recent_acks = 5;
        let d = inbound(&msg(AutoKind::Person), &NEW, &f);
        assert!(matches!(d.action, Action::NewTicket { .. }));
        assert!(!d.acknowledge);
        assert!(d.no_ack_reason.unwrap().contains("rate limit"));
    }

    #[test]
    fn a_rating_counts_only_where_the_store_says_this_sender_may_rate() {
        let closed = Placement::Existing {
            ticket: crate::fixtures::ticket(crate::model::Status::Closed),
            by: Match::Tag,
        };
        let mut m = msg(AutoKind::Person);
        m.text = "5 terima kasih\n\nPada 23 Nov, Helpdesk menulis:\n> Tiket ditutup".into();
        let may = Facts {
            may_rate: true,
            ..facts()
        };
        let rated = |m: &Inbound, f: &Facts| inbound(m, &closed, f).action;
        assert!(
            matches!(rated(&m, &may), Action::Rate { ticket: 7, ref rating } if rating.score == 5),
            "{:?}",
            rated(&m, &may)
        );
        // Not allowed (an outsider, off, out of the window): a reply to a closed ticket.
        assert!(matches!(rated(&m, &facts()), Action::NewTicket { .. }));
        // A technician's "5" is their business on the ticket, an automatic one is kept.
        let tech = Facts {
            technician: true,
            ..may.clone()
        };
        assert!(matches!(rated(&m, &tech), Action::Append { .. }));
        let mut auto = m.clone();
        auto.auto = AutoKind::AutoReply;
        assert!(matches!(
            rated(&auto, &may),
            Action::Append {
                kind: MessageKind::Auto,
                ..
            }
        ));
        // Not a rating: the ordinary path.
        m.text = "Printernya rusak lagi".into();
        assert!(matches!(rated(&m, &may), Action::NewTicket { .. }));
    }

    #[test]
    fn echo_of_our_own_mail_is_ignored() {
        let mut f = facts();
        f.is_our_message_id = true;
        assert!(matches!(
            inbound(&msg(AutoKind::Person), &NEW, &f).action,
            Action::Ignore { .. }
        ));
    }
}
