//! Loket: an e-mail driven IT helpdesk. Mail flows one way, and so do the imports:
//!
//! ```text
//! inbound::imap  IMAP session (IDLE/poll, UIDs); hands each fetched batch to
//!   -> ingest     the ingest driver: write gate, commits, retries, quarantine after 3 tries,
//!                 outbox backpressure; wakes the sender after each commit
//!   -> pipeline   one message in eight steps, inside the driver's transaction:
//!        inbound::parse   raw bytes -> Inbound (mail-parser does the MIME work)
//!        thread           which ticket (tag, In-Reply-To/References), may the sender write
//!        decide           what happens: loops, commands, intake, lifecycle, SLA; pure
//!        effects          rows, events and mails of the decision (open, replies, messages)
//!        outbound::mails  one function per kind of mail, rendered into the outbox table
//!   -> outbound::smtp     the sender task: sends committed mail, retries until accepted
//! scheduler (auto-closure, SLA steps, approvals, digest) -> decide -> effects -> outbox
//! `loket ingest` (MDA mode) enters at pipeline::process with one message.
//! ```
//!
//! To follow a new request from IMAP to its sent acknowledgement: `inbound::imap::fetch_new`
//! fetches it and hands it to `ingest::Driver::ingest`, which takes the write gate and runs
//! `pipeline::process_batch`; `pipeline::process_in`
//! parses it, `thread::locate` finds no ticket, `decide::inbound` says `NewTicket`,
//! `decide::intake::Intake::decide` picks category, priority, owner and approver,
//! `effects::open::open_ticket` writes the ticket and calls `outbound::mails::ack`, which
//! renders `templates/<lang>/ack.*` into the outbox row; after the commit the IMAP task flags
//! the message `\Seen`, and `outbound::smtp` sends the row and marks it sent.
//!
//! Layers, lowest first; a module imports only from layers below it:
//! - `model` (Ticket, Status, EventKind, MessageKind, SlaClock), `clock`, `net`
//! - `config` (every section's schema and validation), `store` (SQL, one file per table family)
//! - `decide` (pure), `inbound` (parse)
//! - `thread`, `view` (a ticket as text), `outbound` (mails, labels, render, compose, smtp),
//!   `effects`, `env`
//! - `pipeline`, `ingest`, `inbound::imap`, `scheduler`, `digest`
//! - `daemon`, `admin`, `cli`, `metrics`, `health`
//!
//! `fixtures` holds test and benchmark set-up (configs, environments, tickets); the daemon
//! never uses it.

pub mod admin;
pub mod calendar;
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
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod net;
pub mod outbound;
pub mod pipeline;
pub mod scheduler;
pub mod store;
pub mod thread;
pub mod token;
pub mod view;

pub mod daemon;
