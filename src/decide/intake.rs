//! What a new ticket starts as, decided before anything is written: its subject, the mailbox
//! that answers, its category by mailbox or rule, its level and language, its owner by rule or
//! by round-robin turn, and whose approval it waits for. Pure: the message, the config and the
//! last round-robin turn go in; `effects::open_ticket` writes what comes out.

use crate::config::{Assignment, Config, Technician};
use crate::decide::{approval, lifecycle, rules, tags};
use crate::inbound::Inbound;
use crate::model::Ticket;

/// A new ticket as decided.
#[derive(Debug)]
pub struct Intake<'c> {
    /// Without tags; empty when the mail had none (the stored ticket gets a placeholder in
    /// its language).
    pub subject: String,
    /// The `[[mailboxes]]` address it came in at (or its parent ticket's), which answers it;
    /// `None` for the `[helpdesk]` address.
    pub via: Option<String>,
    pub class: rules::Classification,
    pub language: String,
    pub level: i64,
    /// Who may take it: the technicians of its level and category.
    pub candidates: Vec<&'c Technician>,
    /// The owner a rule named.
    pub by_rule: Option<&'c Technician>,
    /// The owner whose turn it is (round-robin), when no rule named one.
    pub by_turn: Option<&'c Technician>,
    /// `Some(Some(a))`: wait for `a`'s approval. `Some(None)`: the rules ask for the
    /// requester's manager and no `[[departments]]` entry lists the requester.
    pub approver: Option<Option<String>>,
}

impl<'c> Intake<'c> {
    /// Decides a new ticket for `msg` from `requester`, which came in at the mailbox `arrived_at`
    /// (`None`: the `[helpdesk]` address), as a follow-up of `parent` if it has one.
    /// `last_turn` is asked for the technician assigned last by round-robin, only when a turn
    /// has to be taken.
    pub fn decide<E>(
        cfg: &'c Config,
        msg: &Inbound,
        requester: &str,
        arrived_at: Option<&str>,
        parent: Option<&Ticket>,
        last_turn: impl FnOnce() -> Result<Option<String>, E>,
    ) -> Result<Intake<'c>, E> {
        // The mailbox it came in at (a follow-up of a closed ticket without one keeps the old
        // ticket's): its address answers, its category is the default.
        let via = arrived_at
            .filter(|a| *a != cfg.helpdesk.address)
            .map(str::to_string)
            .or_else(|| parent.and_then(|t| t.mailbox.clone()));
        let default_category = via
            .as_deref()
            .and_then(|v| cfg.account_by_address(v))
            .and_then(|a| a.category.as_deref())
            .or(cfg.classify.default_category.as_deref());
        let class = rules::evaluate_with_default(cfg, msg, default_category);
        let language = class
            .language
            .clone()
            .unwrap_or_else(|| cfg.helpdesk.language.clone());
        let subject = tags::strip_tags(&msg.subject, &cfg.helpdesk.tag_prefix);
        let category = class.category.as_deref();
        let level = i64::from(class.level.max(1));
        let candidates = lifecycle::candidates(cfg, level, category);
        let by_rule = class.assignee.as_deref().and_then(|a| cfg.technician(a));
        let by_turn = match (by_rule, cfg.lifecycle.assignment) {
            // Nobody to take a turn: no need to look up whose turn it was.
            (None, Assignment::RoundRobin) if !candidates.is_empty() => {
                let last = last_turn()?;
                lifecycle::next_in_turn(&candidates, last.as_deref())
            }
            _ => None,
        };
        // A rule's approval, else the category's.
        let approver = class
            .approval
            .as_deref()
            .or_else(|| {
                category
                    .and_then(|c| rules::category(cfg, c))
                    .and_then(|c| c.approval.as_deref())
            })
            .map(|spec| approval::approver(spec, requester, &cfg.departments));
        Ok(Intake {
            subject,
            via,
            class,
            language,
            level,
            candidates,
            by_rule,
            by_turn,
            approver,
        })
    }

    /// The ticket's owner: a rule's, else the one whose turn it is.
    pub fn owner(&self) -> Option<&'c Technician> {
        self.by_rule.or(self.by_turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn cfg(extra: &str) -> Config {
        fixtures::config("helpdesk@example.test", extra).expect("config")
    }

    fn msg(subject: &str) -> Inbound {
        fixtures::inbound("rina@example.test", subject, "Tolong dibantu.")
    }

    fn no_turn() -> Result<Option<String>, std::convert::Infallible> {
        Ok(None)
    }

    /// Rina's new request with `subject` at the `[helpdesk]` address, no turn taken before.
    fn decide<'c>(cfg: &'c Config, subject: &str) -> Intake<'c> {
        Intake::decide(cfg, &msg(subject), "rina@example.test", None, None, no_turn).unwrap()
    }

    fn techs() -> String {
        fixtures::technicians(&[
            ("budi@example.test", "Budi", 1),
            ("sari@example.test", "Sari", 1),
        ])
    }

    #[test]
    fn tags_leave_the_subject_and_the_helpdesk_address_answers() {
        let cfg = cfg("");
        let i = decide(&cfg, "[HD-9] Printer");
        assert_eq!(i.subject, "Printer");
        assert_eq!(i.language, "id");
        assert_eq!(i.via, None);
        assert_eq!(i.level, 1);
    }

    #[test]
    fn round_robin_takes_the_turn_after_the_last() {
        let cfg = cfg(&techs());
        let last = || Ok::<_, std::convert::Infallible>(Some("budi@example.test".to_string()));
        let i =
            Intake::decide(&cfg, &msg("Printer"), "rina@example.test", None, None, last).unwrap();
        assert_eq!(
            i.owner().map(|t| t.email.as_str()),
            Some("sari@example.test")
        );
        assert!(i.by_rule.is_none());
    }

    #[test]
    fn turn_is_not_looked_up_when_a_rule_names_the_owner() {
        let cfg = cfg(&format!(
            "{}\n[[rules]]\nsubject_any = [\"vpn\"]\nassignee = \"budi@example.test\"\n",
            techs()
        ));
        let asked = || -> Result<Option<String>, String> { Err("must not be asked".into()) };
        let i = Intake::decide(
            &cfg,
            &msg("VPN putus"),
            "rina@example.test",
            None,
            None,
            asked,
        )
        .unwrap();
        assert_eq!(
            i.by_rule.map(|t| t.email.as_str()),
            Some("budi@example.test")
        );
        assert!(i.by_turn.is_none());
    }

    #[test]
    fn manager_approval_without_a_department_is_unresolved() {
        let cfg = cfg("[[rules]]\nsubject_any = [\"akses\"]\napproval = \"manager\"\n");
        let i = decide(&cfg, "Minta akses");
        assert_eq!(i.approver, Some(None));
    }
}
