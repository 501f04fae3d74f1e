//! `loket run`: an IMAP task per mailbox, the sender task, the scheduler and (when configured)
//! the metrics endpoint side by side, stopped together by SIGTERM or SIGINT. Each task finishes
//! the message in hand before it returns. SIGHUP reloads the config and templates: rules,
//! categories, targets, people and mail texts change at the next message or tick; the servers,
//! logins, mailboxes and database stay as started.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::env::{Env, LiveEnv};
use crate::health::Health;
use crate::outbound::render::Renderer;
use crate::{inbound, ingest, metrics, outbound, scheduler, store};

/// Builds the shared environment: config, compiled templates, the real clock.
pub fn env(cfg: Config) -> Result<Env> {
    let renderer = Renderer::new(cfg.templates.dir.as_deref()).context("loading templates")?;
    Ok(env_with(cfg, renderer))
}

/// [`env`] for a command that handles one thing and exits (`loket ingest`, a release, a
/// digest): its templates are compiled when first rendered, which is what makes a process per
/// mail cheap. The daemon compiles them all at start instead, to refuse a broken override then.
pub fn one_shot_env(cfg: Config) -> Result<Env> {
    let renderer = Renderer::lazy(cfg.templates.dir.as_deref()).context("loading templates")?;
    Ok(env_with(cfg, renderer))
}

fn env_with(cfg: Config, renderer: Renderer) -> Env {
    Env {
        cfg: Arc::new(cfg),
        renderer: Arc::new(renderer),
        clock: Arc::new(SystemClock),
    }
}

/// Loads the config at `path` again for a running daemon: checked as at start, its templates
/// compiled, the connection settings kept from `running` (named in the second value when they
/// differ). Any error leaves the caller with the config it has.
pub fn reload(path: &Path, running: &Env) -> Result<(Env, Vec<&'static str>)> {
    let mut cfg = Config::load(path)?;
    let kept = cfg.keep_connections_of(&running.cfg);
    // The mailboxes stay as started, with their default categories: those must still exist,
    // or new tickets there would carry a category no technician or rule knows.
    for a in cfg.accounts() {
        if let Some(c) = a.category.as_deref() {
            if crate::decide::rules::category(&cfg, c).is_none() {
                anyhow::bail!(
                    "mailbox {} keeps category `{c}` until a restart, and the new [[categories]] \
                     do not have it; keep the category, or restart to change the mailbox",
                    a.address
                );
            }
        }
    }
    let renderer = Renderer::new(cfg.templates.dir.as_deref()).context("loading templates")?;
    Ok((
        Env {
            cfg: Arc::new(cfg),
            renderer: Arc::new(renderer),
            clock: Arc::clone(&running.clock),
        },
        kept,
    ))
}

/// Runs until SIGTERM/SIGINT. `config_path` is read again on SIGHUP.
pub async fn run(env: Env, config_path: &Path) -> Result<()> {
    // First of all: SIGHUP's default action ends the process, and a `systemctl reload` right
    // after the start must not.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let cfg = Arc::clone(&env.cfg);
    if let Some(warning) = crate::decide::authn::open_door_warning(&cfg) {
        tracing::warn!("{warning}");
    }
    // Fails early on a database it cannot write, which every task would otherwise retry forever.
    store::open_for_writing(&cfg.database.path)?;
    // Fails early on a bad SMTP setting (unreadable CA file, ...) rather than in the task.
    outbound::smtp::Session::new(&cfg)?;
    // Likewise the IMAP login's secret files; the login (and its token cache) outlives
    // reconnections.
    let login = inbound::imap::Login::new(&cfg)?;
    // Likewise a metrics port that is taken: bound here, served by a task below.
    let metrics_listener = match cfg.metrics.as_ref().and_then(|m| m.addr) {
        Some(addr) => Some(metrics::bind(addr).await?),
        None => None,
    };

    let live = Arc::new(LiveEnv::new(env.clone()));
    let health = Arc::new(Health::new(
        cfg.accounts().iter().map(|a| a.address.as_str()),
        env.clock.now(),
    ));
    let cancel = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    // One IMAP task per mailbox, each with its own connection to the database (they take
    // turns at writing through the store's write gate, like every writer).
    for account in cfg.accounts() {
        let driver = ingest::Driver::new(
            Arc::clone(&live),
            Arc::clone(&wake),
            Arc::clone(&health),
            cancel.clone(),
        );
        let task = inbound::imap::Task {
            account: account.clone(),
            login: login.for_account(account)?,
            db: store::Db::open(&cfg.database.path)?,
            driver: Arc::new(driver),
            health: Arc::clone(&health),
            cancel: cancel.clone(),
        };
        let span = tracing::info_span!("imap", mailbox = %account.address);
        tasks.spawn(inbound::imap::run(env.clone(), task).instrument(span));
    }
    {
        let (cfg, clock, wake, health, cancel) = (
            Arc::clone(&cfg),
            Arc::clone(&env.clock),
            Arc::clone(&wake),
            Arc::clone(&health),
            cancel.clone(),
        );
        tasks.spawn(async move {
            let path = cfg.database.path.clone();
            if let Err(e) = outbound::smtp::run(cfg, &path, clock, wake, health, cancel).await {
                tracing::error!(error = %format!("{e:#}"), "sender task stopped");
            }
        });
    }
    {
        let (live, wake, cancel) = (Arc::clone(&live), Arc::clone(&wake), cancel.clone());
        let path = cfg.database.path.clone();
        tasks.spawn(async move {
            if let Err(e) = scheduler::run(live, &path, wake, cancel).await {
                tracing::error!(error = %format!("{e:#}"), "scheduler stopped");
            }
        });
    }
    if let (Some(listener), Some(m)) = (metrics_listener, cfg.metrics.as_ref()) {
        tasks.spawn(metrics::serve(
            listener,
            cfg.database.path.clone(),
            Arc::clone(&env.clock),
            Arc::clone(&health),
            m.unhealthy_after,
            cancel.clone(),
        ));
    }
    let addresses: Vec<&str> = cfg.accounts().iter().map(|a| a.address.as_str()).collect();
    tracing::info!(addresses = ?addresses, db = %cfg.database.path.display(), "loket running");

    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = hup.recv() => {
                let running = live.get();
                match reload(config_path, &running) {
                    Ok((fresh, kept)) => {
                        live.set(fresh);
                        if kept.is_empty() {
                            tracing::info!(config = %config_path.display(), "SIGHUP: config and templates reloaded");
                        } else {
                            tracing::warn!(
                                config = %config_path.display(),
                                unchanged = ?kept,
                                "SIGHUP: config and templates reloaded; changes to these sections need a restart and are not applied"
                            );
                        }
                    }
                    Err(e) => tracing::error!(
                        config = %config_path.display(),
                        error = %format!("{e:#}"),
                        "SIGHUP: reload failed; keeping the config in force"
                    ),
                }
            }
            _ = tasks.join_next() => { tracing::error!("a task ended unexpectedly; shutting down"); break; }
        }
    }
    cancel.cancel();
    // The tasks stop at the next message boundary; an SMTP or IMAP call that hangs must not
    // hold the process hostage.
    if tokio::time::timeout(Duration::from_secs(4), async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("tasks did not stop within 4 s; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_refuses_to_drop_a_category_a_running_mailbox_uses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("loket.toml");
        let base = crate::fixtures::minimal_toml("helpdesk@example.test");
        let with = format!(
            "{base}\n[[categories]]\nname = \"sap\"\n\n[[mailboxes]]\naddress = \"sap@example.test\"\n\
             category = \"sap\"\nfolder = \"SAP\"\n"
        );
        std::fs::write(&path, &with).expect("config");
        let running = env(Config::load(&path).expect("config loads")).expect("env");
        // Same file: reloads.
        assert!(reload(&path, &running).is_ok());
        // The category gone (renamed), the mailbox still pointing at it: refused, and why.
        std::fs::write(
            &path,
            with.replace("name = \"sap\"", "name = \"erp\"")
                .replace("category = \"sap\"", "category = \"erp\""),
        )
        .expect("config");
        let err = format!("{:#}", reload(&path, &running).err().expect("refused"));
        assert!(
            err.contains("sap@example.test") && err.contains("`sap`"),
            "{err}"
        );
    }
}
