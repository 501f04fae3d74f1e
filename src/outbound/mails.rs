//! The mail contract: one function per kind of mail about a ticket. Each owns its template
//! (`MailKind`) and the shape of the data its template reads, so a caller says what happened
//! ("relay this text from Budi") and never passes a template name or a loose JSON blob. All of
//! them write to the outbox inside the caller's transaction; none sends anything.

use anyhow::Result;
use rusqlite::Connection;
use serde_json::{Value, json};

use super::{Ctx, labels, to_person, to_requester, to_staff, to_technicians};
use crate::config::Technician;
use crate::inbound::{Address, Inbound};
use crate::model::{SlaClock, Status, Ticket};
use crate::store::approvals::Approval;

/// Defines `MailKind` with its variants, its template names and `ALL` from one list, so the
/// three cannot drift apart.
macro_rules! mail_kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Every kind of mail Loket writes; its template is `templates/<lang>/<name>.*.hbs`,
        /// and the outbox row's `kind` is the same name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MailKind {
            $($(#[$doc])* $variant,)*
        }

        impl MailKind {
            pub const ALL: &[MailKind] = &[$(MailKind::$variant,)*];

            /// The template's name and the outbox's `kind`.
            pub fn name(self) -> &'static str {
                match self {
                    $(MailKind::$variant => $name,)*
                }
            }
        }
    };
}

mail_kinds! {
    /// To the requester: a new ticket's number, priority and deadlines.
    Ack => "ack",
    /// To the requester: a technician's answer.
    Relay => "relay",
    /// To technicians: a ticket new to them.
    TechNew => "tech_new",
    /// To technicians: the requester wrote again.
    TechReply => "tech_reply",
    /// To technicians: an internal note.
    TechNote => "tech_note",
    /// To a technician: their commands were refused.
    CommandError => "command_error",
    /// To the requester: changes of status, owner, level; resolved, closed, rejected.
    Status => "status",
    Owner => "owner",
    Level => "level",
    Resolved => "resolved",
    Closed => "closed",
    Rejected => "rejected",
    /// To the IT head: a security incident.
    SecurityAlert => "security_alert",
    /// To technicians (and managers): SLA deadlines near or passed.
    SlaWarning => "sla_warning",
    SlaBreach => "sla_breach",
    /// Approvals by reply: to the approver, the managers, the requester.
    ApprovalRequest => "approval_request",
    ApprovalReminder => "approval_reminder",
    ApprovalOverdue => "approval_overdue",
    ApprovalRefused => "approval_refused",
    Approved => "approved",
    /// To managers: the daily digest and the monthly recap.
    Digest => "digest",
    DigestMonthly => "digest_monthly",
    /// To a technician: the answer to their questions by mail (#mine, #queue, #show ...).
    QueryAnswer => "query_answer",
    /// To a requester: the answer to their #status.
    StatusAnswer => "status_answer",
    /// To a technician, each working morning: their queue.
    MorningQueue => "morning_queue",
    /// To whoever rated a ticket: thanks, and what was recorded.
    RatingThanks => "rating_thanks",
    /// To the owner and the managers: a low rating, with its comment.
    LowRating => "low_rating",
    /// To the requesters of two tickets: one was merged into the other.
    Merged => "merged",
}

/// A person as templates show them: the name, or the address when there is none.
fn person(name: Option<&str>, email: &str) -> Value {
    json!({"name": name.unwrap_or(email), "email": email})
}

fn technician(t: &Technician) -> Value {
    person(Some(&t.name), &t.email)
}

/// An address without a display name.
pub fn bare(email: &str) -> Address {
    Address {
        name: None,
        email: email.to_string(),
    }
}

/// Why technicians hear of a ticket that is new to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewFor {
    New,
    Assigned,
    Escalated,
}

/// What an SLA breach mail says, to the technicians and, for a resolution target, the managers.
pub struct Breach<'a> {
    pub target_label: &'a str,
    pub due_local: Option<String>,
    pub text: &'a str,
    /// The level it was escalated to, in words (none at the last level).
    pub escalated_to: Option<String>,
}

/// Mail about one ticket, inside the caller's transaction: `About::new(tx, ctx, &ticket)`
/// then one method per kind of mail.
pub struct About<'a> {
    conn: &'a Connection,
    ctx: &'a Ctx<'a>,
    ticket: &'a Ticket,
}

impl<'a> About<'a> {
    pub fn new(conn: &'a Connection, ctx: &'a Ctx<'a>, ticket: &'a Ticket) -> About<'a> {
        About { conn, ctx, ticket }
    }

    fn requester(&self, kind: MailKind, data: Value, with_cc: bool) -> Result<i64> {
        to_requester(self.conn, self.ctx, self.ticket, kind, data, with_cc)
    }

    fn technicians(&self, kind: MailKind, data: Value, to: &[&Technician]) -> Result<Option<i64>> {
        to_technicians(self.conn, self.ctx, self.ticket, kind, data, to)
    }

    fn staff(&self, kind: MailKind, data: Value, to: Vec<Address>) -> Result<Option<i64>> {
        to_staff(self.conn, self.ctx, self.ticket, kind, data, to)
    }

    /// What the resolved and closing mails say about rating (`[satisfaction]`), if they ask:
    /// not once the requester has rated (the closing mail after a rated resolution).
    fn rating_prompt(&self, to: Status) -> Result<Value> {
        let s = &self.ctx.cfg.satisfaction;
        let ask = s.enabled && (to == Status::Closed || (to == Status::Resolved && s.on_resolved));
        if !ask || crate::store::service::rating(self.conn, self.ticket.id)?.is_some() {
            return Ok(Value::Null);
        }
        Ok(json!({
            "window": labels::human_duration(&self.ticket.language, s.window),
        }))
    }

    /// Thanks `rater` for their rating; `replaced` is the score it replaces, if any.
    pub fn rating_thanks(
        &self,
        rater: &Address,
        (score, comment): (u8, Option<&str>),
        replaced: Option<u8>,
    ) -> Result<i64> {
        let data = json!({
            "rating": {"score": score, "comment": comment, "replaced": replaced},
            "rater": person(rater.name.as_deref(), &rater.email),
        });
        to_person(
            self.conn,
            self.ctx,
            self.ticket,
            MailKind::RatingThanks,
            data,
            rater.clone(),
        )
    }

    /// A rating at or below `[satisfaction] low`, to the owner (or the technicians in charge)
    /// and the managers, in one mail.
    pub fn low_rating(
        &self,
        to: Vec<Address>,
        rater: &Address,
        (score, comment): (u8, Option<&str>),
    ) -> Result<Option<i64>> {
        let owner = self
            .ticket
            .owner
            .as_deref()
            .map(|o| self.ctx.cfg.technician(o).map_or(o, |t| t.name.as_str()));
        let data = json!({
            "rating": {"score": score, "comment": comment},
            "rater": person(rater.name.as_deref(), &rater.email),
            "owner": {"name": owner},
        });
        self.staff(MailKind::LowRating, data, to)
    }

    /// Tells this ticket's requester that `source` was merged into `target` (one of them is this
    /// ticket); `both_yours` when the requester of both tickets is the same person.
    pub fn merged(&self, source: &Ticket, target: &Ticket, both_yours: bool) -> Result<i64> {
        let data = json!({
            "merge": {
                "source": {"tag": self.ctx.tag(source.id), "subject": source.subject},
                "target": {
                    "tag": self.ctx.tag(target.id),
                    "subject": target.subject,
                    "status_label": target.status.label(&self.ticket.language),
                },
                "this_was_merged": self.ticket.id == source.id,
                "both_yours": both_yours,
            },
        });
        self.requester(MailKind::Merged, data, false)
    }

    /// The acknowledgement of a new ticket, with its SLA deadlines and the approver it waits for.
    pub fn ack(&self, msg: &Inbound, sla: &SlaClock, approver: Option<&str>) -> Result<i64> {
        let extra = json!({
            "sla": {
                "response_local": sla.response_due.map(|t| self.ctx.local_time(t)),
                "resolution_local": sla.resolution_due.map(|t| self.ctx.local_time(t)),
            },
            "approval": approver.map(|a| json!({"approver": a})),
        });
        super::ack(self.conn, self.ctx, self.ticket, msg, extra)
    }

    /// A technician's answer, without the quoted history, to the requester and the people copied.
    pub fn relay(&self, text: &str, author: &Technician) -> Result<i64> {
        let data = json!({"text": text, "author": technician(author)});
        self.requester(MailKind::Relay, data, true)
    }

    /// A status change: its own mail for resolved, closed and rejected, the general one else.
    pub fn status_changed(
        &self,
        (from, to): (Status, Status),
        note: Option<&str>,
        author: Option<&Technician>,
    ) -> Result<i64> {
        let lang = self.ticket.language.as_str();
        let (kind, data) = match to {
            Status::Resolved => (
                MailKind::Resolved,
                json!({
                    "note": note,
                    "author": author.map(technician),
                    "auto_close": labels::human_duration(lang, self.ctx.cfg.lifecycle.auto_close_after),
                    "rating": self.rating_prompt(to)?,
                }),
            ),
            Status::Closed => (
                MailKind::Closed,
                json!({ "note": note, "rating": self.rating_prompt(to)? }),
            ),
            Status::Rejected => (MailKind::Rejected, json!({ "note": note })),
            _ => (
                MailKind::Status,
                json!({
                    "note": note,
                    "waiting": to == Status::Waiting,
                    "change": {
                        "from": from,
                        "to": to,
                        "from_label": from.label(lang),
                        "to_label": to.label(lang),
                    },
                }),
            ),
        };
        self.requester(kind, data, false)
    }

    /// Who handles the ticket now (`None`: nobody yet).
    pub fn owner(&self, name: Option<&str>) -> Result<i64> {
        let data = json!({"owner": {"name": name}});
        self.requester(MailKind::Owner, data, false)
    }

    /// The ticket moved to another support level.
    pub fn level(&self, reason: Option<&str>) -> Result<i64> {
        let data = json!({ "reason": reason });
        self.requester(MailKind::Level, data, false)
    }

    /// The approver agreed: the ticket is open for the technicians.
    pub fn approved(&self, approver: &str, note: Option<&str>) -> Result<i64> {
        let data = json!({"approver": approver, "note": note});
        self.requester(MailKind::Approved, data, false)
    }

    /// The approver refused (`note` is their reason, or "-").
    pub fn rejected(&self, note: &str) -> Result<i64> {
        let data = json!({ "note": note });
        self.requester(MailKind::Rejected, data, false)
    }

    /// A ticket new to `to`: the requester's words and attachments, and why they hear of it.
    #[allow(clippy::too_many_arguments)]
    pub fn tech_new(
        &self,
        to: &[&Technician],
        why: NewFor,
        reason: Option<&str>,
        (text, attachments): (&str, &[String]),
        similar: &[crate::store::similar::Similar],
    ) -> Result<Option<i64>> {
        let similar: Vec<Value> = similar
            .iter()
            .map(|s| {
                json!({
                    "tag": self.ctx.tag(s.ticket_id),
                    "subject": s.subject,
                    "note": s.note,
                    "resolved_local": self.ctx.local_time(s.resolved_at),
                })
            })
            .collect();
        let word = match why {
            NewFor::New => "new",
            NewFor::Assigned => "assigned",
            NewFor::Escalated => "escalated",
        };
        let label =
            labels::technician_reason(&self.ctx.cfg.helpdesk.language, word, self.ticket.level);
        let data = json!({
            "reason_label": label,
            "reason": reason,
            "text": text,
            "attachments": attachments,
            "similar": similar,
        });
        self.technicians(MailKind::TechNew, data, to)
    }

    /// The requester (or someone copied) wrote again; `reopened` when that reopened the ticket.
    #[allow(clippy::too_many_arguments)]
    pub fn tech_reply(
        &self,
        to: &[&Technician],
        author: &Address,
        text: &str,
        reopened: bool,
        attachments: &[&str],
    ) -> Result<Option<i64>> {
        let data = json!({
            "text": text,
            "author": person(author.name.as_deref(), &author.email),
            "reopened": reopened,
            "attachments": attachments,
        });
        self.technicians(MailKind::TechReply, data, to)
    }

    /// An internal note, for the other technicians.
    pub fn tech_note(
        &self,
        to: &[&Technician],
        text: &str,
        author: Option<&Technician>,
    ) -> Result<Option<i64>> {
        let author = author.map(|a| json!({"name": a.name, "email": a.email}));
        let data = json!({"text": text, "author": author});
        self.technicians(MailKind::TechNote, data, to)
    }

    /// A technician's commands were refused, each error with its line; nothing was changed.
    pub fn command_error(&self, errors: &[String], tech: &Technician) -> Result<Option<i64>> {
        let data = json!({"errors": errors, "author": technician(tech)});
        self.technicians(MailKind::CommandError, data, &[tech])
    }

    /// An SLA deadline is near: `left` is the working time left, in words.
    pub fn sla_warning(
        &self,
        to: &[&Technician],
        target_label: &str,
        due_local: Option<&str>,
        left: &str,
    ) -> Result<Option<i64>> {
        let data = json!({"target_label": target_label, "due_local": due_local, "left": left});
        self.technicians(MailKind::SlaWarning, data, to)
    }

    /// An SLA deadline passed: to `to`, and to `managers` when they must hear of it too.
    pub fn sla_breach(
        &self,
        to: &[&Technician],
        managers: Option<Vec<Address>>,
        b: &Breach<'_>,
    ) -> Result<()> {
        let data = json!({
            "target_label": b.target_label,
            "due_local": b.due_local,
            "text": b.text,
            "escalated_to": b.escalated_to,
        });
        self.technicians(MailKind::SlaBreach, data.clone(), to)?;
        if let Some(managers) = managers {
            self.staff(MailKind::SlaBreach, data, managers)?;
        }
        Ok(())
    }

    /// A ticket a rule marked for immediate escalation, to the IT head (`escalation.security`).
    pub fn security_alert(
        &self,
        (text, attachments): (&str, &[String]),
        rules: &str,
    ) -> Result<Option<i64>> {
        let to = self
            .ctx
            .cfg
            .escalation
            .security
            .iter()
            .map(|a| bare(a))
            .collect();
        let data = json!({"text": text, "attachments": attachments, "rules": rules});
        self.staff(MailKind::SecurityAlert, data, to)
    }

    /// Asks `approver` to answer SETUJU or TOLAK; `token_tag` goes in the subject.
    pub fn approval_request(
        &self,
        approver: &str,
        token_tag: &str,
        (text, attachments): (&str, &[String]),
    ) -> Result<Option<i64>> {
        let data = json!({"token_tag": token_tag, "text": text, "attachments": attachments});
        self.staff(MailKind::ApprovalRequest, data, vec![bare(approver)])
    }

    /// Reminds the approver of a decision still owed.
    pub fn approval_reminder(
        &self,
        approval: &Approval,
        token_tag: &str,
        text: &str,
    ) -> Result<Option<i64>> {
        let data = json!({
            "token_tag": token_tag,
            "text": text,
            "requested_local": self.ctx.local_time(approval.requested_at),
        });
        let to = vec![bare(&approval.approver)];
        self.staff(MailKind::ApprovalReminder, data, to)
    }

    /// Tells `managers` that an approval is overdue despite a reminder.
    pub fn approval_overdue(
        &self,
        approval: &Approval,
        managers: Vec<Address>,
    ) -> Result<Option<i64>> {
        let data = json!({
            "approver": approval.approver,
            "requested_local": self.ctx.local_time(approval.requested_at),
        });
        self.staff(MailKind::ApprovalOverdue, data, managers)
    }

    /// Tells an approver that their answer decided nothing, and why.
    pub fn approval_refused(
        &self,
        approver: &str,
        why: &str,
        token_tag: &str,
    ) -> Result<Option<i64>> {
        let data = json!({"why": why, "token_tag": token_tag});
        self.staff(MailKind::ApprovalRefused, data, vec![bare(approver)])
    }
}

/// One ticket in a list of an answer or the morning queue.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub tag: String,
    pub subject: String,
    pub status_label: String,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub level_label: String,
    pub owner: Option<String>,
    pub requester: String,
    /// How old the ticket is, in words ("3 hari").
    pub age: String,
    /// The next deadline, local time, and which target it is.
    pub due_local: Option<String>,
    pub due_target: Option<String>,
    /// How far the deadline is, or how long ago it passed, in words.
    pub due_in: Option<String>,
    pub overdue: bool,
    /// For requesters: what happens next, in words.
    pub next: Option<String>,
}

/// One part of a technician's answer, in the order they asked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Section {
    /// What was asked, as the technician will recognise it (`#queue P1`).
    pub asked: String,
    pub rows: Vec<Row>,
    /// Tickets beyond the list's length, counted.
    pub more: usize,
    /// `#show`: the ticket as `loket tickets show` prints it.
    pub text: Option<String>,
    /// `#search`: the hits, one line each.
    pub hits: Vec<Hit>,
    /// `#help`.
    pub help: bool,
    /// Why this question got no answer (an unknown ticket, a filter that names nothing).
    pub error: Option<String>,
    /// Whether an empty `rows`/`hits` means "nothing" (not a section of another shape).
    pub listing: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    pub tag: String,
    pub status_label: String,
    pub subject: String,
    pub snippet: String,
}

/// The answer to a technician's questions, one mail for all of them.
pub fn query_answer(
    conn: &Connection,
    ctx: &Ctx<'_>,
    tech: &Technician,
    question: &Inbound,
    sections: &[Section],
    invalid: &[String],
) -> Result<i64> {
    let lang = ctx.cfg.technician_language(tech);
    let data = json!({
        "helpdesk": {"name": ctx.cfg.helpdesk.name, "address": ctx.cfg.helpdesk.address},
        "technician": technician(tech),
        "sections": sections,
        "invalid": invalid,
        "known": crate::decide::queries::KNOWN,
    });
    let to = Address {
        name: Some(tech.name.clone()),
        email: tech.email.clone(),
    };
    super::queue_answer(
        conn,
        ctx,
        (MailKind::QueryAnswer, lang),
        &data,
        to,
        question,
        None,
    )
}

/// What a requester asked with #status: their tickets, one ticket, or why not.
pub enum StatusAnswer<'a> {
    /// Their tickets of the last `days` days (maybe none).
    List { rows: &'a [Row], days: i64 },
    /// One of their tickets.
    One { row: &'a Row, id: i64 },
    /// A ticket they named that is not theirs or does not exist: the same words for both, so
    /// the answer tells nothing of other people's tickets.
    NotYours { typed: &'a str },
}

/// The answer to a requester's #status, in `lang`.
pub fn status_answer(
    conn: &Connection,
    ctx: &Ctx<'_>,
    (to, lang): (&Address, &str),
    question: &Inbound,
    answer: StatusAnswer<'_>,
) -> Result<i64> {
    let mut data = json!({
        "helpdesk": {"name": ctx.cfg.helpdesk.name, "address": ctx.cfg.helpdesk.address},
        "requester": person(to.name.as_deref(), &to.email),
    });
    let about = match answer {
        StatusAnswer::List { rows, days } => {
            data["list"] = json!({"rows": rows, "days": days});
            None
        }
        StatusAnswer::One { row, id } => {
            data["one"] = json!(row);
            Some(id)
        }
        StatusAnswer::NotYours { typed } => {
            data["not_yours"] = json!({ "typed": typed });
            None
        }
    };
    let kind = (MailKind::StatusAnswer, lang);
    super::queue_answer(conn, ctx, kind, &data, to.clone(), question, about)
}

/// A technician's morning queue: their open tickets and those at risk today.
pub fn morning_queue(
    conn: &Connection,
    ctx: &Ctx<'_>,
    tech: &Technician,
    date_local: &str,
    (mine, at_risk): (&[Row], &[Row]),
) -> Result<i64> {
    let lang = ctx.cfg.technician_language(tech);
    let data = json!({
        "helpdesk": {"name": ctx.cfg.helpdesk.name, "address": ctx.cfg.helpdesk.address},
        "technician": technician(tech),
        "date": date_local,
        "mine": mine,
        "mine_count": mine.len(),
        "at_risk": at_risk,
        "at_risk_count": at_risk.len(),
        "known": crate::decide::queries::KNOWN,
    });
    let to = [Address {
        name: Some(tech.name.clone()),
        email: tech.email.clone(),
    }];
    super::queue_report(
        conn,
        ctx,
        MailKind::MorningQueue,
        lang,
        &data,
        &to,
        &[],
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The templates are compiled in by name (`render::BUILTIN`, a macro that needs literals):
    /// every kind of mail must have one, and every template a kind.
    #[test]
    fn every_mail_kind_has_a_builtin_template_and_back() {
        let mut kinds: Vec<&str> = MailKind::ALL.iter().map(|k| k.name()).collect();
        let mut templates: Vec<&str> = crate::outbound::render::kinds().collect();
        kinds.sort_unstable();
        templates.sort_unstable();
        assert_eq!(kinds, templates);
    }
}
