//! Loket: an e-mail driven IT helpdesk. Mail flows one way:
//!
//! ```text
//! mailbox (inbound::imap, or `loket ingest`)
//!   -> parse     inbound::parse: raw bytes -> Inbound
//!   -> thread    thread: which ticket, and may this sender write to it
//!   -> decide    decide: what happens, pure functions
//!   -> store     pipeline + store: one transaction with ticket, events, outbox, mailbox state
//!   -> outbox    outbound::smtp: sends committed mail, retries until accepted
//! scheduler (auto-closure) -> decide::lifecycle -> effects -> store -> outbox
//! ```
//!
//! `decide` holds the helpdesk's knowledge as pure functions (loops, commands, lifecycle, quote
//! stripping); `effects` turns the changes it decides into ticket rows, events and mails.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod decide;
pub mod digest;
pub mod effects;
pub mod env;
pub mod fixtures;
pub mod health;
pub mod inbound;
pub mod metrics;
pub mod model;
pub mod net;
pub mod outbound;
pub mod pipeline;
pub mod scheduler;
pub mod store;
pub mod thread;
pub mod token;

pub mod daemon;
