//! Messages set aside: quarantine (kept whole with the reason, and the mailbox progress moved
//! past them, so one bad message never holds up the ones behind it) and `loket quarantine
//! release`, which offers one to the pipeline again.

use anyhow::{Context, Result};
use rusqlite::{Connection, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::{Env, Outcome, Source, process_guarded, record_progress};
use crate::model::EventKind;
use crate::store;

pub(super) fn quarantine(
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
            EventKind::Quarantined,
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
        Outcome::Answered => (None, "a question, answered".to_string()),
        Outcome::Ignored { reason } => (None, format!("ignored: {reason}")),
    };
    let now = env.clock.now();
    store::quarantine::mark_released(&tx, id, now, &became)?;
    store::events::add(
        &tx,
        ticket,
        now,
        "loket",
        EventKind::Released,
        &format!(
            "quarantined message {id} released as {became} (it was held: {})",
            held.reason
        ),
    )?;
    store::search::index_pending(&tx)?;
    tx.commit().context("committing the release")?;
    Ok(outcome)
}
