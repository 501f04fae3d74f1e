//! The nouns every layer shares: a ticket as stored, its SLA clock, its status, and the kinds
//! of event the events table records. The bottom of the house: it imports nothing of Loket's,
//! so `store`, `decide`, `effects`, `outbound` and the reports can all speak of a ticket without
//! importing each other.
//!
//! Statuses and event kinds are stored as TEXT; the strings here are the only spelling of them
//! outside SQL in `store/`. Code reads some of them back (the round-robin turn reads the last
//! `assigned` event, the monthly report parses `status` events), so they must never drift.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: i64,
    pub subject: String,
    pub requester_email: String,
    pub requester_name: Option<String>,
    pub status: Status,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub level: i64,
    pub owner: Option<String>,
    pub language: String,
    pub parent_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The helpdesk address it came in at, when that is a `[[mailboxes]]` one.
    pub mailbox: Option<String>,
    /// The ticket it was merged into (`#merge`): its mail now goes there.
    pub merged_into: Option<i64>,
}

/// Deadlines and pause state as stored on the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlaClock {
    pub response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
}

/// One priority's SLA targets (with its category's overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub response: std::time::Duration,
    pub resolution: std::time::Duration,
    /// The clock runs around the clock (24x7) rather than on the business calendar.
    pub always_on: bool,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    New,
    Open,
    InProgress,
    Waiting,
    AwaitingApproval,
    Resolved,
    Closed,
    Rejected,
    /// Folded into another ticket by `#merge`; final, and its mail goes to that ticket.
    Merged,
}

impl Status {
    /// Every status, in the order a ticket goes through them (listings, metrics).
    pub const ALL: [Status; 9] = [
        Status::New,
        Status::Open,
        Status::InProgress,
        Status::Waiting,
        Status::AwaitingApproval,
        Status::Resolved,
        Status::Closed,
        Status::Rejected,
        Status::Merged,
    ];

    /// What a technician may set with `#status`.
    pub const SETTABLE: [Status; 4] = [
        Status::Open,
        Status::InProgress,
        Status::Waiting,
        Status::Resolved,
    ];

    /// The stored (and typed) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::InProgress => "in-progress",
            Status::Waiting => "waiting",
            Status::AwaitingApproval => "awaiting-approval",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Rejected => "rejected",
            Status::Merged => "merged",
        }
    }

    /// After these a ticket takes no more changes; a reply opens a new ticket.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Rejected | Status::Merged)
    }

    /// Resolved or beyond: the SLA no longer runs and the ticket counts as handled.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            Status::Resolved | Status::Closed | Status::Rejected | Status::Merged
        )
    }

    /// Whether `#status` may set it.
    pub fn is_settable(self) -> bool {
        Status::SETTABLE.contains(&self)
    }

    /// Not yet resolved (`loket tickets list --status active`).
    pub fn is_active(self) -> bool {
        !self.is_done()
    }

    /// The status as the requester reads it, in `lang` (`id` or anything else for English).
    pub fn label(self, lang: &str) -> &'static str {
        let (id, en) = match self {
            Status::New | Status::Open => ("Terbuka", "Open"),
            Status::InProgress => ("Sedang dikerjakan", "In progress"),
            Status::Waiting => ("Menunggu tanggapan Anda", "Waiting for your answer"),
            Status::AwaitingApproval => ("Menunggu persetujuan", "Awaiting approval"),
            Status::Resolved => ("Selesai", "Resolved"),
            Status::Closed => ("Ditutup", "Closed"),
            Status::Rejected => ("Ditolak", "Rejected"),
            Status::Merged => ("Digabungkan", "Merged"),
        };
        if lang == "id" { id } else { en }
    }

    /// Every spelling, comma-separated, for error messages.
    pub fn list(statuses: &[Status]) -> String {
        statuses
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Templates see the stored spelling (`{{ticket.status}}` is `in-progress`).
impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown status `{}` (known: {})",
            self.0,
            Status::list(&Status::ALL)
        )
    }
}

impl std::error::Error for UnknownStatus {}

impl FromStr for Status {
    type Err = UnknownStatus;

    /// The stored spelling, case-insensitively; `in_progress` is taken for `in-progress`.
    fn from_str(s: &str) -> Result<Status, UnknownStatus> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// What a row of the events table records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    // A ticket's life.
    Created,
    Classified,
    Rule,
    Threading,
    Assigned,
    AssignedByRule,
    // Changes (`decide::lifecycle::Change`).
    Status,
    Owner,
    Level,
    Priority,
    Category,
    Note,
    Cc,
    Merged,
    Linked,
    Time,
    // Satisfaction.
    Rated,
    // Mail on the ticket (the message kinds, `MessageKind`).
    Request,
    Reply,
    Auto,
    Bounce,
    Own,
    // Technicians' mail.
    Relayed,
    CommandsRefused,
    // Acknowledgements and other outgoing mail.
    AckQueued,
    AckFailed,
    AckSuppressed,
    DeliveryFailed,
    RecipientsDropped,
    // SLA and escalation.
    SlaWarning,
    SlaBreach,
    SecurityAlert,
    // Approvals.
    ApprovalRequested,
    ApprovalUnresolved,
    ApprovalReminded,
    ApprovalOverdue,
    ApprovalIgnored,
    Approved,
    ApprovalRejected,
    // Quarantine.
    Quarantined,
    Released,
}

impl EventKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        use EventKind::*;
        match self {
            Created => "created",
            Classified => "classified",
            Rule => "rule",
            Threading => "threading",
            Assigned => "assigned",
            AssignedByRule => "assigned_by_rule",
            Status => "status",
            Owner => "owner",
            Level => "level",
            Priority => "priority",
            Category => "category",
            Note => "note",
            Cc => "cc",
            Merged => "merged",
            Linked => "linked",
            Time => "time",
            Rated => "rated",
            Request => "request",
            Reply => "reply",
            Auto => "auto",
            Bounce => "bounce",
            Own => "own",
            Relayed => "relayed",
            CommandsRefused => "commands_refused",
            AckQueued => "ack_queued",
            AckFailed => "ack_failed",
            AckSuppressed => "ack_suppressed",
            DeliveryFailed => "delivery_failed",
            RecipientsDropped => "recipients_dropped",
            SlaWarning => "sla_warning",
            SlaBreach => "sla_breach",
            SecurityAlert => "security_alert",
            ApprovalRequested => "approval_requested",
            ApprovalUnresolved => "approval_unresolved",
            ApprovalReminded => "approval_reminded",
            ApprovalOverdue => "approval_overdue",
            ApprovalIgnored => "approval_ignored",
            Approved => "approved",
            ApprovalRejected => "approval_rejected",
            Quarantined => "quarantined",
            Released => "released",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a participant of a ticket is to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Who opened it; every mail to the requester's side goes to them.
    Requester,
    /// Someone the requester (or a technician with `#cc`) copied: follows the ticket and may
    /// write to it.
    Cc,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Cc => "cc",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "requester" => Ok(Role::Requester),
            "cc" => Ok(Role::Cc),
            other => Err(format!("unknown participant role `{other}`")),
        }
    }
}

/// What an incoming message is to the ticket it is stored on (the messages table's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The mail that opened the ticket.
    Request,
    /// A person's answer on the ticket.
    Reply,
    /// An automatic answer (out of office, auto-reply) kept on the ticket, not acted on.
    Auto,
    /// A delivery failure report for one of the ticket's mails.
    Bounce,
    /// A copy of the helpdesk's own mail that came back in.
    Own,
    /// The requester's rating of a resolved or closed ticket (`[satisfaction]`): kept, not
    /// relayed, not a reopening.
    Rating,
}

impl MessageKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Reply => "reply",
            MessageKind::Auto => "auto",
            MessageKind::Bounce => "bounce",
            MessageKind::Own => "own",
            MessageKind::Rating => "rating",
        }
    }

    /// The event that records it on the ticket.
    pub fn event(self) -> EventKind {
        match self {
            MessageKind::Request => EventKind::Request,
            MessageKind::Reply => EventKind::Reply,
            MessageKind::Auto => EventKind::Auto,
            MessageKind::Bounce => EventKind::Bounce,
            MessageKind::Own => EventKind::Own,
            MessageKind::Rating => EventKind::Rated,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_spelling() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert_eq!("In_Progress".parse::<Status>(), Ok(Status::InProgress));
        assert!("opne".parse::<Status>().is_err());
    }

    #[test]
    fn only_closed_and_rejected_are_final() {
        let finals: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            finals,
            vec![Status::Closed, Status::Rejected, Status::Merged]
        );
        assert!(Status::Resolved.is_done() && !Status::Resolved.is_final());
    }
}
