//! Category and priority rules: the administrator's `[[priorities]]`, `[matrix]`,
//! `[[categories]]`, `[classify]` and `[[rules]]`, checked once at load, and [`evaluate`], which
//! classifies the first message of a new ticket. Pure: the config and the parsed message go in;
//! the classification and every rule's verdict with its reason come out, for the ticket's events
//! and for `loket rules test`. Nothing here touches the store, the disk or the network.
//!
//! Order of evaluation: a marker word in the subject ("URGENT", "mendesak") first raises the
//! urgency to high; then the rules run in order, each matching rule overriding what earlier ones
//! set (tags add up) until one says `stop`; last comes the priority: an explicit `priority` from
//! a rule, else impact x urgency through the matrix when either was set (the other one counts as
//! medium), else `classify.default_priority`.

use std::fmt;

use regex::Regex;

use crate::config::Config;
use crate::decide::words::{Pattern, Words, glob, tokens};
use crate::inbound::Inbound;

// The schema, its checks and the lookups moved to `config::rules` (the config owns its
// sections); their old paths stay, since half the crate and the tests name them here.
pub use crate::config::rules::*;

/// Word conditions and regular expressions look at this much of the body at most: a request
/// says what it is about near the top, and a pathological 50 MB body must not cost seconds and
/// gigabytes on the hot path.
pub const BODY_SCAN_LIMIT: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Where a classification's priority came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorityFrom {
    /// The last matching rule (this index) that set `priority`.
    Rule(usize),
    /// Impact x urgency through the matrix.
    Matrix { impact: Grade, urgency: Grade },
    /// `classify.default_priority`.
    Default,
}

/// One rule's verdict on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    /// Position in `[[rules]]`, from 0, as config errors count.
    pub index: usize,
    pub name: Option<String>,
    pub matched: bool,
    /// Matched: what each condition found. Not matched: the first condition that failed, or
    /// that an earlier rule stopped evaluation.
    pub reason: String,
    /// What the rule set, as `key = value` ("category = \"printer\"", "stop").
    pub set: Vec<String>,
}

impl fmt::Display for RuleTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rules[{}]", self.index)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        if self.matched {
            write!(f, " matched ({})", self.reason)?;
            if !self.set.is_empty() {
                write!(f, ": {}", self.set.join(", "))?;
            }
            Ok(())
        } else {
            write!(f, " not matched: {}", self.reason)
        }
    }
}

/// What the rules decided for a new ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The category's name as configured; `None` when no rule set one and there is no
    /// `classify.default_category`.
    pub category: Option<String>,
    /// A configured priority's name.
    pub priority: String,
    pub priority_from: PriorityFrom,
    /// As rules (and urgent words) set them; `None` when nothing did.
    pub impact: Option<Grade>,
    pub urgency: Option<Grade>,
    /// A technician's address: the ticket's owner.
    pub assignee: Option<String>,
    /// The support level the ticket starts at: a rule's, else its category's, else 1.
    pub level: u8,
    pub tags: Vec<String>,
    /// The language of mails to the requester, when a rule chose one.
    pub language: Option<String>,
    /// Escalate at once (`escalation.security` hears of it).
    pub escalate: bool,
    /// Approver: an address or "manager".
    pub approval: Option<String>,
    /// The urgent word found in the subject, which raised urgency to high.
    pub urgent_word: Option<String>,
    /// Every rule's verdict, in config order.
    pub trace: Vec<RuleTrace>,
}

impl Classification {
    /// The rules that matched, for the ticket's events.
    pub fn matched(&self) -> impl Iterator<Item = &RuleTrace> {
        self.trace.iter().filter(|t| t.matched)
    }
}

impl fmt::Display for Classification {
    /// One line for an event: "category printer, priority P2 (impact medium x urgency high),
    /// level 1, rules 0, 4".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "category {}, priority {}",
            self.category.as_deref().unwrap_or("-"),
            self.priority
        )?;
        match self.priority_from {
            PriorityFrom::Rule(i) => write!(f, " (set by rules[{i}])")?,
            PriorityFrom::Matrix { impact, urgency } => {
                write!(f, " (impact {impact} x urgency {urgency})")?
            }
            PriorityFrom::Default => write!(f, " (default)")?,
        }
        write!(f, ", level {}", self.level)?;
        if let Some(a) = &self.assignee {
            write!(f, ", assignee {a}")?;
        }
        if !self.tags.is_empty() {
            write!(f, ", tags {}", self.tags.join(" "))?;
        }
        if self.escalate {
            f.write_str(", escalate")?;
        }
        if let Some(a) = &self.approval {
            write!(f, ", approval by {a}")?;
        }
        let matched: Vec<String> = self.matched().map(|t| t.index.to_string()).collect();
        if matched.is_empty() {
            f.write_str(", no rule matched")
        } else {
            write!(f, ", rules {}", matched.join(", "))
        }
    }
}

/// Classifies `msg`, the first message of a new ticket. See the module documentation for the
/// order in which things are decided.
pub fn evaluate(cfg: &Config, msg: &Inbound) -> Classification {
    evaluate_with_default(cfg, msg, cfg.classify.default_category.as_deref())
}

/// [`evaluate`] with the category a message gets when no rule gives one: the mailbox's own
/// (`[[mailboxes]] category`) instead of `classify.default_category`.
pub fn evaluate_with_default(
    cfg: &Config,
    msg: &Inbound,
    default_category: Option<&str>,
) -> Classification {
    let subject_tokens = tokens(&msg.subject);
    let subject = Words::new(&subject_tokens);
    let body_text = scanned_body(&msg.text);
    let body_tokens = tokens(body_text);
    let body = Words::new(&body_tokens);
    let view = View {
        msg,
        subject: &subject,
        body: &body,
        body_text,
    };

    let mut c = Classification {
        category: None,
        priority: String::new(),
        priority_from: PriorityFrom::Default,
        impact: None,
        urgency: None,
        assignee: None,
        level: 1,
        tags: Vec::new(),
        language: None,
        escalate: false,
        approval: None,
        urgent_word: None,
        trace: Vec::with_capacity(cfg.rules.len()),
    };
    if let Some(w) = cfg
        .classify
        .urgent_words
        .iter()
        .find(|w| subject.has(&Pattern::new(w)))
    {
        c.urgency = Some(Grade::High);
        c.urgent_word = Some(w.clone());
    }

    let mut explicit_priority: Option<(String, usize)> = None;
    let mut rule_level: Option<u8> = None;
    let mut stopped_by: Option<usize> = None;
    for (index, rule) in cfg.rules.iter().enumerate() {
        let mut trace = RuleTrace {
            index,
            name: rule.name.clone(),
            matched: false,
            reason: String::new(),
            set: Vec::new(),
        };
        if let Some(s) = stopped_by {
            trace.reason = format!("not evaluated: rules[{s}] matched and stops evaluation");
            c.trace.push(trace);
            continue;
        }
        match conditions(rule, &view) {
            Err(why) => trace.reason = why,
            Ok(found) => {
                trace.matched = true;
                trace.reason = if found.is_empty() {
                    "no conditions: matches every message".into()
                } else {
                    found.join("; ")
                };
                trace.set = apply(rule, index, &mut c, &mut explicit_priority, &mut rule_level);
                if rule.stop {
                    stopped_by = Some(index);
                }
            }
        }
        c.trace.push(trace);
    }

    if c.category.is_none() {
        c.category = default_category.map(str::to_string);
    }
    c.level = rule_level
        .or_else(|| {
            c.category
                .as_deref()
                .and_then(|name| category(cfg, name))
                .map(|cat| cat.level)
        })
        .unwrap_or(1);
    (c.priority, c.priority_from) = match explicit_priority {
        Some((p, index)) => (p, PriorityFrom::Rule(index)),
        None if c.impact.is_some() || c.urgency.is_some() => {
            let impact = c.impact.unwrap_or(Grade::Medium);
            let urgency = c.urgency.unwrap_or(Grade::Medium);
            (
                matrix(cfg).get(impact, urgency).to_string(),
                PriorityFrom::Matrix { impact, urgency },
            )
        }
        None => (default_priority(cfg), PriorityFrom::Default),
    };
    c
}

/// The body up to [`BODY_SCAN_LIMIT`], cut at a character boundary.
pub fn scanned_body(text: &str) -> &str {
    if text.len() <= BODY_SCAN_LIMIT {
        return text;
    }
    let mut end = BODY_SCAN_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What conditions look at, prepared once per message.
struct View<'a> {
    msg: &'a Inbound,
    subject: &'a Words<'a>,
    body: &'a Words<'a>,
    body_text: &'a str,
}

/// What every condition of `rule` found, or why the first one that failed did.
fn conditions(rule: &Rule, v: &View<'_>) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    if !rule.from.is_empty() {
        let Some(from) = &v.msg.from else {
            return Err("from: the message has no sender address".into());
        };
        match rule.from.iter().find(|g| address_matches(g, &from.email)) {
            Some(g) => found.push(format!("from {} matches {g:?}", from.email)),
            None => {
                return Err(format!(
                    "from {} matches none of {}",
                    from.email,
                    shown(&rule.from)
                ));
            }
        }
    }
    if !rule.to.is_empty() {
        let hit = v.msg.to.iter().chain(&v.msg.cc).find_map(|a| {
            rule.to
                .iter()
                .find(|g| address_matches(g, &a.email))
                .map(|g| (a, g))
        });
        match hit {
            Some((a, g)) => found.push(format!("recipient {} matches {g:?}", a.email)),
            None => {
                return Err(format!("no To or Cc address matches {}", shown(&rule.to)));
            }
        }
    }
    for (what, words, list) in [
        ("subject", v.subject, &rule.subject_any),
        ("body", v.body, &rule.body_any),
    ] {
        if list.is_empty() {
            continue;
        }
        match list.iter().find(|w| words.has(&Pattern::new(w))) {
            Some(w) => found.push(format!("{what} has {w:?}")),
            None => return Err(format!("{what} has none of {}", shown(list))),
        }
    }
    for (what, text, pattern, compiled) in [
        (
            "subject",
            v.msg.subject.as_str(),
            &rule.subject_regex,
            &rule.subject_re,
        ),
        ("body", v.body_text, &rule.body_regex, &rule.body_re),
    ] {
        let Some(pattern) = pattern else { continue };
        // Compiled at load; a rule built some other way is compiled here, and an invalid
        // pattern simply does not match.
        let fresh;
        let re = match compiled {
            Some(re) => re,
            None => match Regex::new(pattern) {
                Ok(re) => {
                    fresh = re;
                    &fresh
                }
                Err(_) => return Err(format!("{what}_regex /{pattern}/ is not valid")),
            },
        };
        match re.find(text) {
            Some(m) => found.push(format!(
                "{what} matches /{pattern}/ at {:?}",
                clip(m.as_str(), 40)
            )),
            None => return Err(format!("{what} does not match /{pattern}/")),
        }
    }
    for h in &rule.header {
        let values: Vec<&str> = v
            .msg
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(&h.name))
            .map(|(_, value)| value.as_str())
            .collect();
        if values.is_empty() {
            return Err(format!("header {} is missing", h.name));
        }
        let (test, wanted): (&str, &str) = match (&h.equals, &h.contains) {
            (Some(e), _) => ("equals", e),
            (None, Some(c)) => ("contains", c),
            (None, None) => return Err(format!("header {}: nothing to compare", h.name)),
        };
        let wanted_lower = wanted.to_lowercase();
        let hit = values.iter().find(|value| {
            if test == "equals" {
                value.trim().to_lowercase() == wanted_lower.trim()
            } else {
                value.to_lowercase().contains(&wanted_lower)
            }
        });
        match hit {
            Some(value) => found.push(format!(
                "header {}: {:?} {test} {wanted:?}",
                h.name,
                clip(value, 60)
            )),
            None => {
                return Err(format!(
                    "header {}: {:?} does not {} {wanted:?}",
                    h.name,
                    clip(values[0], 60),
                    if test == "equals" { "equal" } else { "contain" }
                ));
            }
        }
    }
    if let Some(want) = rule.has_attachment {
        let n = v.msg.attachments.len();
        if want != (n > 0) {
            return Err(if want {
                "the message has no attachments".into()
            } else {
                format!("the message has {n} attachment(s)")
            });
        }
        found.push(if want {
            format!("{n} attachment(s)")
        } else {
            "no attachments".into()
        });
    }
    Ok(found)
}

/// Applies a matching rule's actions; returns what it set, for the trace.
fn apply(
    rule: &Rule,
    index: usize,
    c: &mut Classification,
    explicit_priority: &mut Option<(String, usize)>,
    rule_level: &mut Option<u8>,
) -> Vec<String> {
    let mut set = Vec::new();
    if let Some(v) = &rule.category {
        c.category = Some(v.clone());
        set.push(format!("category = {v:?}"));
    }
    if let Some(v) = &rule.priority {
        *explicit_priority = Some((v.clone(), index));
        set.push(format!("priority = {v:?}"));
    }
    if let Some(v) = rule.impact {
        c.impact = Some(v);
        set.push(format!("impact = \"{v}\""));
    }
    if let Some(v) = rule.urgency {
        c.urgency = Some(v);
        set.push(format!("urgency = \"{v}\""));
    }
    if let Some(v) = &rule.assignee {
        c.assignee = Some(v.clone());
        set.push(format!("assignee = {v:?}"));
    }
    if let Some(v) = rule.level {
        *rule_level = Some(v);
        set.push(format!("level = {v}"));
    }
    if !rule.tags.is_empty() {
        for t in &rule.tags {
            if !c.tags.contains(t) {
                c.tags.push(t.clone());
            }
        }
        set.push(format!("tags += {}", shown(&rule.tags)));
    }
    if let Some(v) = &rule.language {
        c.language = Some(v.clone());
        set.push(format!("language = {v:?}"));
    }
    if let Some(v) = rule.escalate {
        c.escalate = v;
        set.push(format!("escalate = {v}"));
    }
    if let Some(v) = &rule.approval {
        c.approval = Some(v.clone());
        set.push(format!("approval = {v:?}"));
    }
    if rule.stop {
        set.push("stop".into());
    }
    set
}

/// `pattern` with an "@" against the whole address, without one against its domain.
fn address_matches(pattern: &str, email: &str) -> bool {
    if pattern.contains('@') {
        glob(pattern, email)
    } else {
        email
            .rsplit_once('@')
            .is_some_and(|(_, domain)| glob(pattern, domain))
    }
}

/// A list of entries for a reason line, the first few of them quoted.
fn shown(list: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut s = list
        .iter()
        .take(SHOWN)
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > SHOWN {
        s.push_str(&format!(" and {} more", list.len() - SHOWN));
    }
    s
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

// ---------------------------------------------------------------------------------------------
// Explanation

/// What `loket rules test` prints: the message as Loket read it, every rule's verdict and why,
/// and the classification with its priority's SLA targets.
pub fn explain(cfg: &Config, msg: &Inbound) -> String {
    use std::fmt::Write;

    let addr = |a: &crate::inbound::Address| match &a.name {
        Some(name) => format!("{name} <{}>", a.email),
        None => a.email.clone(),
    };
    let list = |v: &[crate::inbound::Address]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.iter().map(addr).collect::<Vec<_>>().join(", ")
        }
    };
    let dash = |s: Option<&str>| s.unwrap_or("-").to_string();
    let c = evaluate(cfg, msg);

    // Writing to a String cannot fail, hence the ignored results.
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(o, "message:");
    let from = msg.from.as_ref().map(addr);
    let _ = writeln!(o, "  from:        {}", dash(from.as_deref()));
    let _ = writeln!(o, "  to:          {}", list(&msg.to));
    let _ = writeln!(o, "  cc:          {}", list(&msg.cc));
    let _ = writeln!(o, "  subject:     {}", msg.subject);
    if msg.auto != crate::inbound::AutoKind::Person {
        let _ = writeln!(
            o,
            "  sender:      {:?}: Loket sends this sender no automatic answer",
            msg.auto
        );
    }
    if msg.attachments.is_empty() {
        let _ = writeln!(o, "  attachments: -");
    }
    for a in &msg.attachments {
        let _ = writeln!(
            o,
            "  attachment:  {} ({}, {} bytes)",
            a.name,
            a.content_type,
            a.data.len()
        );
    }
    const SHOWN_LINES: usize = 10;
    let lines: Vec<&str> = msg.text.lines().collect();
    let _ = writeln!(o, "  text:        {} lines", lines.len());
    for line in lines.iter().take(SHOWN_LINES) {
        let _ = writeln!(o, "    | {line}");
    }
    if lines.len() > SHOWN_LINES {
        let _ = writeln!(o, "    | ... {} more lines", lines.len() - SHOWN_LINES);
    }

    match &c.urgent_word {
        Some(w) => {
            let _ = writeln!(o, "urgent word {w:?} in the subject: urgency high");
        }
        None => {
            let _ = writeln!(o, "no urgent word in the subject");
        }
    }
    let _ = writeln!(o, "rules:");
    if c.trace.is_empty() {
        let _ = writeln!(o, "  (no [[rules]] configured)");
    }
    for t in &c.trace {
        let name = t
            .name
            .as_deref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default();
        if t.matched {
            let _ = writeln!(o, "  [{}]{name} MATCHED: {}", t.index, t.reason);
            if !t.set.is_empty() {
                let _ = writeln!(o, "      set {}", t.set.join(", "));
            }
        } else {
            let _ = writeln!(o, "  [{}]{name} not matched: {}", t.index, t.reason);
        }
    }

    let _ = writeln!(o, "result:");
    let cat = match c.category.as_deref() {
        Some(name) => match category(cfg, name) {
            Some(cat) if cat.label != cat.name => format!("{name} ({})", cat.label),
            _ => name.to_string(),
        },
        None => "- (uncategorised)".into(),
    };
    let _ = writeln!(o, "  category:    {cat}");
    let how = match c.priority_from {
        PriorityFrom::Rule(i) => format!("set by rules[{i}]"),
        PriorityFrom::Matrix { impact, urgency } => {
            format!("matrix: impact {impact} x urgency {urgency}")
        }
        PriorityFrom::Default => "default".into(),
    };
    match priority(cfg, &c.priority) {
        Some(p) => {
            let _ = writeln!(o, "  priority:    {} {} ({how})", p.name, p.label);
            let _ = writeln!(
                o,
                "  targets:     response {}, resolution {} ({})",
                humantime::format_duration(p.response),
                humantime::format_duration(p.resolution),
                if p.always_on {
                    "24x7"
                } else {
                    "business hours"
                }
            );
        }
        None => {
            let _ = writeln!(o, "  priority:    {} ({how}; not configured)", c.priority);
        }
    }
    let _ = writeln!(o, "  level:       L{}", c.level);
    let _ = writeln!(o, "  assignee:    {}", dash(c.assignee.as_deref()));
    let tags = (!c.tags.is_empty()).then(|| c.tags.join(", "));
    let _ = writeln!(o, "  tags:        {}", dash(tags.as_deref()));
    let language = c
        .language
        .clone()
        .unwrap_or_else(|| format!("- (helpdesk.language {:?})", cfg.helpdesk.language));
    let _ = writeln!(o, "  language:    {language}");
    let _ = writeln!(
        o,
        "  escalate:    {}",
        if c.escalate { "yes" } else { "no" }
    );
    let _ = writeln!(o, "  approval:    {}", dash(c.approval.as_deref()));
    out
}

#[cfg(test)]
mod tests;
