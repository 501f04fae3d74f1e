//! `loket run`: the IMAP task, the sender task, the scheduler and (when configured) the metrics
//! endpoint side by side, stopped together by SIGTERM or SIGINT. Each task finishes the message
//! in hand before it returns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::outbound::render::Renderer;
use crate::pipeline::Env;
use crate::{inbound, metrics, outbound, scheduler, store};

/// Builds the shared environment: config, compiled templates, the real clock.
pub fn env(cfg: Config) -> Result<Env> {
    let renderer = Renderer::new(cfg.templates.dir.as_deref()).context("loading templates")?;
    Ok(Env {
        cfg: Arc::new(cfg),
        renderer: Arc::new(renderer),
        clock: Arc::new(SystemClock),
    })
}

pub async fn run(env: Env) -> Result<()> {
    let cfg = Arc::clone(&env.cfg);
    let db = Arc::new(Mutex::new(store::open(&cfg.database.path)?));
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

    let cancel = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    tasks.spawn(inbound::imap::run(
        env.clone(),
        login,
        db,
        Arc::clone(&wake),
        cancel.clone(),
    ));
    {
        let (cfg, clock, wake, cancel) = (
            Arc::clone(&cfg),
            Arc::clone(&env.clock),
            Arc::clone(&wake),
            cancel.clone(),
        );
        tasks.spawn(async move {
            let path = cfg.database.path.clone();
            if let Err(e) = outbound::smtp::run(cfg, &path, clock, wake, cancel).await {
                tracing::error!(error = %format!("{e:#}"), "sender task stopped");
            }
        });
    }
    {
        let (env, wake, cancel) = (env.clone(), Arc::clone(&wake), cancel.clone());
        tasks.spawn(async move {
            let path = env.cfg.database.path.clone();
            if let Err(e) = scheduler::run(env, &path, wake, cancel).await {
                tracing::error!(error = %format!("{e:#}"), "scheduler stopped");
            }
        });
    }
    if let Some(listener) = metrics_listener {
        tasks.spawn(metrics::serve(
            listener,
            cfg.database.path.clone(),
            Arc::clone(&env.clock),
            cancel.clone(),
        ));
    }
    tracing::info!(address = %cfg.helpdesk.address, db = %cfg.database.path.display(), "loket running");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = tasks.join_next() => tracing::error!("a task ended unexpectedly; shutting down"),
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
