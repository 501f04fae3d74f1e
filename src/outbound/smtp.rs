//! The sender task: sends committed outbox mails over one reused SMTP connection, marks each sent
//! once the server has accepted it, and retries failures with capped exponential backoff. It
//! renders nothing and decides nothing; a crash between commit and send only delays a mail.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rusqlite::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, TlsMode};
use crate::store;

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the SMTP transport. lettre's pool keeps the connection open between mails, so a burst
/// of acknowledgements goes out over one session.
pub fn transport(cfg: &Config) -> Result<Transport> {
    let s = &cfg.smtp;
    let tls_params = || -> Result<TlsParameters> {
        let mut b = TlsParameters::builder(s.host.clone());
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .with_context(|| format!("smtp.ca_file: cannot read {}", ca.display()))?;
            b = b.add_root_certificate(Certificate::from_pem(&pem).with_context(|| {
                format!("smtp.ca_file: {} is not a PEM certificate", ca.display())
            })?);
        }
        b.build_rustls().context("smtp: building TLS parameters")
    };
    let mut b =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone()).port(s.port);
    b = match s.tls {
        TlsMode::None => b.tls(Tls::None),
        TlsMode::Starttls => b.tls(Tls::Required(tls_params()?)),
        TlsMode::Tls => b.tls(Tls::Wrapper(tls_params()?)),
    };
    if let (Some(user), Some(pass)) = (&s.username, cfg.smtp_password()?) {
        b = b.credentials(Credentials::new(user.clone(), pass));
    }
    Ok(b.timeout(Some(s.timeout))
        .pool_config(
            PoolConfig::new()
                .max_size(1)
                .idle_timeout(Duration::from_secs(60)),
        )
        .build())
}

/// Delay before attempt number `attempts + 1`: 1 s, 2 s, 4 s ... up to `max`.
pub fn backoff(attempts: i64, max: Duration) -> Duration {
    let exp = attempts.clamp(0, 20) as u32;
    Duration::from_secs(1u64 << exp).min(max)
}

/// Sends what is due until nothing is; returns how many were accepted.
pub async fn send_due(
    db: &Arc<Mutex<Connection>>,
    transport: &Transport,
    clock: &dyn Clock,
    max_backoff: Duration,
    cancel: &CancellationToken,
) -> Result<usize> {
    let mut sent = 0;
    loop {
        if cancel.is_cancelled() {
            return Ok(sent);
        }
        let batch = {
            let conn = db.lock().unwrap_or_else(|p| p.into_inner());
            store::outbox::due(&conn, clock.now(), 50)?
        };
        if batch.is_empty() {
            return Ok(sent);
        }
        for mail in batch {
            // Checked between mails, never during one: a mail the server accepted is always
            // marked sent before we stop, so a shutdown sends nothing twice.
            if cancel.is_cancelled() {
                return Ok(sent);
            }
            let result = send_one(transport, &mail).await;
            // Between the server's acceptance and this commit a crash means a duplicate: wait
            // for the write gate (at most one pipeline transaction), not for SQLite's busy
            // handler.
            let _gate = store::WRITE_GATE.lock().await;
            let conn = db.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(()) => {
                    store::outbox::mark_sent(&conn, mail.id, clock.now())?;
                    sent += 1;
                    tracing::info!(outbox = mail.id, message_id = %mail.message_id, rcpt = ?mail.rcpt, "mail sent");
                }
                Err(Failure::Permanent(error)) => {
                    // Retrying a 5xx only repeats the refusal (and hammers the server): keep the
                    // mail with its error and tell the ticket, so a technician can see why the
                    // requester never got it.
                    let tx = conn.unchecked_transaction()?;
                    store::outbox::mark_dead(&tx, mail.id, &error, clock.now())?;
                    if let Some(ticket) = mail.ticket_id {
                        store::events::add(
                            &tx,
                            Some(ticket),
                            clock.now(),
                            "loket",
                            "delivery_failed",
                            &format!("{} to {}: {error}", mail.kind, mail.rcpt.join(", ")),
                        )?;
                    }
                    tx.commit()?;
                    tracing::error!(outbox = mail.id, message_id = %mail.message_id, rcpt = ?mail.rcpt, error, "mail refused permanently, not retried");
                }
                Err(Failure::Temporary(error)) => {
                    let wait = backoff(mail.attempts, max_backoff);
                    let retry_at =
                        clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    store::outbox::mark_failed(&conn, mail.id, &error, retry_at)?;
                    tracing::warn!(outbox = mail.id, attempts = mail.attempts + 1, retry_in = ?wait, error, "sending failed, will retry");
                    // The server is likely down: stop this round instead of failing every mail.
                    return Ok(sent);
                }
            }
        }
    }
}

/// Why a mail did not go out: a permanent refusal (5xx, or an address that cannot be written in
/// SMTP at all) is final; anything else (connection, timeout, 4xx) is retried.
enum Failure {
    Permanent(String),
    Temporary(String),
}

async fn send_one(transport: &Transport, mail: &store::outbox::Pending) -> Result<(), Failure> {
    let from = mail.envelope_from.parse().map_err(|e| {
        Failure::Permanent(format!("envelope sender `{}`: {e}", mail.envelope_from))
    })?;
    let to = mail
        .rcpt
        .iter()
        .map(|r| {
            r.parse()
                .map_err(|e| Failure::Permanent(format!("recipient `{r}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = lettre::address::Envelope::new(Some(from), to)
        .map_err(|e| Failure::Permanent(format!("building the envelope: {e}")))?;
    match transport.send_raw(&envelope, &mail.raw).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(Failure::Permanent(format!("SMTP: {e}"))),
        Err(e) => Err(Failure::Temporary(format!("SMTP: {e}"))),
    }
}

/// The sender task. Wakes when the pipeline commits new mail (`wake`), when a retry falls due,
/// or at least every `idle_check` in case a wake-up was missed; ends on `cancel` after the mail
/// in hand.
pub async fn run(
    cfg: Arc<Config>,
    db_path: &Path,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) -> Result<()> {
    let db = Arc::new(Mutex::new(store::open(db_path)?));
    let transport = transport(&cfg)?;
    let idle_check = Duration::from_secs(5);
    loop {
        if let Err(e) = send_due(
            &db,
            &transport,
            clock.as_ref(),
            cfg.smtp.max_backoff,
            &cancel,
        )
        .await
        {
            tracing::error!(error = %format!("{e:#}"), "outbox: database error");
        }
        if cancel.is_cancelled() {
            return Ok(());
        }
        let next = {
            let conn = db.lock().unwrap_or_else(|p| p.into_inner());
            store::outbox::next_due(&conn).ok().flatten()
        };
        let wait = next
            .map(|t| (t - clock.now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(idle_check)
            .min(idle_check);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(0, max), Duration::from_secs(1));
        assert_eq!(backoff(3, max), Duration::from_secs(8));
        assert_eq!(backoff(10, max), max);
        assert_eq!(backoff(1000, max), max);
    }
}
