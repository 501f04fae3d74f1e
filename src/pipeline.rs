//! One message through the whole inbound path, in eight steps (`process_in`):
//!
//! 1. limits   `[limits]` on the raw bytes: too large is quarantined whole
//! 2. parse    `inbound::parse`: raw bytes -> `Inbound`; not mail is quarantined whole
//! 3. dedupe   a message stored before changes nothing
//! 4. locate   `thread::locate`: which ticket (tag, references), and may this sender write to it
//! 5. facts    what the store knows: our own Message-ID, a bounce's ticket, recent acks
//! 6. decide   `decide::inbound`: new ticket, append, answer, quarantine or ignore; pure
//! 7. apply    `effects::open`, `replies`, `queries`: rows, events and mails of the decision
//! 8. progress the mailbox's UID state, so the IMAP task flags only what is committed
//!
//! All of it runs in the caller's transaction, several messages to one commit
//! (`process_batch`): either a message's ticket change, events, outgoing mail and mailbox
//! progress are committed together or none of them is.

use anyhow::{Context, Result};
use rusqlite::{Connection, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::decide::intake::Intake;
use crate::decide::{self, Action, Facts};
use crate::effects;
use crate::inbound::{Inbound, parse};
use crate::model::{MessageKind, Status};
use crate::store::{self, mailbox};
use crate::thread::{self, Placement};

mod quarantine;

use quarantine::quarantine;
pub use quarantine::{quarantine_unprocessable, release};

// The environment moved to `crate::env`; re-exported because binaries, benches and tests
// name it here (`loket::pipeline::Env`).
pub use crate::env::{Env, LiveEnv};

/// Where a message came from; an IMAP message also advances that mailbox's progress in the same
/// transaction.
#[derive(Debug, Clone)]
pub enum Source {
    Imap {
        mailbox: String,
        uid_validity: u32,
        uid: u32,
    },
    /// `loket ingest`: standard input, for the `[helpdesk]` address.
    Stdin,
    /// `loket ingest --to <address>`: standard input, delivered to that helpdesk address.
    Delivered { address: String },
    /// `loket quarantine release <id>`: a quarantined message offered again. `original` is the
    /// source label it was quarantined under, so it lands at the mailbox it came in at.
    Release { id: i64, original: String },
}

impl Source {
    /// The mailbox a message came in at; `loket ingest` counts as the `[helpdesk]` one.
    fn account<'c>(&self, cfg: &'c Config) -> Option<&'c crate::config::Account> {
        match self {
            Source::Imap { mailbox, .. } => cfg.account_by_key(mailbox),
            Source::Delivered { address } => cfg.account_by_address(address),
            Source::Stdin => None,
            // The labels of `label` below: `imap:<key>:<uid>` or `ingest:<address>`.
            Source::Release { original, .. } => {
                if let Some((key, _uid)) = original
                    .strip_prefix("imap:")
                    .and_then(|rest| rest.rsplit_once(':'))
                {
                    cfg.account_by_key(key)
                } else if let Some(address) = original.strip_prefix("ingest:") {
                    cfg.account_by_address(address)
                } else {
                    None
                }
            }
        }
    }

    fn label(&self) -> String {
        match self {
            Source::Imap { mailbox, uid, .. } => format!("imap:{mailbox}:{uid}"),
            Source::Stdin => "ingest".into(),
            Source::Delivered { address } => format!("ingest:{address}"),
            Source::Release { id, .. } => format!("release:{id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created {
        ticket: i64,
        acknowledged: bool,
    },
    Appended {
        ticket: i64,
        kind: MessageKind,
    },
    Duplicate,
    /// A question asked by mail, answered; no ticket was opened or changed.
    Answered,
    Quarantined {
        reason: String,
    },
    Ignored {
        reason: String,
    },
}

impl Outcome {
    /// Whether this outcome refuses the message as mail (for `loket ingest`'s exit code).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Outcome::Quarantined { reason } if reason.starts_with("not an e-mail"))
    }
}

fn record_progress(conn: &Connection, source: &Source) -> Result<()> {
    if let Source::Imap {
        mailbox: name,
        uid_validity,
        uid,
    } = source
    {
        let last = mailbox::state(conn, name)?
            .filter(|s| s.uid_validity == *uid_validity)
            .map(|s| s.last_uid)
            .unwrap_or(0);
        mailbox::set_state(
            conn,
            name,
            mailbox::State {
                uid_validity: *uid_validity,
                last_uid: last.max(*uid),
            },
        )?;
        mailbox::add_pending_flag(conn, name, *uid_validity, *uid)?;
    }
    Ok(())
}

/// Processes one raw message in a transaction of its own. On `Err` nothing was committed: a
/// lock or a full disk (`store::temporary_failure`) passes, and the message is offered again;
/// anything else is a bug or a broken store, which `quarantine_unprocessable` is for.
pub fn process(conn: &mut Connection, env: &Env, raw: &[u8], source: &Source) -> Result<Outcome> {
    // A batch of one, so a single message is stored (and indexed for search) the same way.
    let batch = process_batch(conn, env, &[(raw, source.clone())], &|_| true)?;
    match (batch.failure, batch.outcomes.into_iter().next()) {
        (Some(e), _) => Err(e),
        (None, Some(outcome)) => Ok(outcome),
        (None, None) => anyhow::bail!("the message was neither stored nor refused (a bug)"),
    }
}

/// What [`process_batch`] committed: the outcomes of the first `outcomes.len()` messages, and
/// the failure of the next one, if that is what ended the batch (nothing of that message was
/// kept; it must be offered again, or quarantined, before any message after it).
pub struct Batch {
    pub outcomes: Vec<Outcome>,
    pub failure: Option<anyhow::Error>,
}

/// Processes messages in order in one transaction, and commits after the message for which
/// `enough(count so far)` says so (or after the last one). One commit for several messages
/// writes each touched page once instead of once per message; every message still commits
/// together with its mailbox progress, so the IMAP task flags nothing before its commit. An
/// `Err` means nothing of the batch was kept: the commit failed, or the search index update
/// before it, or storing again the messages before a failed one.
///
/// The batch runs inside one savepoint, not one per message: a savepoint per message made
/// SQLite copy every page a message touched into the statement journal, for every message
/// (`perf`: about a twelfth of Loket's CPU in a backlog). When a message fails, which is rare,
/// the whole batch is rolled back to that savepoint, without letting go of the write lock, and
/// the messages before the failed one are processed again on the same state: same ticket
/// numbers, logged once (the second pass is not logged). The clock is read again, so an outcome
/// that hangs on a time window (the acknowledgement rate limit) could come out otherwise the
/// second time; that is logged as a warning.
///
/// A batch of one (every `loket ingest`, and most of a live mailbox's) opens no savepoint: with
/// nothing before its message to keep, a failure drops the whole transaction instead, and the
/// statement journal's copies of the pages it touches are never made (about 30 of the 780 page
/// faults of a `loket ingest` of a new request; see BENCHMARKS.md).
pub fn process_batch(
    conn: &mut Connection,
    env: &Env,
    items: &[(&[u8], Source)],
    enough: &dyn Fn(usize) -> bool,
) -> Result<Batch> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a transaction")?;
    // Only a batch of several needs the savepoint (see above).
    let single = items.len() == 1;
    if !single {
        tx.execute_batch("SAVEPOINT batch")?;
    }
    // The rate limits only look back this far; what is older leaves their small table here,
    // once per batch, so that their lookups and inserts stay the size of the window.
    let memory =
        chrono::Duration::from_std(env.cfg.helpdesk.rate_memory()).unwrap_or(chrono::Duration::MAX);
    if let Some(before) = env.clock.now().checked_sub_signed(memory) {
        store::outbox::forget_recent(&tx, before)?;
    }
    let mut outcomes = Vec::new();
    let mut failure = None;
    for (raw, source) in items {
        match process_guarded(&tx, env, raw, source) {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        if enough(outcomes.len()) {
            break;
        }
    }
    if single && let Some(e) = failure.take() {
        drop(tx);
        return Ok(Batch {
            outcomes,
            failure: Some(e),
        });
    }
    if let Some(e) = failure.take() {
        if let Err(undo) = tx.execute_batch("ROLLBACK TO batch") {
            // SQLite rolls the whole transaction back by itself after some errors (a full
            // disk, an I/O error): nothing of the batch is kept, and the caller must see the
            // first error (what went wrong), not this one.
            return Err(e.context(format!(
                "the transaction was rolled back ({undo}); nothing of this batch was stored"
            )));
        }
        let first = std::mem::take(&mut outcomes);
        let before = &items[..first.len()];
        let again = tracing::subscriber::with_default(
            tracing::subscriber::NoSubscriber::default(),
            || -> Result<Vec<Outcome>> {
                before
                    .iter()
                    .map(|(raw, source)| process_guarded(&tx, env, raw, source))
                    .collect()
            },
        );
        outcomes = again.with_context(|| {
            format!(
                "processing again the {} messages before one that failed ({e:#}); nothing of \
                 this batch was stored",
                before.len()
            )
        })?;
        if outcomes != first {
            tracing::warn!(
                logged = ?first,
                stored = ?outcomes,
                "messages stored again after a failure in their batch came out otherwise than \
                 logged above"
            );
        }
        failure = Some(e);
    }
    if let Err(index) = store::search::index_pending(&tx) {
        return Err(match failure {
            // The message's own failure first: it is what the caller counts and reports.
            Some(e) => e.context(format!(
                "updating the search index failed too ({index:#}); nothing of this batch was stored"
            )),
            None => index.context("nothing of this batch was stored"),
        });
    }
    if !single {
        tx.execute_batch("RELEASE batch")?;
    }
    tx.commit().context("committing the messages")?;
    Ok(Batch { outcomes, failure })
}

/// [`process_in`] with a panic turned into an error: a bug that one message triggers must not
/// take the task (and every message behind it) down. The caller rolls its batch back, and
/// the IMAP task quarantines it after [`crate::inbound::imap::MAX_ATTEMPTS`] such failures.
fn process_guarded(conn: &Connection, env: &Env, raw: &[u8], source: &Source) -> Result<Outcome> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        process_in(conn, env, raw, source)
    }))
    .unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(anyhow::anyhow!("processing the message panicked: {why}"))
    })
}

/// One message inside the caller's transaction: everything it changes, its mails and its
/// mailbox progress, or (on `Err`) something the caller must roll back.
fn process_in(conn: &Connection, env: &Env, raw: &[u8], source: &Source) -> Result<Outcome> {
    let cfg = &env.cfg;
    // 1. limits, 2. parse: what fails either is kept whole, with the reason.
    let refused = |reason: &str, message_id: Option<&str>| {
        let hash = hex::encode(Sha256::digest(raw));
        quarantine(conn, env, source, raw, reason, message_id, &hash)
    };
    if let Some((reason, message_id)) = over_limits(cfg, raw) {
        return refused(&reason, message_id.as_deref());
    }
    let msg = match parse::parse(raw) {
        Ok(m) => m,
        Err(refusal) => return refused(&refusal.to_string(), None),
    };
    let span =
        tracing::info_span!("message", source = %source.label(), message_id = %msg.message_id);
    let _enter = span.enter();

    let now = env.clock.now();
    // Every write below goes to the caller's transaction.
    let tx = conn;
    // 3. dedupe: a message stored before (a redelivery, a rescan) changes nothing.
    if store::messages::is_duplicate(tx, &msg.message_id, &msg.content_hash)?
        || store::queries::is_duplicate(tx, &msg.message_id, &msg.content_hash)?
    {
        record_progress(tx, source)?;
        tracing::info!("duplicate delivery, already stored");
        return Ok(Outcome::Duplicate);
    }

    // 4. locate, 5. facts, 6. decide: which ticket, what the store knows of the sender, and
    // what happens, decided without writing anything.
    let placement = thread::locate(tx, cfg, &msg)?;
    let facts = facts(tx, cfg, &msg, &placement, now)?;
    let decision = decide::inbound(&msg, &placement, &facts);
    let ctx = env.ctx(now);

    // 7. apply: `effects` writes what was decided, with its events and mails.

    let outcome = match decision.action {
        Action::Quarantine { reason } => {
            // Nothing was written for this message yet.
            return quarantine(
                conn,
                env,
                source,
                raw,
                &reason,
                Some(&msg.message_id),
                &msg.content_hash,
            );
        }
        Action::Ignore { reason } => {
            tracing::info!(reason, "ignored");
            Outcome::Ignored { reason }
        }
        Action::NewTicket { note } => {
            let requester = msg
                .requester()
                .context("decide guarantees a sender for new tickets")?;
            let parent = match &placement {
                Placement::Existing { ticket, .. } => Some(ticket),
                Placement::New { .. } => None,
            };
            let arrived_at = source.account(cfg).map(|a| a.address.as_str());
            let intake = Intake::decide(cfg, &msg, &requester.email, arrived_at, parent, || {
                store::tickets::last_round_robin(tx)
            })?;
            let arrival = effects::open::Arrival {
                msg: &msg,
                raw,
                source: &source.label(),
                parent: parent.map(|t| t.id),
                note,
                acknowledge: match decision.acknowledge {
                    true => Ok(()),
                    false => Err(decision.no_ack_reason.unwrap_or_default()),
                },
            };
            let (ticket, acknowledged) = effects::open::open_ticket(tx, &ctx, &intake, arrival)?;
            Outcome::Created {
                ticket,
                acknowledged,
            }
        }
        Action::Append { ticket, kind } => {
            effects::replies::append(tx, &ctx, ticket, kind, &msg, raw)?;
            Outcome::Appended { ticket, kind }
        }
        Action::Answer(asked) => {
            effects::queries::answer(tx, &ctx, &msg, &asked)?;
            Outcome::Answered
        }
        Action::Rate { ticket, rating } => {
            effects::satisfaction::rate(tx, &ctx, ticket, &msg, raw, &rating)?;
            Outcome::Appended {
                ticket,
                kind: MessageKind::Rating,
            }
        }
    };
    // 8. progress: the mailbox moves past this message in the same transaction.
    record_progress(tx, source)?;
    Ok(outcome)
}

/// Why `raw` is over `[limits]` (whole message, header block), with its Message-ID when the
/// header block alone is within its own limit (the parser never sees more than that), for
/// `loket quarantine list`.
fn over_limits(cfg: &Config, raw: &[u8]) -> Option<(String, Option<String>)> {
    let header_len = parse::header_block_len(raw);
    let header_ok = header_len as u64 <= cfg.limits.max_header_bytes;
    if raw.len() as u64 > cfg.limits.max_message_bytes {
        let reason = format!(
            "message too large ({} bytes, limits.max_message_bytes is {})",
            raw.len(),
            cfg.limits.max_message_bytes
        );
        let message_id = header_ok
            .then(|| parse::header_block_message_id(&raw[..header_len]))
            .flatten();
        return Some((reason, message_id));
    }
    if !header_ok {
        let reason = format!(
            "header block too large ({header_len} bytes, limits.max_header_bytes is {})",
            cfg.limits.max_header_bytes
        );
        return Some((reason, None));
    }
    None
}

fn facts(
    conn: &Connection,
    cfg: &Config,
    msg: &Inbound,
    placement: &Placement,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Facts> {
    // The loop marks only matter for a mail that may open a ticket (an acknowledgement is only
    // ever sent for one): a reply on an open ticket, most of a backlog, skips their queries.
    let may_open = match placement {
        Placement::New { .. } => true,
        Placement::Existing { ticket, .. } => ticket.status.is_final(),
    };
    // The requester (From, else Reply-To): whose acks count, and whether it is our own address
    // (a Reply-To naming the helpdesk must not start a loop).
    let sender = msg.requester().map(|a| a.email.as_str()).unwrap_or("");
    let window = chrono::Duration::from_std(cfg.helpdesk.ack_rate_window)
        .unwrap_or(chrono::Duration::hours(1));
    let is_ours = store::messages::is_ours(conn, &msg.message_id)?;
    let bounce_ticket = if msg.auto == crate::inbound::AutoKind::Bounce {
        store::messages::ticket_for_message_ids(conn, &msg.bounce_refs)?
    } else {
        None
    };
    Ok(Facts {
        from_helpdesk: cfg.is_helpdesk_address(sender),
        is_our_message_id: is_ours,
        bounce_ticket,
        recent_acks: store::outbox::count_recent(conn, sender, "ack", now - window)? as u32,
        ack_limit: cfg.helpdesk.ack_rate_limit,
        same_text_recent: match may_open {
            true => {
                let this = (msg.subject.as_str(), msg.text.as_str());
                store::outbox::acked_requests_like(conn, sender, now - window, this)? as u32
            }
            false => 0,
        },
        loop_repeats: cfg.helpdesk.loop_repeats,
        answers_recent_ack: match may_open {
            true => answers_recent_ack(conn, cfg, msg, sender, now)?,
            false => None,
        },
        technician: crate::decide::authn::technician(cfg, msg).is_some(),
        // Answers count against the same limit as acknowledgements; looked up only for a mail
        // that may be a question.
        recent_answers: match crate::decide::queries::might_ask(msg) {
            true => {
                let kind = crate::outbound::MailKind::StatusAnswer.name();
                store::outbox::count_recent(conn, sender, kind, now - window)? as u32
            }
            false => 0,
        },
        may_rate: may_rate(conn, cfg, placement, sender, now)?,
    })
}

/// Whether `sender` may rate the ticket `placement` found: `[satisfaction]` on, the ticket
/// closed (or resolved, with `on_resolved`) no longer ago than the window, and the sender its
/// requester or someone copied on it. An approver or an outsider writes ordinary mail.
fn may_rate(
    conn: &Connection,
    cfg: &Config,
    placement: &Placement,
    sender: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    let s = &cfg.satisfaction;
    let Placement::Existing { ticket, .. } = placement else {
        return Ok(false);
    };
    let since = match ticket.status {
        Status::Closed => ticket.closed_at.or(ticket.resolved_at),
        Status::Resolved if s.on_resolved => ticket.resolved_at,
        _ => None,
    };
    let window = chrono::Duration::from_std(s.window).unwrap_or(chrono::Duration::MAX);
    let in_window = since.is_some_and(|at| now.signed_duration_since(at) <= window);
    if !s.enabled || !in_window {
        return Ok(false);
    }
    Ok(ticket.requester_email == sender
        || store::tickets::participants(conn, ticket.id)?
            .iter()
            .any(|p| p.email == sender && p.role == crate::model::Role::Cc))
}

/// The ticket whose acknowledgement went to `sender` within `helpdesk.loop_quick_reply` and
/// whose tag the message names (in its subject or text), if any.
fn answers_recent_ack(
    conn: &Connection,
    cfg: &Config,
    msg: &Inbound,
    sender: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<i64>> {
    let quick = chrono::Duration::from_std(cfg.helpdesk.loop_quick_reply)
        .unwrap_or(chrono::Duration::minutes(1));
    let prefix = &cfg.helpdesk.tag_prefix;
    let mut named = crate::decide::tags::tags_in(&msg.subject, prefix, 4);
    // The start of the body, as rules read it: a 50 MB body must not cost a scan per mail.
    let body = crate::decide::rules::scanned_body(&msg.text);
    named.extend(crate::decide::tags::tags_in(body, prefix, 8));
    if named.is_empty() {
        return Ok(None);
    }
    let acked = store::outbox::acked_tickets_since(conn, sender, now - quick)?;
    Ok(acked.into_iter().find(|t| named.contains(t)))
}

#[cfg(test)]
mod tests;
