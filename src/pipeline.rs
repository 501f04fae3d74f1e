//! One message through the whole inbound path: parse, thread, decide, then one SQLite
//! transaction that writes the ticket change, its events, its outgoing mail and the mailbox
//! progress together. Either all of it is committed or none of it is, which is what lets the
//! IMAP task mark a message processed only after its commit.

use std::sync::Arc;

use anyhow::{Context, Result};
use rusqlite::{Connection, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::config::Config;
use crate::config::{Assignment, Technician};
use crate::decide::{self, Action, Facts};
use crate::decide::{approval, commands, lifecycle, quote, rules};
use crate::effects;
use crate::inbound::{Inbound, parse};
use crate::outbound::{self, render::Renderer};
use crate::store::{self, mailbox};
use crate::thread::{self, Placement};

/// What the pipeline needs, shared by every task.
#[derive(Clone)]
pub struct Env {
    pub cfg: Arc<Config>,
    pub renderer: Arc<Renderer>,
    pub clock: Arc<dyn Clock>,
}

/// The environment the daemon's tasks read afresh for every batch of mail and every scheduler
/// tick, so that SIGHUP can put a reloaded config and templates in its place.
pub struct LiveEnv(std::sync::RwLock<Env>);

impl LiveEnv {
    pub fn new(env: Env) -> LiveEnv {
        LiveEnv(std::sync::RwLock::new(env))
    }

    /// The environment in force now (cheap: three reference counts).
    pub fn get(&self) -> Env {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, env: Env) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = env;
    }
}

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
    Created { ticket: i64, acknowledged: bool },
    Appended { ticket: i64, kind: &'static str },
    Duplicate,
    Quarantined { reason: String },
    Ignored { reason: String },
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

fn quarantine(
    conn: &Connection,
    env: &Env,
    source: &Source,
    raw: &[u8],
    reason: &str,
    message_id: Option<&str>,
    hash: &str,
) -> Result<Outcome> {
    let now = env.clock.now();
    let fresh = store::quarantine::add(conn, now, &source.label(), reason, message_id, hash, raw)?;
    if fresh {
        store::events::add(
            conn,
            None,
            now,
            "loket",
            "quarantined",
            &format!("{reason} (message {})", message_id.unwrap_or("-")),
        )?;
    }
    record_progress(conn, source)?;
    tracing::warn!(reason, message_id, "message quarantined");
    Ok(Outcome::Quarantined {
        reason: reason.to_string(),
    })
}

/// Quarantines a message that failed again and again for a reason that is not temporary (not a
/// lock, not a full disk): a bug, a constraint it breaks. Kept whole with the error, and the
/// mailbox progress moves past it, so one bad message cannot hold up every message behind it.
pub fn quarantine_unprocessable(
    conn: &mut Connection,
    env: &Env,
    raw: &[u8],
    source: &Source,
    error: &anyhow::Error,
) -> Result<Outcome> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a transaction")?;
    let hash = hex::encode(Sha256::digest(raw));
    let reason = format!("could not be processed: {error:#}");
    let outcome = quarantine(&tx, env, source, raw, &reason, None, &hash)?;
    tx.commit().context("committing the quarantine")?;
    Ok(outcome)
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

/// Offers quarantined message `id` to the pipeline again (`loket quarantine release`), in one
/// transaction with the record of its release. Quarantined again (still too large, still a
/// bounce for no ticket), nothing is kept: the row stays held as it was, with no second copy of
/// its bytes, and the outcome says why. Any other outcome marks the row released.
///
/// The pipeline's duplicate check looks at stored tickets' mails, never at the quarantine, so a
/// message that was only quarantined is processed afresh; one already stored by another path (a
/// redelivery after the limit was raised) is a duplicate, and released as such.
pub fn release(conn: &mut Connection, env: &Env, id: i64) -> Result<Outcome> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a transaction")?;
    let held = store::quarantine::get(&tx, id)?.with_context(|| {
        format!("no quarantined message {id} (`loket quarantine list` shows them)")
    })?;
    if let Some((at, became)) = &held.released {
        anyhow::bail!(
            "quarantined message {id} was already released ({} UTC, as {became})",
            at.format("%Y-%m-%d %H:%M")
        );
    }
    let raw = store::quarantine::raw(&tx, id)?
        .with_context(|| format!("quarantined message {id} has no bytes"))?;
    let source = Source::Release {
        id,
        original: held.source.clone(),
    };
    let outcome = process_guarded(&tx, env, &raw, &source)?;
    let prefix = &env.cfg.helpdesk.tag_prefix;
    let (ticket, became) = match &outcome {
        // Dropping the transaction rolls back whatever this attempt wrote.
        Outcome::Quarantined { .. } => return Ok(outcome),
        Outcome::Created { ticket, .. } => (Some(*ticket), format!("{prefix}-{ticket}")),
        Outcome::Appended { ticket, kind } => {
            (Some(*ticket), format!("{prefix}-{ticket} ({kind})"))
        }
        Outcome::Duplicate => (None, "duplicate of a stored message".to_string()),
        Outcome::Ignored { reason } => (None, format!("ignored: {reason}")),
    };
    let now = env.clock.now();
    store::quarantine::mark_released(&tx, id, now, &became)?;
    store::events::add(
        &tx,
        ticket,
        now,
        "loket",
        "released",
        &format!(
            "quarantined message {id} released as {became} (it was held: {})",
            held.reason
        ),
    )?;
    store::search::index_pending(&tx)?;
    tx.commit().context("committing the release")?;
    Ok(outcome)
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
pub fn process_batch(
    conn: &mut Connection,
    env: &Env,
    items: &[(&[u8], Source)],
    enough: &dyn Fn(usize) -> bool,
) -> Result<Batch> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a transaction")?;
    tx.execute_batch("SAVEPOINT batch")?;
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
    tx.execute_batch("RELEASE batch")?;
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
    let header_len = parse::header_block_len(raw);
    if raw.len() as u64 > cfg.limits.max_message_bytes {
        let hash = hex::encode(Sha256::digest(raw));
        let reason = format!(
            "message too large ({} bytes, limits.max_message_bytes is {})",
            raw.len(),
            cfg.limits.max_message_bytes
        );
        // Its Message-ID, for `loket quarantine list`, when the header block alone is within
        // its own limit (the parser never sees more than that).
        let message_id = (header_len as u64 <= cfg.limits.max_header_bytes)
            .then(|| parse::header_block_message_id(&raw[..header_len]))
            .flatten();
        return quarantine(
            conn,
            env,
            source,
            raw,
            &reason,
            message_id.as_deref(),
            &hash,
        );
    }
    if header_len as u64 > cfg.limits.max_header_bytes {
        let hash = hex::encode(Sha256::digest(raw));
        let reason = format!(
            "header block too large ({header_len} bytes, limits.max_header_bytes is {})",
            cfg.limits.max_header_bytes
        );
        return quarantine(conn, env, source, raw, &reason, None, &hash);
    }
    let msg = match parse::parse(raw) {
        Ok(m) => m,
        Err(refusal) => {
            let hash = hex::encode(Sha256::digest(raw));
            return quarantine(conn, env, source, raw, &refusal.to_string(), None, &hash);
        }
    };
    let span =
        tracing::info_span!("message", source = %source.label(), message_id = %msg.message_id);
    let _enter = span.enter();

    let now = env.clock.now();
    // Every write below goes to the caller's transaction.
    let tx = conn;
    if store::messages::is_duplicate(tx, &msg.message_id, &msg.content_hash)? {
        record_progress(tx, source)?;
        tracing::info!("duplicate delivery, already stored");
        return Ok(Outcome::Duplicate);
    }

    let placement = thread::locate(tx, cfg, &msg)?;
    let facts = facts(tx, cfg, &msg, now)?;
    let decision = decide::inbound(&msg, &placement, &facts);
    let ctx = outbound::Ctx {
        cfg,
        renderer: &env.renderer,
        now,
    };

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
            let sender = msg
                .from
                .as_ref()
                .context("decide guarantees a sender for new tickets")?;
            let parent = match &placement {
                Placement::Existing { ticket, .. } => Some(ticket),
                Placement::New { .. } => None,
            };
            // The mailbox it came in at (a follow-up of a closed ticket without one keeps the
            // old ticket's): its address answers, its category is the default.
            let via = source
                .account(cfg)
                .filter(|a| a.address != cfg.helpdesk.address)
                .map(|a| a.address.clone())
                .or_else(|| parent.and_then(|t| t.mailbox.clone()));
            let default_category = via
                .as_deref()
                .and_then(|v| cfg.account_by_address(v))
                .and_then(|a| a.category.as_deref())
                .or(cfg.classify.default_category.as_deref());
            let class = rules::evaluate_with_default(cfg, &msg, default_category);
            let lang = class
                .language
                .as_deref()
                .unwrap_or(cfg.helpdesk.language.as_str());
            let mut subject = thread::strip_tags(&msg.subject, &cfg.helpdesk.tag_prefix);
            if subject.is_empty() {
                subject = if lang == "id" {
                    "(tanpa subjek)"
                } else {
                    "(no subject)"
                }
                .to_string();
            }
            let parent = parent.map(|t| t.id);
            let category = class.category.as_deref();
            let level = i64::from(class.level.max(1));
            let candidates = lifecycle::candidates(cfg, level, category);
            let by_rule = class.assignee.as_deref().and_then(|a| cfg.technician(a));
            let by_turn = match (by_rule, cfg.lifecycle.assignment) {
                // Nobody to take a turn: no need to look up whose turn it was.
                (None, Assignment::RoundRobin) if !candidates.is_empty() => {
                    let last = store::tickets::last_round_robin(tx)?;
                    lifecycle::next_in_turn(&candidates, last.as_deref())
                }
                _ => None,
            };
            let owner = by_rule.or(by_turn);
            // A rule's approval, else the category's.
            let approver = class
                .approval
                .as_deref()
                .or_else(|| {
                    category
                        .and_then(|c| rules::category(cfg, c))
                        .and_then(|c| c.approval.as_deref())
                })
                .map(|spec| approval::approver(spec, &sender.email, &cfg.departments));
            let id = store::tickets::insert(
                tx,
                &store::tickets::NewTicket {
                    subject: &subject,
                    requester_email: &sender.email,
                    requester_name: sender.name.as_deref(),
                    status: "open",
                    priority: Some(&class.priority),
                    category,
                    level,
                    owner: owner.map(|t| t.email.as_str()),
                    language: lang,
                    parent_id: parent,
                    mailbox: via.as_deref(),
                    now,
                },
            )?;
            store::tickets::add_participant(
                tx,
                id,
                &sender.email,
                sender.name.as_deref(),
                "requester",
            )?;
            add_copied_participants(tx, cfg, id, &msg, now)?;
            store_message(tx, cfg, id, "request", &msg, raw, now)?;
            store::events::add(
                tx,
                Some(id),
                now,
                &sender.email,
                "created",
                &format!("via {}", source.label()),
            )?;
            if let Some(note) = note {
                store::events::add(tx, Some(id), now, "loket", "threading", &note)?;
                tracing::warn!(ticket = id, note, "tag or reference not followed");
            }
            for rule in class.matched() {
                store::events::add(tx, Some(id), now, "loket", "rule", &rule.to_string())?;
            }
            store::events::add(tx, Some(id), now, "loket", "classified", &class.to_string())?;
            if let Some(owner) = by_turn {
                // The detail is the bare address: the next round-robin turn reads it back.
                store::events::add(tx, Some(id), now, "loket", "assigned", &owner.email)?;
            }
            if let Some(owner) = by_rule {
                store::events::add(tx, Some(id), now, "loket", "assigned_by_rule", &owner.email)?;
            }
            let ticket = store::tickets::get(tx, id)?.context("ticket just inserted")?;
            effects::start_sla(tx, cfg, &ticket, now)?;
            let clock = store::tickets::sla_clock(tx, id)?;
            let approver = match approver {
                Some(Some(a)) => Some(a),
                Some(None) => {
                    // "manager" with no department for this requester: nobody to ask. The
                    // technicians see it in the events and decide; the ticket is not stuck.
                    store::events::add(
                        tx,
                        Some(id),
                        now,
                        "loket",
                        "approval_unresolved",
                        "the rules ask for the requester's manager, and no [[departments]] entry lists the requester",
                    )?;
                    None
                }
                None => None,
            };
            let ack_extra = serde_json::json!({
                "sla": {
                    "response_local": clock.response_due.map(|t| ctx.local_time(t)),
                    "resolution_local": clock.resolution_due.map(|t| ctx.local_time(t)),
                },
                "approval": approver.as_ref().map(|a| serde_json::json!({"approver": a})),
            });
            let acknowledged = if decision.acknowledge {
                match outbound::ack(tx, &ctx, &ticket, &msg, ack_extra) {
                    Ok(_) => {
                        store::events::add(
                            tx,
                            Some(id),
                            now,
                            "loket",
                            "ack_queued",
                            &sender.email,
                        )?;
                        true
                    }
                    // A database error is temporary: the whole message is offered again.
                    Err(e) if e.downcast_ref::<rusqlite::Error>().is_some() => return Err(e),
                    Err(e) => {
                        // A requester address lettre cannot send to must not cost the ticket.
                        store::events::add(
                            tx,
                            Some(id),
                            now,
                            "loket",
                            "ack_failed",
                            &format!("{e:#}"),
                        )?;
                        tracing::warn!(ticket = id, error = %format!("{e:#}"), "acknowledgement not queued");
                        false
                    }
                }
            } else {
                let why = decision.no_ack_reason.unwrap_or_default();
                store::events::add(tx, Some(id), now, "loket", "ack_suppressed", &why)?;
                false
            };
            if class.escalate {
                let names: Vec<String> = class.matched().map(|r| r.to_string()).collect();
                effects::security_alert(tx, &ctx, &ticket, &names.join("; "))?;
            }
            match &approver {
                // Technicians hear of it once it is approved.
                Some(a) => {
                    effects::request_approval(tx, &ctx, &ticket, a)?;
                }
                None => effects::notify_technicians(tx, &ctx, &ticket, &candidates, "new", None)?,
            }
            tracing::info!(ticket = id, acknowledged, priority = %class.priority, category = ?class.category, "ticket created");
            Outcome::Created {
                ticket: id,
                acknowledged,
            }
        }
        Action::Append { ticket, kind } => {
            let technician = crate::decide::authn::technician(cfg, &msg);
            store_message(tx, cfg, ticket, kind, &msg, raw, now)?;
            if kind == "reply" && technician.is_none() {
                add_copied_participants(tx, cfg, ticket, &msg, now)?;
            }
            let actor = msg
                .from
                .as_ref()
                .map(|a| a.email.as_str())
                .unwrap_or("unknown");
            store::events::add(tx, Some(ticket), now, actor, kind, &msg.subject)?;
            store::tickets::touch(tx, ticket, now)?;
            if kind == "reply" {
                let current = store::tickets::get(tx, ticket)?.context("ticket of a reply")?;
                let sender = msg.from.as_ref().map(|a| a.email.as_str()).unwrap_or("");
                match technician {
                    Some(tech) => technician_reply(tx, &ctx, &current, &msg, tech)?,
                    // A manager's From is as easy to forge as a technician's (#21).
                    None if sender != current.requester_email
                        && !crate::decide::authn::authenticated(cfg, &msg)
                        && store::approvals::is_approver(tx, ticket, sender)? =>
                    {
                        store::events::add(
                            tx,
                            Some(ticket),
                            now,
                            sender,
                            "approval_ignored",
                            "not authenticated by the receiving server (security.authserv_id)",
                        )?;
                        tracing::warn!(ticket, sender, "unauthenticated approval answer ignored");
                    }
                    None if sender != current.requester_email
                        && store::approvals::is_approver(tx, ticket, sender)? =>
                    {
                        effects::approval_reply(tx, &ctx, &current, &msg, sender)?
                    }
                    None => requester_reply(tx, &ctx, &current, &msg)?,
                }
            }
            tracing::info!(ticket, kind, "message added to ticket");
            Outcome::Appended { ticket, kind }
        }
    };
    record_progress(tx, source)?;
    Ok(outcome)
}

/// A technician's mail on a ticket: commands first (all or nothing), then their new text to the
/// requester. A reply whose commands fail changes nothing and relays nothing; the technician is
/// told what was wrong.
fn technician_reply(
    conn: &Connection,
    ctx: &outbound::Ctx<'_>,
    ticket: &store::Ticket,
    msg: &Inbound,
    tech: &Technician,
) -> Result<()> {
    let parsed = commands::parse(&msg.text);
    let known = effects::known(ctx.cfg);
    let mut errors: Vec<String> = parsed
        .invalid
        .iter()
        .map(|i| format!("{}: {}", i.line, i.problem))
        .collect();
    let plan = if errors.is_empty() {
        match lifecycle::apply(ticket, tech, &parsed.commands, &known, ctx.now) {
            Ok(plan) => Some(plan),
            Err(e) => {
                errors = e;
                None
            }
        }
    } else {
        None
    };
    let Some(mut plan) = plan else {
        store::events::add(
            conn,
            Some(ticket.id),
            ctx.now,
            &tech.email,
            "commands_refused",
            &errors.join("; "),
        )?;
        outbound::to_technicians(
            conn,
            ctx,
            ticket,
            "command_error",
            serde_json::json!({"errors": errors, "author": effects::person(Some(&tech.name), &tech.email)}),
            &[tech],
        )?;
        tracing::info!(ticket = ticket.id, technician = %tech.email, "technician commands refused");
        return Ok(());
    };

    let text = quote::new_text(&parsed.rest);
    let answered = !text.is_empty()
        || plan
            .changes
            .iter()
            .any(|c| matches!(c, lifecycle::Change::Status { .. }));
    if answered && plan.ticket.first_response_at.is_none() {
        plan.ticket.first_response_at = Some(ctx.now);
    }
    if !text.is_empty() && plan.ticket.owner.is_none() {
        // The first technician to answer an unowned ticket takes it.
        plan.changes.insert(
            0,
            lifecycle::Change::Owner {
                from: None,
                to: Some(tech.email.clone()),
            },
        );
        plan.ticket.owner = Some(tech.email.clone());
    }
    if !text.is_empty() {
        outbound::to_requester(
            conn,
            ctx,
            &plan.ticket,
            "relay",
            serde_json::json!({"text": text, "author": effects::person(Some(&tech.name), &tech.email)}),
            true,
        )?;
        store::events::add(conn, Some(ticket.id), ctx.now, &tech.email, "relayed", "")?;
    }
    effects::commit(conn, ctx, ticket, &plan, &tech.email, Some(tech))?;
    Ok(())
}

/// The requester (or someone they copied) wrote again: a resolved ticket reopens, and the
/// technicians in charge get the new text.
fn requester_reply(
    conn: &Connection,
    ctx: &outbound::Ctx<'_>,
    ticket: &store::Ticket,
    msg: &Inbound,
) -> Result<()> {
    let sender = msg.from.as_ref().context("a reply has a sender")?;
    let mut current = ticket.clone();
    let mut reopened = false;
    if let Some(plan) = lifecycle::on_requester_reply(ticket, ctx.now) {
        reopened = ticket.status == "resolved";
        effects::commit(conn, ctx, ticket, &plan, &sender.email, None)?;
        current = plan.ticket;
    }
    let to = effects::responsible(ctx.cfg, &current);
    let attachments: Vec<&str> = msg.attachments.iter().map(|a| a.name.as_str()).collect();
    outbound::to_technicians(
        conn,
        ctx,
        &current,
        "tech_reply",
        serde_json::json!({
            "text": quote::new_text(&msg.text),
            "author": effects::person(sender.name.as_deref(), &sender.email),
            "reopened": reopened,
            "attachments": attachments,
        }),
        &to,
    )?;
    Ok(())
}

fn facts(
    conn: &Connection,
    cfg: &Config,
    msg: &Inbound,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Facts> {
    let sender = msg.from.as_ref().map(|a| a.email.as_str()).unwrap_or("");
    let window = chrono::Duration::from_std(cfg.helpdesk.ack_rate_window)
        .unwrap_or(chrono::Duration::hours(1));
    let is_ours: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE message_id = ?1 AND direction = 'out')",
        )?
        .query_row([&msg.message_id], |r| r.get(0))?;
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
        technician: crate::decide::authn::technician(cfg, msg).is_some(),
    })
}

/// People the sender copied (To and Cc, less the helpdesk and technicians) may follow and write
/// to the ticket. Every mail to the requester's side goes to them too, so their number is
/// bounded: with the requester, at most `limits.max_recipients`. Those beyond it are recorded on
/// the ticket as dropped, never silently ignored.
fn add_copied_participants(
    conn: &Connection,
    cfg: &Config,
    ticket: i64,
    msg: &Inbound,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let room = usize::try_from(cfg.limits.max_recipients.saturating_sub(1)).unwrap_or(usize::MAX);
    let mut present = store::tickets::participants(conn, ticket)?
        .into_iter()
        .filter(|p| p.role == "cc")
        .count();
    let mut dropped: Vec<&str> = Vec::new();
    for a in msg.to.iter().chain(msg.cc.iter()) {
        if cfg.is_helpdesk_address(&a.email) || cfg.technician(&a.email).is_some() {
            continue;
        }
        if store::tickets::is_participant(conn, ticket, &a.email)? {
            // Already on the ticket: this only fills in a missing name.
            store::tickets::add_participant(conn, ticket, &a.email, a.name.as_deref(), "cc")?;
            continue;
        }
        if present >= room {
            if !dropped.contains(&a.email.as_str()) {
                dropped.push(&a.email);
            }
            continue;
        }
        store::tickets::add_participant(conn, ticket, &a.email, a.name.as_deref(), "cc")?;
        present += 1;
    }
    if !dropped.is_empty() {
        let detail = dropped_recipients(&dropped, cfg.limits.max_recipients);
        store::events::add(
            conn,
            Some(ticket),
            now,
            "loket",
            "recipients_dropped",
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

fn join(list: &[crate::inbound::Address]) -> String {
    list.iter()
        .map(|a| a.email.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn store_message(
    conn: &Connection,
    cfg: &Config,
    ticket: i64,
    kind: &str,
    msg: &Inbound,
    raw: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let id = store::messages::insert(
        conn,
        &store::messages::NewMessage {
            ticket_id: ticket,
            direction: "in",
            kind,
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
            raw: Some(raw),
        },
    )?;
    for (i, a) in msg.attachments.iter().enumerate() {
        let dropped = if i as u64 >= cfg.limits.max_attachments {
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
        };
        store::messages::add_attachment(
            conn,
            id,
            &a.name,
            &a.content_type,
            &a.data,
            dropped.as_deref(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod limit_tests {
    //! `[limits]`: what happens to a message past each limit. Nothing is dropped silently:
    //! a whole message goes to quarantine with its bytes, a part of one is listed on the ticket.
    use super::*;
    use crate::clock::ManualClock;

    fn env(limits: &str) -> Env {
        let cfg = crate::fixtures::config(
            "helpdesk@example.test",
            &format!(
                "[limits]\n{limits}\n[[technicians]]\nemail = \"budi@example.test\"\nname = \"Budi\"\n"
            ),
        )
        .expect("config");
        Env {
            cfg: Arc::new(cfg),
            renderer: Arc::new(outbound::render::Renderer::new(None).expect("templates")),
            clock: Arc::new(ManualClock::new(
                "2026-11-23T02:00:00Z".parse().expect("time"),
            )),
        }
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    fn quarantined_raw(conn: &Connection) -> Vec<u8> {
        conn.query_row("SELECT raw FROM quarantine", [], |r| r.get(0))
            .expect("one quarantined message")
    }

    #[test]
    fn message_over_max_message_bytes_is_quarantined_whole() {
        let env = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
        let mut conn = store::memory();
        let raw = format!(
            "From: <rina@example.test>\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n{}\r\n",
            "x".repeat(5000)
        );
        let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
        let Outcome::Quarantined { reason } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("limits.max_message_bytes"), "{reason}");
        assert_eq!(quarantined_raw(&conn), raw.as_bytes());
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 0);
        // Its Message-ID is read from the header block alone, for `loket quarantine list`.
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM quarantine WHERE message_id = 'big@x'"
            ),
            1
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM events WHERE kind = 'quarantined' AND detail LIKE '%max_message_bytes%'"
            ),
            1
        );
    }

    #[test]
    fn header_block_over_max_header_bytes_is_quarantined_whole() {
        let env = env("max_header_bytes = 4096");
        let mut conn = store::memory();
        let filler: String = (0..100)
            .map(|i| format!("X-Filler-{i}: {}\r\n", "y".repeat(60)))
            .collect();
        let raw = format!(
            "From: <rina@example.test>\r\n{filler}Subject: many headers\r\nMessage-ID: <h@x>\r\n\r\nshort body\r\n"
        );
        let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
        let Outcome::Quarantined { reason } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("limits.max_header_bytes"), "{reason}");
        assert_eq!(quarantined_raw(&conn), raw.as_bytes());
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 0);

        // The same size in the body is an ordinary message.
        let raw = format!(
            "From: <rina@example.test>\r\nSubject: long body\r\nMessage-ID: <b@x>\r\n\r\n{filler}"
        );
        let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
        assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
    }

    fn big(id: &str) -> String {
        format!(
            "From: <rina@example.test>\r\nTo: <helpdesk@example.test>\r\nSubject: scan\r\n\
             Message-ID: <{id}>\r\n\r\n{}\r\n",
            "x".repeat(5000)
        )
    }

    fn released(conn: &Connection, id: i64) -> Option<String> {
        conn.query_row(
            "SELECT released_as FROM quarantine WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("quarantine row")
    }

    #[test]
    fn release_after_raising_the_limit_makes_the_ticket_and_marks_the_row() {
        let small = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
        let mut conn = store::memory();
        let raw = big("scan@x");
        let outcome = process(&mut conn, &small, raw.as_bytes(), &Source::Stdin).unwrap();
        assert!(
            matches!(outcome, Outcome::Quarantined { .. }),
            "{outcome:?}"
        );

        let raised = env("max_message_bytes = 1048576");
        let outcome = release(&mut conn, &raised, 1).unwrap();
        let Outcome::Created { ticket, .. } = outcome else {
            panic!("{outcome:?}")
        };
        let tag = format!("{}-{ticket}", raised.cfg.helpdesk.tag_prefix);
        assert_eq!(released(&conn, 1), Some(tag.clone()));
        // The ticket holds the message, says where it came from, and records the release.
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM messages WHERE message_id = 'scan@x'"
            ),
            1
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM events WHERE kind = 'created' AND detail = 'via release:1'"
            ),
            1
        );
        assert_eq!(
            count(
                &conn,
                &format!(
                    "SELECT COUNT(*) FROM events WHERE ticket_id = {ticket} AND kind = 'released' \
                     AND detail LIKE '%released as {tag}%max_message_bytes%'"
                )
            ),
            1
        );
        // The bytes stay, and a second release is refused with what became of it.
        assert_eq!(quarantined_raw(&conn), raw.as_bytes());
        let err = format!("{:#}", release(&mut conn, &raised, 1).unwrap_err());
        assert!(
            err.contains("already released") && err.contains(&tag),
            "{err}"
        );
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 1);
        let err = format!("{:#}", release(&mut conn, &raised, 7).unwrap_err());
        assert!(err.contains("no quarantined message 7"), "{err}");
    }

    #[test]
    fn release_of_a_message_still_too_large_keeps_the_row_and_writes_nothing() {
        let small = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
        let mut conn = store::memory();
        process(&mut conn, &small, big("still@x").as_bytes(), &Source::Stdin).unwrap();
        let events = count(&conn, "SELECT COUNT(*) FROM events");

        let outcome = release(&mut conn, &small, 1).unwrap();
        let Outcome::Quarantined { reason } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(
            reason.contains("limits.max_message_bytes is 4096"),
            "{reason}"
        );
        assert_eq!(released(&conn, 1), None);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM quarantine"), 1);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM events"), events);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 0);
    }

    #[test]
    fn release_of_a_message_stored_meanwhile_is_a_duplicate() {
        // Quarantined at one limit, then delivered again after the limit was raised: the ticket
        // already has it, and the release must not make a second one.
        let small = env("max_message_bytes = 4096\nmax_header_bytes = 4096");
        let raised = env("max_message_bytes = 1048576");
        let mut conn = store::memory();
        let raw = big("again@x");
        process(&mut conn, &small, raw.as_bytes(), &Source::Stdin).unwrap();
        let outcome = process(&mut conn, &raised, raw.as_bytes(), &Source::Stdin).unwrap();
        assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");

        assert_eq!(release(&mut conn, &raised, 1).unwrap(), Outcome::Duplicate);
        assert_eq!(
            released(&conn, 1).as_deref(),
            Some("duplicate of a stored message")
        );
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 1);
    }

    #[test]
    fn released_message_keeps_the_mailbox_it_came_in_at() {
        let env = env("");
        let cfg = &*env.cfg;
        let original = |label: &str| Source::Release {
            id: 1,
            original: label.to_string(),
        };
        // The [helpdesk] mailbox, by its IMAP key and by its address; anything else: none.
        let helpdesk = &cfg.accounts()[0];
        assert_eq!(
            original(&format!("ingest:{}", helpdesk.address))
                .account(cfg)
                .map(|a| a.address.clone()),
            Some(helpdesk.address.clone())
        );
        assert_eq!(
            original(&format!("imap:{}:42", helpdesk.key))
                .account(cfg)
                .map(|a| a.address.clone()),
            Some(helpdesk.address.clone())
        );
        assert!(original("ingest").account(cfg).is_none());
        assert!(original("imap:nobody:1").account(cfg).is_none());
        assert_eq!(original("ingest").label(), "release:1");
    }

    #[test]
    fn header_block_length_stops_at_the_first_empty_line() {
        assert_eq!(
            parse::header_block_len(b"A: b\r\nC: d\r\n\r\nbody\r\n\r\n"),
            12
        );
        assert_eq!(parse::header_block_len(b"A: b\nC: d\n\nbody\n\n"), 10);
        assert_eq!(parse::header_block_len(b"A: b\nC: d\n"), 10);
        assert_eq!(parse::header_block_len(b"\r\nbody"), 0);
        assert_eq!(parse::header_block_len(b""), 0);
    }

    #[test]
    fn attachments_beyond_max_attachments_are_listed_as_dropped() {
        let env = env("max_attachments = 2\nmax_attachment_bytes = 100");
        let mut conn = store::memory();
        let mut raw = String::from(
            "From: <rina@example.test>\r\nSubject: files\r\nMessage-ID: <f@x>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee files\r\n",
        );
        for (i, size) in [10, 500, 10, 10, 10].iter().enumerate() {
            raw.push_str(&format!(
                "--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f{i}.bin\r\n\r\n{}\r\n",
                "z".repeat(*size)
            ));
        }
        raw.push_str("--B--\r\n");
        let outcome = process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
        assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
        let rows: Vec<(String, Option<String>, Option<String>)> = conn
            .prepare("SELECT name, sha256, dropped FROM attachments ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows.len(), 5, "every attachment is listed: {rows:?}");
        assert!(rows[0].1.is_some() && rows[0].2.is_none(), "{rows:?}");
        assert!(
            rows[1].1.is_none()
                && rows[1]
                    .2
                    .as_deref()
                    .unwrap()
                    .contains("max_attachment_bytes"),
            "{rows:?}"
        );
        for row in &rows[2..] {
            assert!(row.1.is_none(), "{rows:?}");
            assert!(
                row.2
                    .as_deref()
                    .unwrap()
                    .contains("limits.max_attachments (2"),
                "{rows:?}"
            );
        }
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM blobs"), 1);
    }

    #[test]
    fn copied_addresses_beyond_max_recipients_are_recorded_and_never_mailed() {
        let env = env("max_recipients = 3");
        let mut conn = store::memory();
        let cc: Vec<String> = (0..6).map(|i| format!("c{i}@example.test")).collect();
        let raw = format!(
            "From: <rina@example.test>\r\nTo: <helpdesk@example.test>, <c0@example.test>\r\n\
             Cc: {}\r\nSubject: rapat\r\nMessage-ID: <r@x>\r\n\r\nproyektor mati\r\n",
            cc.join(", ")
        );
        process(&mut conn, &env, raw.as_bytes(), &Source::Stdin).unwrap();
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM participants WHERE role = 'cc'"),
            2,
            "room for the requester and two copied people"
        );
        let detail: String = conn
            .query_row(
                "SELECT detail FROM events WHERE kind = 'recipients_dropped'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            detail.starts_with("4 address(es)") && detail.contains("c5@example.test"),
            "{detail}"
        );

        // A technician's answer goes to the requester and the copied people: at most 3.
        let reply = "From: <budi@example.test>\r\nTo: <helpdesk@example.test>\r\n\
             Subject: RE: [HD-1] rapat\r\nMessage-ID: <t@x>\r\n\r\nSudah dicek, coba lagi.\r\n";
        process(&mut conn, &env, reply.as_bytes(), &Source::Stdin).unwrap();
        let rcpt: String = conn
            .query_row("SELECT rcpt FROM outbox WHERE kind = 'relay'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rcpt.split(',').count(), 3, "{rcpt}");
        assert!(rcpt.starts_with("rina@example.test"), "{rcpt}");
    }

    #[test]
    fn cap_recipients_keeps_to_before_cc_and_counts_duplicates_once() {
        let a = |e: &str| crate::inbound::Address {
            name: None,
            email: e.to_string(),
        };
        let mut to = vec![a("r@x"), a("r@x")];
        let mut cc = vec![a("c1@x"), a("r@x"), a("c2@x"), a("c3@x")];
        let dropped = outbound::cap_recipients(&mut to, &mut cc, 3);
        assert_eq!(
            to.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(),
            ["r@x"]
        );
        assert_eq!(
            cc.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(),
            ["c1@x", "c2@x"]
        );
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].email, "c3@x");
    }

    fn request(n: usize, subject: &str) -> Vec<u8> {
        format!(
            "From: User {n} <user{n}@example.test>\r\nTo: <helpdesk@example.test>\r\n\
             Subject: {subject}\r\nMessage-ID: <batch.{n}@example.test>\r\n\r\nTolong dibantu.\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn batch_keeps_the_messages_before_a_failure_and_nothing_of_it() {
        let env = env("");
        let mut conn = store::memory();
        // The second message cannot be stored (as a poison message in production would fail).
        conn.execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON tickets WHEN NEW.subject LIKE '%RACUN%' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .unwrap();
        let raws = [
            request(1, "Printer rusak"),
            request(2, "RACUN"),
            request(3, "VPN putus"),
        ];
        let items: Vec<(&[u8], Source)> = raws
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let source = Source::Imap {
                    mailbox: "INBOX".into(),
                    uid_validity: 7,
                    uid: i as u32 + 1,
                };
                (r.as_slice(), source)
            })
            .collect();
        let batch = process_batch(&mut conn, &env, &items, &|_| false).unwrap();
        // The first one is kept, as it came out the first time; the failure is reported; the
        // third was never tried.
        assert_eq!(
            batch.outcomes,
            vec![Outcome::Created {
                ticket: 1,
                acknowledged: true
            }]
        );
        let failure = format!("{:#}", batch.failure.expect("the failure"));
        assert!(failure.contains("poisoned"), "{failure}");
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM tickets"), 1);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM messages WHERE direction = 'in'"
            ),
            1
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM outbox WHERE kind = 'ack'"),
            1
        );
        // The mailbox progress is that of the first message, not of the failed one.
        assert_eq!(
            count(
                &conn,
                "SELECT last_uid FROM mailbox_state WHERE mailbox = 'INBOX'"
            ),
            1
        );
        // The search index holds the first message once.
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'printer'"
            ),
            1
        );
        // The message after the failed one gets the next ticket number.
        let batch = process_batch(&mut conn, &env, &items[2..], &|_| false).unwrap();
        assert_eq!(
            batch.outcomes,
            vec![Outcome::Created {
                ticket: 2,
                acknowledged: true
            }]
        );
        assert!(batch.failure.is_none());
    }

    #[test]
    fn batch_failing_on_its_first_message_keeps_nothing() {
        let env = env("");
        let mut conn = store::memory();
        conn.execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON tickets \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .unwrap();
        let raw = request(1, "Printer rusak");
        let items = [(raw.as_slice(), Source::Stdin)];
        let batch = process_batch(&mut conn, &env, &items, &|_| false).unwrap();
        assert!(batch.outcomes.is_empty());
        assert!(batch.failure.is_some());
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM messages"), 0);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM events"), 0);
    }
}
