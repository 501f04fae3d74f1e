//! What every task works with: the validated config, the compiled templates and the clock,
//! behind cheap reference counts; and the live copy SIGHUP replaces. Every mail built anywhere
//! takes its [`outbound::Ctx`] from [`Env::ctx`], so the three always come from one reload.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Config;
use crate::outbound::{self, render::Renderer};

/// What the pipeline, the scheduler and the digest need, shared by every task.
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

impl Env {
    /// What a mail built at `now` needs from this environment.
    pub fn ctx(&self, now: DateTime<Utc>) -> outbound::Ctx<'_> {
        outbound::Ctx {
            cfg: &self.cfg,
            renderer: &self.renderer,
            now,
        }
    }
}
