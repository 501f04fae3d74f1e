//! The IMAP side: one session that fetches new messages by UID, hands each batch to the ingest
//! driver (`crate::ingest`), and only after the driver has committed flags it \Seen (or moves
//! it). Progress is tracked by UID in the database, never by the \Seen flag, so a person reading the mailbox in another
//! client loses nothing. IDLE where offered, polling otherwise; reconnects with capped backoff.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::{Account, AuthMode, Config, TlsMode};
use crate::env::Env;
use crate::health::Health;
use crate::ingest::Driver;
use crate::net::{Stream, tls_connector};
// Where the benchmark and older callers find the driver's limits.
pub use crate::ingest::{MAX_ATTEMPTS, MAX_HOLD, MAX_PER_COMMIT};
use crate::store::{self, mailbox};
use crate::token::{SaslAuthenticator, TokenSource};

pub type ImapSession = Session<Stream>;

async fn tls_wrap(cfg: &Config, tcp: TcpStream) -> Result<Stream> {
    let name =
        rustls_pki_types::ServerName::try_from(cfg.imap.host.clone()).with_context(|| {
            format!(
                "imap.host `{}` is not a valid TLS server name",
                cfg.imap.host
            )
        })?;
    let tls = tls_connector(cfg.imap.ca_file.as_deref(), "imap.ca_file")?
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {}:{}", cfg.imap.host, cfg.imap.port))?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// How the IMAP task logs in. Built once at start and kept across reconnects, so an OAuth2
/// access token is reused until it is due for renewal. A password is read at start (a missing
/// file stops Loket there) and again at every login, so a rotated `password_file` is used from
/// the next reconnect without a restart.
#[derive(Debug, Clone)]
pub enum Login {
    Password(Box<Account>),
    OAuth2(TokenSource),
}

impl Login {
    /// The login of the `[imap]` mailbox.
    pub fn new(cfg: &Config) -> Result<Login> {
        Ok(match (cfg.imap.auth, &cfg.imap.oauth2) {
            (AuthMode::Oauth2, Some(o)) => {
                Login::OAuth2(TokenSource::new("imap", o, cfg.imap.timeout)?)
            }
            (AuthMode::Oauth2, None) => bail!("imap.auth = \"oauth2\" without [imap.oauth2]"),
            (AuthMode::Password, _) => {
                let primary = cfg.accounts().first().context("no mailbox in the config")?;
                primary.password()?;
                Login::Password(Box::new(primary.clone()))
            }
        })
    }

    /// The login of `account`: its own password, or, with OAuth2, the same token source (one
    /// application token for every mailbox it may read; clones share the cache, so a rotated
    /// refresh token is used by all).
    pub fn for_account(&self, account: &Account) -> Result<Login> {
        Ok(match self {
            Login::Password(_) => {
                account.password()?;
                Login::Password(Box::new(account.clone()))
            }
            Login::OAuth2(tokens) => Login::OAuth2(tokens.clone()),
        })
    }
}

/// Logs in with a password (LOGIN) or an OAuth2 token (AUTHENTICATE). A rejected token is
/// renewed at the token endpoint and tried once more on the same connection: it may have been
/// revoked, or expired before the time the endpoint announced.
pub async fn login(
    client: async_imap::Client<Stream>,
    imap: &crate::config::Imap,
    user: &str,
    how: &Login,
) -> Result<ImapSession> {
    let tokens = match how {
        Login::Password(account) => {
            let password = account.password()?;
            return tokio::time::timeout(imap.timeout, client.login(user, password))
                .await
                .map_err(|_| anyhow!("IMAP login timed out"))?
                // The error carries the client back; only the message is of use, never the password.
                .map_err(|(e, _)| anyhow!("IMAP login as {user} failed: {e}"));
        }
        Login::OAuth2(tokens) => tokens,
    };
    let mechanism = imap
        .oauth2
        .as_ref()
        .map(|o| o.mechanism)
        .unwrap_or_default();
    let attempt = |client: async_imap::Client<Stream>, token: &str| {
        let response = crate::token::sasl_response(mechanism, user, &imap.host, imap.port, token);
        let auth = client.authenticate(mechanism.name(), SaslAuthenticator::new(response));
        tokio::time::timeout(imap.timeout, auth)
    };
    let token = tokens.token().await?;
    let client = match attempt(client, &token)
        .await
        .map_err(|_| anyhow!("IMAP AUTHENTICATE timed out"))?
    {
        Ok(session) => return Ok(session),
        Err((async_imap::error::Error::No(why) | async_imap::error::Error::Bad(why), client)) => {
            tracing::warn!(user = %user, mechanism = mechanism.name(), reply = %why, "IMAP server rejected the OAuth2 token; renewing it");
            client
        }
        Err((e, _)) => bail!("IMAP AUTHENTICATE {} as {user}: {e}", mechanism.name()),
    };
    let token = tokens.renew(&token).await?;
    attempt(client, &token)
        .await
        .map_err(|_| anyhow!("IMAP AUTHENTICATE timed out"))?
        .map_err(|(e, _)| {
            anyhow!(
                "IMAP AUTHENTICATE {} as {user} failed with a fresh token: {e}",
                mechanism.name()
            )
        })
}

/// Connects, upgrades to TLS as configured, reads the greeting and logs in to `account`.
pub async fn connect(cfg: &Config, account: &Account, how: &Login) -> Result<ImapSession> {
    let addr = (cfg.imap.host.as_str(), cfg.imap.port);
    let tcp = tokio::time::timeout(cfg.imap.timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            anyhow!(
                "connecting to IMAP {}:{} timed out",
                cfg.imap.host,
                cfg.imap.port
            )
        })?
        .with_context(|| format!("connecting to IMAP {}:{}", cfg.imap.host, cfg.imap.port))?;
    tcp.set_nodelay(true).ok();
    let stream = match cfg.imap.tls {
        TlsMode::Tls => tls_wrap(cfg, tcp).await?,
        TlsMode::None | TlsMode::Starttls => Stream::Plain(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    let greeting = tokio::time::timeout(cfg.imap.timeout, client.read_response())
        .await
        .map_err(|_| anyhow!("IMAP server sent no greeting"))?
        .context("reading the IMAP greeting")?;
    if greeting.is_none() {
        bail!("IMAP server closed the connection before its greeting");
    }
    if cfg.imap.tls == TlsMode::Starttls {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .context("IMAP STARTTLS refused")?;
        let Stream::Plain(tcp) = client.into_inner() else {
            bail!("STARTTLS on a connection that is already encrypted");
        };
        client = async_imap::Client::new(tls_wrap(cfg, tcp).await?);
    }
    login(client, &cfg.imap, &account.username, how).await
}

/// What `loket check` reports about the server, seen from `account`.
pub async fn probe(cfg: &Config, account: &Account) -> Result<Vec<String>> {
    let how = Login::new(cfg)?.for_account(account)?;
    let mut s = connect(cfg, account, &how).await?;
    let caps = s.capabilities().await.context("CAPABILITY")?;
    let mut names: Vec<String> = caps
        .iter()
        .map(|c| match c {
            async_imap::types::Capability::Imap4rev1 => "IMAP4rev1".to_string(),
            async_imap::types::Capability::Auth(a) => format!("AUTH={a}"),
            async_imap::types::Capability::Atom(a) => a.to_string(),
        })
        .collect();
    names.sort();
    let mb = s
        .examine(&account.folder)
        .await
        .with_context(|| format!("mailbox `{}`", account.folder))?;
    names.push(format!(
        "mailbox {}: {} messages, UIDVALIDITY {}",
        account.folder,
        mb.exists,
        mb.uid_validity.unwrap_or(0)
    ));
    s.logout().await.ok();
    Ok(names)
}

/// What one IMAP task works with besides the environment.
pub struct Task {
    pub account: Account,
    /// Built once at start and kept across reconnects (an OAuth2 token is reused until due).
    pub login: Login,
    pub db: store::Db,
    /// Stores what this task fetches; kept across reconnects.
    pub driver: Arc<Driver>,
    pub health: Arc<Health>,
    pub cancel: CancellationToken,
}

/// The IMAP task of one mailbox: runs sessions until `cancel`, reconnecting with backoff (1 s
/// doubling up to `imap.max_backoff`) when the server goes away.
pub async fn run(env: Env, task: Task) {
    let mut backoff = Duration::from_secs(1);
    let address = task.account.address.clone();
    loop {
        let started = std::time::Instant::now();
        match session(&env, &task).await {
            Ok(()) => return,
            Err(e) => {
                task.health
                    .imap_failed(&address, env.clock.now(), &format!("{e:#}"));
                // A session that ran a while was healthy: start the backoff over.
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_secs(1);
                }
                tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "IMAP session ended; reconnecting");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = task.cancel.cancelled() => return,
        }
        backoff = (backoff * 2).min(env.cfg.imap.max_backoff);
    }
}

async fn session(env: &Env, task: &Task) -> Result<()> {
    let (db, cancel, account) = (&task.db, &task.cancel, &task.account);
    let cfg = &env.cfg;
    let mut s = connect(cfg, account, &task.login).await?;
    let caps = s.capabilities().await.context("CAPABILITY")?;
    let can_idle = cfg.imap.idle && caps.has_str("IDLE");
    let can_move = caps.has_str("MOVE");
    if let Some(folder) = &account.processed_folder {
        ensure_folder(&mut s, folder).await?;
    }
    let mb = s
        .select(&account.folder)
        .await
        .with_context(|| format!("selecting mailbox `{}`", account.folder))?;
    let uid_validity = mb.uid_validity.context("server reported no UIDVALIDITY")?;
    tracing::info!(address = %account.address, folder = %account.folder, uid_validity, idle = can_idle, "IMAP session ready");
    task.health.imap_ok(&account.address, env.clock.now());

    let name = account.key.clone();
    let last_uid = db
        .run(move |c| {
            Ok(match mailbox::state(c, &name)? {
                Some(st) if st.uid_validity == uid_validity => st.last_uid,
                Some(st) => {
                    // The server renumbered the mailbox. Start over from the first message; the
                    // Message-ID + content check turns every message we already have into a
                    // duplicate, so nothing is processed twice and nothing is skipped.
                    tracing::warn!(
                        old = st.uid_validity,
                        new = uid_validity,
                        "UIDVALIDITY changed; rescanning the mailbox"
                    );
                    0
                }
                None => 0,
            })
        })
        .await?;
    let mut last_uid = last_uid;
    // Set while the database refuses writes (locked by another process, disk full): the wait
    // before the next attempt. The session stays open; the messages stay unseen on the server.
    let mut db_backoff: Option<Duration> = None;
    // True when the round just run was a recheck, run only because the server announced mail
    // during the one before: an announcement after an empty recheck is not followed again, so a
    // server that repeats EXISTS cannot keep Loket from waiting.
    let mut rechecked = false;

    loop {
        let round = async {
            flush_flags(account, db, &mut s, uid_validity, can_move).await?;
            let found = fetch_new(env, task, &mut s, uid_validity, &mut last_uid).await?;
            flush_flags(account, db, &mut s, uid_validity, can_move).await?;
            Ok::<_, anyhow::Error>(found)
        }
        .await;
        // Mail that arrived during the round is announced by the EXISTS the server sends at the
        // end of a command, and the server counts it as told: the IDLE that follows would not
        // announce it again. Such mail is fetched at once, or it would wait for the next
        // message's news or the next poll.
        let again = match round {
            Ok(found) => {
                rechecked = drain_announced(&mut s) && (found > 0 || !rechecked);
                // The mailbox has been read up to now: the "last successful poll" of the metrics.
                task.health.imap_ok(&account.address, env.clock.now());
                if db_backoff.take().is_some() {
                    tracing::info!(db = %cfg.database.path.display(), "database writable again; messages stored");
                }
                rechecked
            }
            Err(e) => {
                // Anything but a passing database fault ends the session (reconnect in `run`).
                let problem = store::temporary_failure(&e).ok_or(e)?;
                let wait = db_backoff.map_or(Duration::from_secs(1), |w| {
                    (w * 2).min(cfg.imap.max_backoff)
                });
                db_backoff = Some(wait);
                tracing::error!(
                    db = %cfg.database.path.display(),
                    problem,
                    retry_in = ?wait,
                    "database {} {problem}: messages not stored, left unseen on the server; will retry",
                    cfg.database.path.display()
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => { s.logout().await.ok(); return Ok(()); }
                }
                // Keeps the connection alive and notices a dead one.
                s.noop().await.context("NOOP")?;
                continue;
            }
        };
        if cancel.is_cancelled() {
            s.logout().await.ok();
            return Ok(());
        }
        if again {
            tracing::debug!("wake-up: new mail announced during the round");
            continue;
        }
        // Wait for news: IDLE pushes it, polling looks again after poll_interval.
        if can_idle {
            let mut idle = s.idle();
            idle.init().await.context("IDLE")?;
            let outcome = {
                let (wait, stop) = idle.wait_with_timeout(cfg.imap.poll_interval);
                tokio::select! {
                    r = wait => Some(r),
                    _ = cancel.cancelled() => { drop(stop); None }
                }
            };
            // Logged before DONE's round trip: the benchmark times a live acknowledgement from
            // these lines (issue 19 item 3).
            if let Some(Ok(IdleResponse::NewData(_))) = &outcome {
                tracing::debug!("wake-up: IDLE news");
            }
            s = idle.done().await.context("ending IDLE")?;
            match outcome {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("waiting in IDLE"),
                None => {
                    s.logout().await.ok();
                    return Ok(());
                }
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(cfg.imap.poll_interval) => {}
                _ = cancel.cancelled() => { s.logout().await.ok(); return Ok(()); }
            }
            // Keeps the server's view fresh and notices a dead connection early.
            s.noop().await.context("NOOP")?;
        }
        while s.unsolicited_responses.try_recv().is_ok() {}
    }
}

/// Empties the session's queue of unsolicited responses; true when one of them announced mail
/// (EXISTS or RECENT). Flag changes and expunges announce nothing new.
fn drain_announced(s: &mut ImapSession) -> bool {
    use async_imap::types::UnsolicitedResponse as U;
    let mut announced = false;
    while let Ok(r) = s.unsolicited_responses.try_recv() {
        announced |= matches!(r, U::Exists(_) | U::Recent(_));
    }
    announced
}

/// Fetches every message above `last_uid` in batches and hands each batch to the ingest driver,
/// advancing `last_uid` past every committed message (also when a later one fails). Returns how
/// many new messages the server listed.
async fn fetch_new(
    env: &Env,
    task: &Task,
    s: &mut ImapSession,
    uid_validity: u32,
    last_uid: &mut u32,
) -> Result<usize> {
    let (db, cancel) = (&task.db, &task.cancel);
    let cfg = &env.cfg;
    // UID n:* always includes the highest UID even when it is below n, hence the filter.
    let mut sizes: Vec<(u32, u32)> = s
        .uid_fetch(format!("{}:*", *last_uid + 1), "(UID RFC822.SIZE)")
        .await
        .context("UID FETCH sizes")?
        .try_filter_map(|f| async move { Ok(f.uid.map(|u| (u, f.size.unwrap_or(0)))) })
        .try_collect()
        .await
        .context("reading UID FETCH sizes")?;
    sizes.retain(|(uid, _)| *uid > *last_uid);
    sizes.sort_unstable();
    if sizes.is_empty() {
        return Ok(0);
    }
    tracing::info!(count = sizes.len(), "new messages");
    // A backlog (first start on a full mailbox, a long outage) reports its progress every few
    // seconds, so whoever watches the log knows it is moving and how long it will take.
    let mut progress = Progress::new(sizes.len());

    // Batches bounded by count and by bytes, so a run of large mails cannot exhaust memory.
    const BATCH_BYTES: u64 = 32 * 1024 * 1024;
    let mut i = 0;
    while i < sizes.len() {
        if cancel.is_cancelled() {
            break;
        }
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        while i < sizes.len() && batch.len() < cfg.imap.fetch_batch as usize {
            let (uid, size) = sizes[i];
            if !batch.is_empty() && bytes + size as u64 > BATCH_BYTES {
                break;
            }
            batch.push(uid);
            bytes += size as u64;
            i += 1;
        }
        let set = batch
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut fetched: Vec<(u32, Vec<u8>)> = s
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await
            .context("UID FETCH bodies")?
            .try_filter_map(|f| async move {
                // Only a body answers the request: the server may also send FETCH responses
                // nobody asked for (another client changed a message's flags), with a UID and
                // no body. Taken as messages, those would move the progress past mail not yet
                // stored.
                Ok(f.uid.zip(f.body().map(<[u8]>::to_vec)))
            })
            .try_collect()
            .await
            .context("reading UID FETCH bodies")?;
        fetched.retain(|(uid, _)| batch.contains(uid));
        fetched.sort_by_key(|(u, _)| *u);
        fetched.dedup_by_key(|(u, _)| *u);
        if fetched.len() < batch.len() {
            // Expunged by another client between the two fetches: nothing left to store.
            tracing::warn!(
                asked = batch.len(),
                got = fetched.len(),
                "some messages had no body (expunged meanwhile?); skipped"
            );
        }
        // The driver stores the batch in order on one blocking thread and says what it
        // committed; progress stops at the first temporary failure so nothing is skipped.
        let (driver, mailbox) = (Arc::clone(&task.driver), task.account.key.clone());
        let committed = db
            .run(move |conn| Ok(driver.ingest(conn, &mailbox, uid_validity, &fetched)))
            .await?;
        let (done, failure) = (committed.done, committed.failure);
        if let Some((uid, _)) = done.last() {
            *last_uid = (*last_uid).max(*uid);
        }
        progress.advance(done.len());
        if let Some(e) = failure {
            return Err(e).context("storing a message");
        }
    }
    Ok(sizes.len())
}

/// Progress lines for a long fetch: at most one every [`Progress::EVERY`], none for a short one.
struct Progress {
    total: usize,
    done: usize,
    started: std::time::Instant,
    last: std::time::Instant,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(5);

    fn new(total: usize) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            total,
            done: 0,
            started: now,
            last: now,
        }
    }

    fn advance(&mut self, n: usize) {
        self.done += n;
        if self.last.elapsed() < Self::EVERY
            && !(self.done >= self.total && self.last != self.started)
        {
            return;
        }
        self.last = std::time::Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        let left = self.total.saturating_sub(self.done);
        let eta = if rate > 0.0 { left as f64 / rate } else { 0.0 };
        tracing::info!(
            done = self.done,
            total = self.total,
            per_second = format!("{rate:.0}"),
            remaining_seconds = format!("{eta:.0}"),
            "backlog: {} of {} messages stored",
            self.done,
            self.total
        );
    }
}

/// Creates `folder` when the server does not have it. A missing `processed_folder` would
/// otherwise fail every MOVE after a commit, and the session would reconnect forever with the
/// messages committed but never moved; the administrator named the folder, so it is made.
async fn ensure_folder(s: &mut ImapSession, folder: &str) -> Result<()> {
    let found = s
        .list(None, Some(folder))
        .await
        .with_context(|| format!("LIST `{folder}`"))?
        .try_collect::<Vec<_>>()
        .await
        .with_context(|| format!("reading LIST `{folder}`"))?;
    if found.iter().any(|n| n.name() == folder) {
        return Ok(());
    }
    // A name LIST did not echo as written (a non-ASCII name in modified UTF-7, say) may exist
    // all the same: a refused CREATE is logged, and the move itself says what is wrong.
    match s.create(folder).await {
        Ok(()) => tracing::info!(folder, "created the processed folder"),
        Err(e) => tracing::warn!(folder, error = %e, "could not create the processed folder"),
    }
    Ok(())
}

/// Sets \Seen on (or moves) every committed message whose flag is still owed.
async fn flush_flags(
    account: &Account,
    db: &store::Db,
    s: &mut ImapSession,
    uid_validity: u32,
    can_move: bool,
) -> Result<()> {
    let mailbox = account.key.clone();
    let uids = db
        .run(move |c| store::mailbox::pending_flags(c, &mailbox, uid_validity))
        .await?;
    if uids.is_empty() {
        return Ok(());
    }
    for chunk in uids.chunks(500) {
        let set = chunk
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        s.uid_store(&set, "+FLAGS.SILENT (\\Seen)")
            .await
            .context("UID STORE \\Seen")?
            .try_collect::<Vec<_>>()
            .await
            .context("reading UID STORE")?;
        if let Some(folder) = &account.processed_folder {
            if can_move {
                s.uid_mv(&set, folder)
                    .await
                    .with_context(|| format!("moving to `{folder}`"))?;
            } else {
                s.uid_copy(&set, folder)
                    .await
                    .with_context(|| format!("copying to `{folder}`"))?;
                s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await
                    .context("UID STORE \\Deleted")?
                    .try_collect::<Vec<_>>()
                    .await?;
                s.uid_expunge(&set)
                    .await
                    .context("UID EXPUNGE")?
                    .try_collect::<Vec<_>>()
                    .await?;
            }
        }
        let mailbox = account.key.clone();
        let done = chunk.to_vec();
        db.run(move |c| store::mailbox::clear_pending_flags(c, &mailbox, uid_validity, &done))
            .await?;
    }
    Ok(())
}
