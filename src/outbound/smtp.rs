//! The sender task: sends committed outbox mails over a few reused SMTP connections
//! (`smtp.connections`; one ticket's mails always on one, in order), marks each sent once the
//! server has accepted it, and retries failures with capped exponential backoff. It renders
//! nothing and decides nothing; a crash between commit and send only delays a mail.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{AuthMode, Config, SaslMechanism, TlsMode};
use crate::health::Health;
use crate::model::EventKind;
use crate::store;
use crate::token::TokenSource;

/// lettre's TLS parameters for `smtp`: the web PKI roots plus `smtp.ca_file`.
fn tls_params(cfg: &Config) -> Result<TlsParameters> {
    let s = &cfg.smtp;
    let mut b = TlsParameters::builder(s.host.clone());
    if let Some(ca) = &s.ca_file {
        let pem = std::fs::read(ca)
            .with_context(|| format!("smtp.ca_file: cannot read {}", ca.display()))?;
        b =
            b.add_root_certificate(Certificate::from_pem(&pem).with_context(|| {
                format!("smtp.ca_file: {} is not a PEM certificate", ca.display())
            })?);
    }
    b.build_rustls().context("smtp: building TLS parameters")
}

/// The sender task's SMTP session: one connection, opened on first use, kept open between mails
/// and opened again after an error. lettre speaks the protocol; this owns the socket.
///
/// Why not lettre's pooled transport: it writes a message and its final `.` in two writes on a
/// socket without TCP_NODELAY, so every mail waited for the server's delayed ACK (about 40 ms; 18
/// mails per second against a Postfix that accepts several hundred, see BENCHMARKS.md), and it
/// sends a NOOP before every mail. Here the socket has TCP_NODELAY, and only a connection that sat
/// idle is checked before use.
pub struct Session {
    host: String,
    port: u16,
    mode: TlsMode,
    timeout: Duration,
    hello: ClientId,
    auth: Auth,
    /// STARTTLS parameters (lettre upgrades the stream itself).
    starttls: Option<TlsParameters>,
    /// Implicit TLS: the handshake is ours, before lettre reads the greeting.
    implicit: Option<tokio_rustls::TlsConnector>,
    conn: Option<AsyncSmtpConnection>,
    last_used: Instant,
}

/// How the sender logs in, if at all. Clones share an OAuth2 token cache.
#[derive(Clone)]
enum Auth {
    None,
    Password(Credentials),
    /// SASL XOAUTH2 / OAUTHBEARER with a token from `tokens`, as `user`.
    OAuth2 {
        user: String,
        mechanism: SaslMechanism,
        tokens: TokenSource,
    },
}

/// A connection unused this long is checked with NOOP before the next mail ...
const CHECK_AFTER: Duration = Duration::from_secs(5);
/// ... and one unused this long is closed and opened afresh (servers drop idle clients).
const REOPEN_AFTER: Duration = Duration::from_secs(60);

impl Session {
    /// Reads the settings (and CA file) now, so a bad one fails at start; connects lazily.
    pub fn new(cfg: &Config) -> Result<Session> {
        let s = &cfg.smtp;
        let auth = match (s.auth, &s.oauth2, &s.username) {
            (AuthMode::Oauth2, Some(o), Some(user)) => Auth::OAuth2 {
                user: user.clone(),
                mechanism: o.mechanism,
                tokens: TokenSource::new("smtp", o, s.timeout)?,
            },
            (AuthMode::Oauth2, _, _) => {
                anyhow::bail!("smtp.auth = \"oauth2\" needs smtp.username and [smtp.oauth2]")
            }
            (AuthMode::Password, _, _) => match (&s.username, cfg.smtp_password()?) {
                (Some(user), Some(pass)) => Auth::Password(Credentials::new(user.clone(), pass)),
                _ => Auth::None,
            },
        };
        Ok(Session {
            host: s.host.clone(),
            port: s.port,
            mode: s.tls,
            timeout: s.timeout,
            hello: ClientId::default(),
            auth,
            starttls: match s.tls {
                TlsMode::Starttls => Some(tls_params(cfg)?),
                _ => None,
            },
            implicit: match s.tls {
                TlsMode::Tls => Some(crate::net::tls_connector(
                    s.ca_file.as_deref(),
                    "smtp.ca_file",
                )?),
                _ => None,
            },
            conn: None,
            last_used: Instant::now(),
        })
    }

    /// Another session with the same settings and login (one token cache), not yet connected:
    /// the sender's further connections.
    fn sibling(&self) -> Session {
        Session {
            host: self.host.clone(),
            port: self.port,
            mode: self.mode,
            timeout: self.timeout,
            hello: self.hello.clone(),
            auth: self.auth.clone(),
            starttls: self.starttls.clone(),
            implicit: self.implicit.clone(),
            conn: None,
            last_used: Instant::now(),
        }
    }

    async fn open(&self) -> Result<AsyncSmtpConnection, String> {
        let addr = (self.host.as_str(), self.port);
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", self.host, self.port))?;
        // The point of owning the socket: no Nagle wait on the message's last small write.
        tcp.set_nodelay(true).ok();
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            Some(connector) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("smtp.host `{}`: {e}", self.host))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}:{}: {e}", self.host, self.port))?;
                Box::new(TlsTcp(Box::new(tls)))
            }
            None => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|e| format!("SMTP greeting: {e}"))?;
        if let Some(params) = &self.starttls {
            conn.starttls(params.clone(), &self.hello)
                .await
                .map_err(|e| format!("SMTP STARTTLS: {e}"))?;
        }
        match &self.auth {
            Auth::None => {}
            Auth::Password(credentials) => {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await
                    .map_err(|e| format!("SMTP AUTH: {e}"))?;
            }
            Auth::OAuth2 {
                user,
                mechanism,
                tokens,
            } => {
                let token = tokens.token().await.map_err(|e| format!("{e:#}"))?;
                let rejected = match self.sasl(&mut conn, *mechanism, user, &token).await? {
                    Ok(()) => return Ok(conn),
                    Err(reply) => reply,
                };
                // Revoked, or expired earlier than announced: one more try with a new token.
                tracing::warn!(user = %user, mechanism = mechanism.name(), reply = %rejected, "SMTP server rejected the OAuth2 token; renewing it");
                let token = tokens.renew(&token).await.map_err(|e| format!("{e:#}"))?;
                if let Err(reply) = self.sasl(&mut conn, *mechanism, user, &token).await? {
                    return Err(format!(
                        "SMTP AUTH {} as {user} failed with a fresh token: {reply}",
                        mechanism.name()
                    ));
                }
            }
        }
        debug_assert!(self.mode != TlsMode::Starttls || conn.is_encrypted());
        Ok(conn)
    }

    /// One SASL exchange with an OAuth2 token (lettre knows no OAUTHBEARER, and its XOAUTH2
    /// gives up on the server's error challenge): the initial response goes with AUTH; a 334
    /// challenge after it is the server's error report, answered with an empty line so the
    /// server ends the exchange. The inner error is the server's refusal; the outer one a
    /// broken connection.
    async fn sasl(
        &self,
        conn: &mut AsyncSmtpConnection,
        mechanism: SaslMechanism,
        user: &str,
        token: &str,
    ) -> Result<Result<(), String>, String> {
        use base64::Engine;
        let initial = crate::token::sasl_response(mechanism, user, &self.host, self.port, token);
        let encoded = base64::engine::general_purpose::STANDARD.encode(initial);
        let first = conn
            .command(format!("AUTH {} {encoded}\r\n", mechanism.name()))
            .await;
        let reply = match first {
            Ok(r) if r.has_code(235) => return Ok(Ok(())),
            Ok(r) if r.has_code(334) => conn.command("\r\n").await,
            other => other,
        };
        match reply {
            Ok(r) if r.has_code(235) => Ok(Ok(())),
            Ok(r) => Ok(Err(format!("unexpected reply {}", r.code()))),
            // A reply code (535, 454, 504 ...) is the server's answer; anything else means
            // the connection is gone.
            Err(e) if e.status().is_some() => Ok(Err(e.to_string())),
            Err(e) => Err(format!("SMTP AUTH: {e}")),
        }
    }

    /// Connects and logs in (what `loket check` tests), then says QUIT.
    pub async fn check(&mut self) -> Result<(), String> {
        let mut conn = tokio::time::timeout(self.timeout, self.open())
            .await
            .map_err(|_| format!("connecting to {}:{} timed out", self.host, self.port))??;
        tokio::time::timeout(self.timeout, conn.quit()).await.ok();
        Ok(())
    }

    /// Sends one mail. Failing to connect, log in or reach the server is temporary, whatever the
    /// reply code: a wrong password or a server that is down must delay mail, not discard it.
    pub(crate) async fn send(
        &mut self,
        envelope: &lettre::address::Envelope,
        raw: &[u8],
    ) -> Result<(), Failure> {
        let idle = self.last_used.elapsed();
        if let Some(mut conn) = self.conn.take() {
            let keep = if idle > REOPEN_AFTER {
                false
            } else if idle > CHECK_AFTER {
                tokio::time::timeout(self.timeout, conn.test_connected())
                    .await
                    .unwrap_or(false)
            } else {
                true
            };
            if keep {
                self.conn = Some(conn);
            } else {
                tokio::time::timeout(self.timeout, conn.abort()).await.ok();
            }
        }
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => tokio::time::timeout(self.timeout, self.open())
                .await
                .map_err(|_| {
                    Failure::Temporary(format!(
                        "SMTP: connecting to {}:{} timed out",
                        self.host, self.port
                    ))
                })?
                .map_err(Failure::Temporary)?,
        };
        let result = tokio::time::timeout(self.timeout, conn.send(envelope, raw)).await;
        self.last_used = Instant::now();
        match result {
            Ok(Ok(_)) => {
                if !conn.has_broken() {
                    self.conn = Some(conn);
                }
                Ok(())
            }
            Ok(Err(e)) => {
                // lettre marks the connection broken after an error; a refused recipient leaves
                // it usable.
                if !conn.has_broken() {
                    self.conn = Some(conn);
                }
                if e.is_permanent() {
                    Err(Failure::Permanent(format!("SMTP: {e}")))
                } else {
                    Err(Failure::Temporary(format!("SMTP: {e}")))
                }
            }
            // Dropped mid-mail: the server may or may not have it; the next attempt decides.
            Err(_) => Err(Failure::Temporary("SMTP: timed out".into())),
        }
    }

    /// Says QUIT on the open connection, if any.
    pub async fn close(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            tokio::time::timeout(self.timeout, conn.quit()).await.ok();
        }
    }
}

/// A TLS stream lettre can drive (its trait wants the peer address too).
#[derive(Debug)]
struct TlsTcp(Box<tokio_rustls::client::TlsStream<TcpStream>>);

impl AsyncRead for TlsTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(self.get_mut().0.as_mut()).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Delay before attempt number `attempts + 1`: 1 s, 2 s, 4 s ... up to `max`.
pub fn backoff(attempts: i64, max: Duration) -> Duration {
    let exp = attempts.clamp(0, 20) as u32;
    Duration::from_secs(1u64 << exp).min(max)
}

/// Sends what is due until nothing is; returns how many were accepted. Each round's mails go
/// out over all `sessions` side by side, a ticket's mails on one session in their order (an
/// acknowledgement before the notice that followed it), so a burst waits for the slowest
/// lane rather than for every acceptance in turn.
pub async fn send_due(
    db: &store::Db,
    sessions: &mut [Session],
    clock: &dyn Clock,
    max_backoff: Duration,
    health: &Health,
    cancel: &CancellationToken,
) -> Result<usize> {
    let mut sent = 0;
    loop {
        if cancel.is_cancelled() {
            return Ok(sent);
        }
        let batch = {
            let conn = db.lock();
            store::outbox::due(&conn, clock.now(), 50)?
        };
        if batch.is_empty() {
            return Ok(sent);
        }
        let lanes = lanes(batch, sessions.len());
        let results =
            futures::future::join_all(sessions.iter_mut().zip(lanes).map(|(session, lane)| {
                send_lane(db, session, lane, clock, max_backoff, health, cancel)
            }))
            .await;
        let mut go_on = true;
        for result in results {
            let (accepted, more) = result?;
            sent += accepted;
            go_on &= more;
        }
        if !go_on {
            return Ok(sent);
        }
    }
}

/// `batch` split into `n` lanes, by ticket (mails without one by their own id), each lane in
/// the batch's order.
fn lanes(batch: Vec<store::outbox::Pending>, n: usize) -> Vec<Vec<store::outbox::Pending>> {
    let n = n.max(1);
    let mut lanes: Vec<Vec<store::outbox::Pending>> = (0..n).map(|_| Vec::new()).collect();
    for mail in batch {
        let key = mail.ticket_id.unwrap_or(mail.id).unsigned_abs();
        lanes[(key % n as u64) as usize].push(mail);
    }
    lanes
}

/// Sends one lane's mails in order over `session`; returns how many were accepted and whether
/// the round may go on (not after a temporary failure: the server is likely down).
async fn send_lane(
    db: &store::Db,
    session: &mut Session,
    lane: Vec<store::outbox::Pending>,
    clock: &dyn Clock,
    max_backoff: Duration,
    health: &Health,
    cancel: &CancellationToken,
) -> Result<(usize, bool)> {
    let mut sent = 0;
    for mail in lane {
        // Checked between mails, never during one: a mail the server accepted is always
        // marked sent before we stop, so a shutdown sends nothing twice.
        if cancel.is_cancelled() {
            return Ok((sent, false));
        }
        let result = send_one(session, &mail).await;
        match &result {
            // A refusal is an answer: the server is there.
            Ok(()) | Err(Failure::Permanent(_)) => health.smtp_ok(clock.now()),
            Err(Failure::Temporary(e)) => health.smtp_failed(clock.now(), e),
        }
        // Between the server's acceptance and this commit a crash means a duplicate: wait
        // for the write gate (at most one message of a pipeline batch, which commits early
        // for us), not for SQLite's busy handler.
        let _turn = store::turn().await;
        let failure = match result {
            Ok(()) => {
                record_sent(db, &mail, clock, max_backoff, cancel).await?;
                sent += 1;
                tracing::info!(outbox = mail.id, message_id = %mail.message_id, rcpt = ?mail.rcpt, "mail sent");
                continue;
            }
            Err(failure) => failure,
        };
        // Held without an await in between: the other lanes run on this task.
        let conn = db.lock();
        match failure {
            Failure::Permanent(error) => {
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
                        EventKind::DeliveryFailed,
                        &format!("{} to {}: {error}", mail.kind, mail.rcpt.join(", ")),
                    )?;
                }
                tx.commit()?;
                tracing::error!(outbox = mail.id, message_id = %mail.message_id, rcpt = ?mail.rcpt, error, "mail refused permanently, not retried");
            }
            Failure::Temporary(error) => {
                let wait = backoff(mail.attempts, max_backoff);
                let retry_at = clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                store::outbox::mark_failed(&conn, mail.id, &error, retry_at)?;
                tracing::warn!(outbox = mail.id, attempts = mail.attempts + 1, retry_in = ?wait, error, "sending failed, will retry");
                // The server is likely down: stop this lane instead of failing every mail.
                return Ok((sent, false));
            }
        }
    }
    Ok((sent, true))
}

/// Commits "sent" for a mail the server has accepted. Until that commit a later round would
/// send the mail again, so a database that refuses the write for a while (locked by another
/// process, disk full) is waited out here, with backoff, instead of leaving the mail due. Only a
/// shutdown gives up: then the mail goes again after the restart (at least once, never lost).
async fn record_sent(
    db: &store::Db,
    mail: &store::outbox::Pending,
    clock: &dyn Clock,
    max_backoff: Duration,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut wait = Duration::from_secs(1);
    loop {
        let marked = {
            let conn = db.lock();
            store::outbox::mark_sent(&conn, mail.id, clock.now())
        };
        let e = match marked {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let Some(problem) = store::temporary_failure(&e) else {
            return Err(e.context(format!("recording outbox mail {} as sent", mail.id)));
        };
        if cancel.is_cancelled() {
            return Err(e.context(format!(
                "stopping before outbox mail {} was recorded as sent; it goes again after the restart",
                mail.id
            )));
        }
        tracing::error!(outbox = mail.id, problem, retry_in = ?wait, error = %format!("{e:#}"), "mail sent, but the database is {problem}: recording it as sent again shortly (the mail is not sent again)");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => {}
        }
        wait = (wait * 2).min(max_backoff);
    }
}

/// Why a mail did not go out: a permanent refusal (5xx, or an address that cannot be written in
/// SMTP at all) is final; anything else (connection, timeout, 4xx) is retried.
pub(crate) enum Failure {
    Permanent(String),
    Temporary(String),
}

async fn send_one(session: &mut Session, mail: &store::outbox::Pending) -> Result<(), Failure> {
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
    session.send(&envelope, &mail.raw).await
}

/// The sender task. Wakes when the pipeline commits new mail (`wake`), when a retry falls due,
/// or at least every `idle_check` in case a wake-up was missed; ends on `cancel` after the mail
/// in hand.
pub async fn run(
    cfg: Arc<Config>,
    db_path: &Path,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> Result<()> {
    let db = store::Db::open(db_path)?;
    let first = Session::new(&cfg)?;
    let mut sessions: Vec<Session> = (1..cfg.smtp.connections.max(1))
        .map(|_| first.sibling())
        .collect();
    sessions.insert(0, first);
    let idle_check = Duration::from_secs(5);
    // Set while the database refuses the sender's writes: the pause before the next round, so
    // a mail whose refusal or failure cannot be recorded is not sent again at once, over and over.
    let mut db_backoff: Option<Duration> = None;
    loop {
        if let Err(e) = send_due(
            &db,
            &mut sessions,
            clock.as_ref(),
            cfg.smtp.max_backoff,
            &health,
            &cancel,
        )
        .await
        {
            let wait = db_backoff.map_or(Duration::from_secs(1), |w| {
                (w * 2).min(cfg.smtp.max_backoff)
            });
            db_backoff = Some(wait);
            tracing::error!(db = %db_path.display(), error = %format!("{e:#}"), retry_in = ?wait, "outbox: database error");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => {}
            }
            continue;
        }
        db_backoff = None;
        if cancel.is_cancelled() {
            close_all(&mut sessions).await;
            return Ok(());
        }
        let next = {
            let conn = db.lock();
            store::outbox::next_due(&conn).ok().flatten()
        };
        let wait = next
            .map(|t| (t - clock.now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(idle_check)
            .min(idle_check);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => {
                close_all(&mut sessions).await;
                return Ok(());
            }
        }
    }
}

/// QUIT on every open connection, side by side.
async fn close_all(sessions: &mut [Session]) {
    futures::future::join_all(sessions.iter_mut().map(Session::close)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: i64, ticket: Option<i64>) -> store::outbox::Pending {
        store::outbox::Pending {
            id,
            ticket_id: ticket,
            message_id: format!("m{id}@example.test"),
            envelope_from: "helpdesk@example.test".into(),
            rcpt: vec!["user@example.test".into()],
            raw: Vec::new(),
            attempts: 0,
            kind: "ack".into(),
        }
    }

    #[test]
    fn lanes_keep_a_tickets_mails_together_and_in_order() {
        // Ticket 7's acknowledgement, then two notices; other tickets and a ticketless digest
        // between them.
        let batch = vec![
            pending(1, Some(7)),
            pending(2, Some(8)),
            pending(3, Some(7)),
            pending(4, None),
            pending(5, Some(9)),
            pending(6, Some(7)),
            pending(7, Some(10)),
        ];
        let lanes = lanes(batch, 3);
        assert_eq!(lanes.len(), 3);
        let ids = |l: &Vec<store::outbox::Pending>| l.iter().map(|m| m.id).collect::<Vec<_>>();
        let of_7 = lanes
            .iter()
            .find(|l| l.iter().any(|m| m.ticket_id == Some(7)))
            .unwrap();
        // All of ticket 7's mails in one lane, in the order they were queued.
        let sevens: Vec<i64> = of_7
            .iter()
            .filter(|m| m.ticket_id == Some(7))
            .map(|m| m.id)
            .collect();
        assert_eq!(sevens, vec![1, 3, 6]);
        assert_eq!(
            lanes
                .iter()
                .filter(|l| l.iter().any(|m| m.ticket_id == Some(7)))
                .count(),
            1
        );
        // Every mail exactly once, and more than one lane in use.
        let mut all: Vec<i64> = lanes.iter().flat_map(ids).collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 2, 3, 4, 5, 6, 7]);
        assert!(lanes.iter().filter(|l| !l.is_empty()).count() > 1);
        // One connection: one lane, the batch's order.
        let one = super::lanes(vec![pending(1, Some(7)), pending(2, Some(8))], 1);
        assert_eq!(one.iter().map(ids).collect::<Vec<_>>(), vec![vec![1, 2]]);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(0, max), Duration::from_secs(1));
        assert_eq!(backoff(3, max), Duration::from_secs(8));
        assert_eq!(backoff(10, max), max);
        assert_eq!(backoff(1000, max), max);
    }
}
