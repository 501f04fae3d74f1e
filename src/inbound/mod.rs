//! Everything that brings mail in: the IMAP session loop (`imap`) and the conversion of raw bytes
//! into an owned, normalised [`Inbound`] message (`parse`). Nothing here decides what a message
//! means for a ticket; that is `thread` and `decide`.

pub mod html;
pub mod imap;
pub mod parse;

use chrono::{DateTime, Utc};

/// A mailbox address, normalised: `email` is trimmed and lower-cased; `name` has control
/// characters replaced by spaces and is `None` when empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

/// What kind of sender produced a message, for loop prevention. Anything but `Person` must never
/// receive an automatic answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoKind {
    /// Written by a person (as far as the headers tell).
    Person,
    /// Auto-Submitted other than "no", X-Autoreply/X-Autorespond, an out-of-office.
    AutoReply,
    /// Precedence bulk/junk/list or List-Id: mailing lists and newsletters.
    Bulk,
    /// A delivery status notification (multipart/report; report-type=delivery-status) or a
    /// message from mailer-daemon/postmaster.
    Bounce,
    /// Senders that announce that they read nothing: no-reply@, noreply@, do-not-reply@ ...
    NoReply,
}

/// One attachment as the sender named it. `name` is the decoded file name made safe by
/// [`parse::safe_file_name`] (one plain name, no path, no control characters, bounded), or a
/// generated `attachment-N` when there was none; it is never used as a path.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
    /// Where the part's (still encoded) body stands in the raw message, so a raw copy can be
    /// kept without it when it is over a limit. `None` when the parser gave no usable span.
    pub raw_body: Option<RawSpan>,
}

/// A byte range of the raw message and how its bytes are transfer-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawSpan {
    pub start: usize,
    pub end: usize,
    pub base64: bool,
}

/// A parsed, normalised inbound message. Owned, so it can cross tasks and outlive the raw bytes.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Message-ID without angle brackets. When the message has none, a stable synthetic one
    /// derived from the content hash (`synthetic_message_id == true`).
    pub message_id: String,
    pub synthetic_message_id: bool,
    pub from: Option<Address>,
    pub reply_to: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// Decoded subject, control characters (CR, LF, TAB, ...) replaced by spaces, runs of
    /// whitespace collapsed, trimmed. Empty string when missing.
    pub subject: String,
    /// Message-IDs without angle brackets.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub date: Option<DateTime<Utc>>,
    /// The readable body: text/plain preferred, HTML turned into text otherwise. Line endings
    /// normalised to \n.
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub auto: AutoKind,
    /// For bounces: Message-IDs of the original message the bounce reports on (from the
    /// embedded message/rfc822 or text/rfc822-headers part, and In-Reply-To/References).
    pub bounce_refs: Vec<String>,
    /// Raw values of every Authentication-Results header (used by sender authentication).
    pub authentication_results: Vec<String>,
    /// Every top-level header field in message order: the name as written and the value
    /// unfolded and trimmed but not MIME-decoded (for `[[rules]]` header conditions).
    pub headers: Vec<(String, String)>,
    /// Hex SHA-256 of the raw message with the headers that transport adds on the way removed
    /// (Received, Return-Path, Delivered-To, X-Original-To, Authentication-Results, ARC-*,
    /// Received-SPF, X-Spam-*, ...): two deliveries of the same message hash the same, while
    /// different mail under a reused Message-ID does not.
    pub content_hash: String,
    /// Size of the raw message in bytes.
    pub raw_size: usize,
}

impl Inbound {
    /// Who a new request is from: the From address, else (a mail with no usable From, as
    /// some forms and scripts send) the Reply-To one, so the request reaches the helpdesk
    /// instead of the quarantine. Never a technician: commands and technicians' rights go by
    /// `from` alone.
    pub fn requester(&self) -> Option<&Address> {
        self.from.as_ref().or(self.reply_to.as_ref())
    }
}
