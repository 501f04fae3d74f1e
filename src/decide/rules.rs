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
use std::marker::PhantomData;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

use crate::config::{Config, ConfigError, LANGUAGES, de_duration, is_plain_address};
use crate::decide::words::{Pattern, Words, glob, tokens};
use crate::inbound::Inbound;
use crate::model::Targets;

/// Word conditions and regular expressions look at this much of the body at most: a request
/// says what it is about near the top, and a pathological 50 MB body must not cost seconds and
/// gigabytes on the hot path.
pub const BODY_SCAN_LIMIT: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Config

/// Impact or urgency, as ITIL grades them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    High,
    Medium,
    Low,
}

impl Grade {
    /// Steps above low: the derived matrix adds impact and urgency.
    fn weight(self) -> usize {
        match self {
            Grade::High => 2,
            Grade::Medium => 1,
            Grade::Low => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::High => "high",
            Grade::Medium => "medium",
            Grade::Low => "low",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[priorities]]`: one priority and its SLA targets. Listed most urgent first; the derived
/// matrix and the default priority (the last one) follow that order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Priority {
    /// What tickets and `#priority` commands call it: "P1".
    pub name: String,
    /// What requesters read: "Critical". The name when not given.
    #[serde(default)]
    pub label: String,
    /// Time to the first technician answer.
    #[serde(deserialize_with = "de_duration")]
    pub response: Duration,
    /// Time to resolution.
    #[serde(deserialize_with = "de_duration")]
    pub resolution: Duration,
    /// The SLA clock runs around the clock (24x7) instead of on the business calendar.
    #[serde(default)]
    pub always_on: bool,
}

impl Priority {
    /// The SLA targets of this priority, for `decide::sla`.
    pub fn targets(&self) -> Targets {
        Targets {
            response: self.response,
            resolution: self.resolution,
            always_on: self.always_on,
        }
    }
}

/// The priorities of the procedures Loket serves, used when the config lists none.
pub fn default_priorities() -> Vec<Priority> {
    let p = |name: &str, label: &str, response: u64, resolution: u64, always_on| Priority {
        name: name.into(),
        label: label.into(),
        response: Duration::from_secs(response * 60),
        resolution: Duration::from_secs(resolution * 60),
        always_on,
    };
    vec![
        // Whole company or a core system down: the clock does not stop at night.
        p("P1", "Critical", 15, 4 * 60, true),
        // One department or a main business function.
        p("P2", "High", 60, 8 * 60, false),
        // One person, a workaround exists.
        p("P3", "Normal", 4 * 60, 48 * 60, false),
    ]
}

/// `[[categories]]`: what a ticket is about, and the support level it starts at.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// What tickets, technicians' `categories` and `#category` commands call it: "printer".
    pub name: String,
    /// What people read: "Printer". The name when not given.
    #[serde(default)]
    pub label: String,
    /// The level its tickets start at (1 helpdesk, 2 infrastructure/app-dev, 3 third party)
    /// unless a rule sets one.
    #[serde(default = "level_one")]
    pub level: u8,
    /// Overrides of the priority's SLA targets for this category (e.g. a vendor-handled
    /// category with longer resolution).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub response: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub resolution: Option<Duration>,
    /// Every ticket of this category needs this approval first: an address or "manager".
    #[serde(default)]
    pub approval: Option<String>,
}

fn level_one() -> u8 {
    1
}

fn de_opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// Checks an approval setting (`rules[i].approval`, `categories[i].approval`).
fn validate_approval(key: &str, a: &mut String) -> Result<(), ConfigError> {
    *a = a.trim().to_ascii_lowercase();
    if a != "manager" && !is_plain_address(a) {
        return Err(invalid(
            key,
            format!("{a:?} is neither an e-mail address nor \"manager\""),
        ));
    }
    Ok(())
}

/// `[matrix]`: the priority for each impact (the outer keys) and urgency (the inner keys).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    pub high: MatrixRow,
    pub medium: MatrixRow,
    pub low: MatrixRow,
}

/// One impact's priorities, by urgency.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixRow {
    pub high: String,
    pub medium: String,
    pub low: String,
}

impl MatrixRow {
    fn cell(&mut self, urgency: Grade) -> &mut String {
        match urgency {
            Grade::High => &mut self.high,
            Grade::Medium => &mut self.medium,
            Grade::Low => &mut self.low,
        }
    }
}

const GRADES: [Grade; 3] = [Grade::High, Grade::Medium, Grade::Low];

impl Matrix {
    /// The priority name for `impact` x `urgency`.
    pub fn get(&self, impact: Grade, urgency: Grade) -> &str {
        let row = match impact {
            Grade::High => &self.high,
            Grade::Medium => &self.medium,
            Grade::Low => &self.low,
        };
        match urgency {
            Grade::High => &row.high,
            Grade::Medium => &row.medium,
            Grade::Low => &row.low,
        }
    }

    fn row_mut(&mut self, impact: Grade) -> &mut MatrixRow {
        match impact {
            Grade::High => &mut self.high,
            Grade::Medium => &mut self.medium,
            Grade::Low => &mut self.low,
        }
    }

    /// ITIL's five-step matrix cut to the priorities given (most urgent first): step 0 for
    /// high x high, one step down for each grade below high on either axis, and every step past
    /// the last priority lands on the last. With P1..P3 that is high x high = P1,
    /// high x medium = medium x high = P2, everything else P3; with four priorities high x low,
    /// medium x medium and low x high take the third and the rest the fourth.
    pub fn derived(priorities: &[Priority]) -> Matrix {
        let name = |impact: Grade, urgency: Grade| {
            let step = 4 - (impact.weight() + urgency.weight());
            priorities
                .get(step.min(priorities.len().saturating_sub(1)))
                .map(|p| p.name.clone())
                .unwrap_or_default()
        };
        let row = |impact| MatrixRow {
            high: name(impact, Grade::High),
            medium: name(impact, Grade::Medium),
            low: name(impact, Grade::Low),
        };
        Matrix {
            high: row(Grade::High),
            medium: row(Grade::Medium),
            low: row(Grade::Low),
        }
    }
}

/// `[classify]`: what mail no rule classifies gets, and the subject words that raise urgency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classify {
    /// The category of mail no rule gives one; none leaves such tickets uncategorised.
    #[serde(default)]
    pub default_category: Option<String>,
    /// The priority when no rule sets one (nor impact or urgency); the least urgent (last
    /// listed) priority when not given.
    #[serde(default)]
    pub default_priority: Option<String>,
    /// Words or phrases in the subject that raise urgency to high before the rules run.
    #[serde(default = "default_urgent_words")]
    pub urgent_words: Vec<String>,
}

impl Default for Classify {
    fn default() -> Self {
        Classify {
            default_category: None,
            default_priority: None,
            urgent_words: default_urgent_words(),
        }
    }
}

fn default_urgent_words() -> Vec<String> {
    [
        "urgent",
        "asap",
        "emergency",
        "penting",
        "mendesak",
        "segera",
        "darurat",
    ]
    .iter()
    .map(|w| w.to_string())
    .collect()
}

/// A header condition: the field `name` (any case) is present with a value that `equals`
/// (ignoring case and surrounding space) or `contains` (ignoring case) the text given. The
/// value is compared as it stands in the message: unfolded, but not MIME-decoded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderCondition {
    pub name: String,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub contains: Option<String>,
}

/// One `[[rules]]` entry: conditions that must all hold, and what to set when they do.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Shown in traces and events.
    #[serde(default)]
    pub name: Option<String>,

    // Conditions. A rule without any matches every message.
    /// Sender globs (`*` = any run of characters): with an "@" over the whole address
    /// ("*@vendor.example"), without one over the domain ("vendor.example", "*.go.id").
    #[serde(default, deserialize_with = "one_or_many")]
    pub from: Vec<String>,
    /// Recipient globs over To and Cc, read like `from` ("sap-support@*").
    #[serde(default, deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// The subject contains one of these words or phrases (whole words, any case; a word
    /// ending in `*` matches every word it begins).
    #[serde(default)]
    pub subject_any: Vec<String>,
    /// The body contains one of these words or phrases, read like `subject_any`.
    #[serde(default)]
    pub body_any: Vec<String>,
    /// A regular expression (Rust `regex` syntax, case-sensitive unless it starts with `(?i)`)
    /// that matches somewhere in the subject.
    #[serde(default)]
    pub subject_regex: Option<String>,
    /// As `subject_regex`, over the body.
    #[serde(default)]
    pub body_regex: Option<String>,
    /// Header conditions; a list means all of them.
    #[serde(default, deserialize_with = "one_or_many")]
    pub header: Vec<HeaderCondition>,
    /// The message has (true) or has no (false) attachments. Inline images such as logos in
    /// signatures count as attachments.
    #[serde(default)]
    pub has_attachment: Option<bool>,

    // Actions.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub impact: Option<Grade>,
    #[serde(default)]
    pub urgency: Option<Grade>,
    /// A technician's address: the ticket's owner.
    #[serde(default)]
    pub assignee: Option<String>,
    /// The support level the ticket starts at (over the category's).
    #[serde(default)]
    pub level: Option<u8>,
    /// Tags add up over every matching rule.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The language of mails to the requester ("id" or "en").
    #[serde(default)]
    pub language: Option<String>,
    /// Escalate at once (security incidents): `escalation.security` hears of the ticket.
    #[serde(default)]
    pub escalate: Option<bool>,
    /// The ticket needs this approver's consent: an address, or "manager" for the requester's
    /// manager from `[[departments]]`.
    #[serde(default)]
    pub approval: Option<String>,
    /// No rule after this one is looked at when this one matches.
    #[serde(default)]
    pub stop: bool,

    /// `subject_regex` and `body_regex`, compiled at load.
    #[serde(skip)]
    subject_re: Option<Regex>,
    #[serde(skip)]
    body_re: Option<Regex>,
}

impl Rule {
    fn sets_something(&self) -> bool {
        self.category.is_some()
            || self.priority.is_some()
            || self.impact.is_some()
            || self.urgency.is_some()
            || self.assignee.is_some()
            || self.level.is_some()
            || !self.tags.is_empty()
            || self.language.is_some()
            || self.escalate.is_some()
            || self.approval.is_some()
            || self.stop
    }
}

/// `[[rules]]`. Serde keeps each entry as written; [`validate`] turns them into [`Rule`]s one
/// key at a time, so that every error names the rule's index and key (`rules[3].urgency`):
/// toml can point at a line only while it parses, not for a value checked afterwards.
/// Read it as a slice of rules; it is empty until the config has been validated.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    raw: Vec<toml::Value>,
    list: Vec<Rule>,
}

impl<'de> Deserialize<'de> for Rules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Rules {
            raw: Vec::deserialize(d)?,
            list: Vec::new(),
        })
    }
}

impl std::ops::Deref for Rules {
    type Target = [Rule];
    fn deref(&self) -> &[Rule] {
        &self.list
    }
}

/// A single value or a list of them: `from = "*@x"` as well as `from = ["*@x", "*@y"]`.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct OneOrMany<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrMany<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("one value or a list of them")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<T>, E> {
            T::deserialize(s.into_deserializer()).map(|t| vec![t])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
            Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| vec![t])
        }
    }
    d.deserialize_any(OneOrMany(PhantomData))
}

// ---------------------------------------------------------------------------------------------
// Validation

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// A name a `#priority` or `#category` command can carry: one word of letters, digits, `-`,
/// `_` or `.`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 40
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn known_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none configured".into()
    } else {
        format!("known: {}", names.join(", "))
    }
}

/// Checks and normalises the rules part of the config, and builds its rules: names become
/// the spelling of their declaration, addresses lower case, regular expressions compiled.
/// Called by `Config::validate` after the technicians are normalised.
pub fn validate(cfg: &mut Config) -> Result<(), ConfigError> {
    validate_priorities(&mut cfg.priorities)?;
    validate_categories(&mut cfg.categories)?;
    let priorities = &cfg.priorities;
    let categories = &cfg.categories;
    let priority_name = |key: &str, name: &str| -> Result<String, ConfigError> {
        priority_in(priorities, name)
            .map(|p| p.name.clone())
            .ok_or_else(|| {
                invalid(
                    key,
                    format!(
                        "unknown priority {name:?} ({})",
                        known_list(priorities.iter().map(|p| p.name.as_str()))
                    ),
                )
            })
    };
    let category_name = |key: &str, name: &str| -> Result<String, ConfigError> {
        category_in(categories, name)
            .map(|c| c.name.clone())
            .ok_or_else(|| {
                invalid(
                    key,
                    format!(
                        "unknown category {name:?} ({})",
                        known_list(categories.iter().map(|c| c.name.as_str()))
                    ),
                )
            })
    };

    if let Some(m) = &mut cfg.matrix {
        for impact in GRADES {
            for urgency in GRADES {
                let cell = m.row_mut(impact).cell(urgency);
                *cell = priority_name(&format!("matrix.{impact}.{urgency}"), cell)?;
            }
        }
    }

    let c = &mut cfg.classify;
    if let Some(name) = &c.default_category {
        c.default_category = Some(category_name("classify.default_category", name)?);
    }
    if let Some(name) = &c.default_priority {
        c.default_priority = Some(priority_name("classify.default_priority", name)?);
    }
    for (j, w) in c.urgent_words.iter().enumerate() {
        if Pattern::new(w).words.is_empty() {
            return Err(invalid(
                &format!("classify.urgent_words[{j}]"),
                format!("{w:?} has no letters or digits"),
            ));
        }
    }

    let mut list = Vec::with_capacity(cfg.rules.raw.len());
    for (i, value) in cfg.rules.raw.iter().enumerate() {
        let mut rule = parse_rule(i, value)?;
        let key = |k: &str| format!("rules[{i}].{k}");
        if let Some(c) = &rule.category {
            rule.category = Some(category_name(&key("category"), c)?);
        }
        if let Some(p) = &rule.priority {
            rule.priority = Some(priority_name(&key("priority"), p)?);
        }
        check_rule(i, &mut rule, cfg)?;
        list.push(rule);
    }
    cfg.rules.list = list;
    Ok(())
}

fn validate_priorities(priorities: &mut [Priority]) -> Result<(), ConfigError> {
    if priorities.is_empty() {
        return Err(invalid(
            "priorities",
            "needs at least one priority (leave [[priorities]] out for P1, P2, P3)",
        ));
    }
    for i in 0..priorities.len() {
        let key = |k: &str| format!("priorities[{i}].{k}");
        let p = &mut priorities[i];
        p.name = p.name.trim().to_string();
        if !is_name(&p.name) {
            return Err(invalid(
                &key("name"),
                format!(
                    "{:?} is not one word of letters, digits, '-', '_' or '.'",
                    p.name
                ),
            ));
        }
        p.label = p.label.trim().to_string();
        if p.label.is_empty() {
            p.label = p.name.clone();
        }
        if p.label.chars().any(char::is_control) {
            return Err(invalid(
                &key("label"),
                "must not contain control characters",
            ));
        }
        if p.response.is_zero() {
            return Err(invalid(&key("response"), "must be longer than zero"));
        }
        if p.resolution < p.response {
            return Err(invalid(
                &key("resolution"),
                "must not be shorter than the response target",
            ));
        }
        let name = p.name.clone();
        if priorities[..i]
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&name))
        {
            return Err(invalid(&key("name"), format!("{name:?} is listed twice")));
        }
    }
    Ok(())
}

fn validate_categories(categories: &mut [Category]) -> Result<(), ConfigError> {
    for i in 0..categories.len() {
        let key = |k: &str| format!("categories[{i}].{k}");
        let c = &mut categories[i];
        c.name = c.name.trim().to_string();
        if !is_name(&c.name) {
            return Err(invalid(
                &key("name"),
                format!(
                    "{:?} is not one word of letters, digits, '-', '_' or '.'",
                    c.name
                ),
            ));
        }
        c.label = c.label.trim().to_string();
        if c.label.is_empty() {
            c.label = c.name.clone();
        }
        if c.label.chars().any(char::is_control) {
            return Err(invalid(
                &key("label"),
                "must not contain control characters",
            ));
        }
        if !(1..=3).contains(&c.level) {
            return Err(invalid(&key("level"), "must be 1, 2 or 3"));
        }
        if let Some(a) = &mut c.approval {
            validate_approval(&key("approval"), a)?;
        }
        for (k, d) in [("response", c.response), ("resolution", c.resolution)] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(invalid(&key(k), "must be longer than zero"));
            }
        }
        let name = c.name.clone();
        if categories[..i]
            .iter()
            .any(|o| o.name.to_lowercase() == name.to_lowercase())
        {
            return Err(invalid(&key("name"), format!("{name:?} is listed twice")));
        }
    }
    Ok(())
}

/// One `[[rules]]` entry as written -> a [`Rule`]. Each key is read on its own first: serde's
/// error for a whole table does not say which key it is about once toml has parsed the values,
/// and the administrator needs to know.
fn parse_rule(i: usize, value: &toml::Value) -> Result<Rule, ConfigError> {
    let toml::Value::Table(table) = value else {
        return Err(invalid(
            &format!("rules[{i}]"),
            "must be a table (write each rule under its own [[rules]])",
        ));
    };
    for (key, v) in table {
        let one: toml::Table = [(key.clone(), v.clone())].into_iter().collect();
        if let Err(e) = Rule::deserialize(toml::Value::Table(one)) {
            return Err(invalid(&format!("rules[{i}].{key}"), e.message()));
        }
    }
    Rule::deserialize(value.clone()).map_err(|e| invalid(&format!("rules[{i}]"), e.message()))
}

/// Everything about one rule that serde cannot check: patterns, regular expressions, names.
fn check_rule(i: usize, rule: &mut Rule, cfg: &Config) -> Result<(), ConfigError> {
    let key = |k: &str| format!("rules[{i}].{k}");
    if let Some(name) = &rule.name
        && name.chars().any(char::is_control)
    {
        return Err(invalid(&key("name"), "must not contain control characters"));
    }
    for (field, globs) in [("from", &mut rule.from), ("to", &mut rule.to)] {
        for (j, g) in globs.iter_mut().enumerate() {
            *g = g.trim().to_lowercase();
            if g.is_empty() || g.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid(
                    &key(&format!("{field}[{j}]")),
                    format!("{g:?} is not an address or domain pattern like \"*@vendor.example\""),
                ));
            }
        }
    }
    for (field, words) in [
        ("subject_any", &rule.subject_any),
        ("body_any", &rule.body_any),
    ] {
        for (j, w) in words.iter().enumerate() {
            if Pattern::new(w).words.is_empty() {
                return Err(invalid(
                    &key(&format!("{field}[{j}]")),
                    format!("{w:?} has no letters or digits"),
                ));
            }
        }
    }
    let compile = |field: &str, re: &Option<String>| -> Result<Option<Regex>, ConfigError> {
        re.as_deref()
            .map(|re| {
                Regex::new(re).map_err(|e| {
                    invalid(&key(field), format!("not a valid regular expression: {e}"))
                })
            })
            .transpose()
    };
    rule.subject_re = compile("subject_regex", &rule.subject_regex)?;
    rule.body_re = compile("body_regex", &rule.body_regex)?;
    for (j, h) in rule.header.iter_mut().enumerate() {
        h.name = h.name.trim().to_string();
        if h.name.is_empty() || !h.name.chars().all(|c| c.is_ascii_graphic() && c != ':') {
            return Err(invalid(
                &key(&format!("header[{j}].name")),
                format!(
                    "{:?} is not a header field name like \"X-Priority\"",
                    h.name
                ),
            ));
        }
        if h.equals.is_some() == h.contains.is_some() {
            return Err(invalid(
                &key(&format!("header[{j}]")),
                "give exactly one of `equals` and `contains`",
            ));
        }
    }

    if let Some(a) = &mut rule.assignee {
        *a = a.trim().to_ascii_lowercase();
        if cfg.technician(a).is_none() {
            return Err(invalid(
                &key("assignee"),
                format!(
                    "{a:?} is not a configured technician ({})",
                    known_list(cfg.technicians.iter().map(|t| t.email.as_str()))
                ),
            ));
        }
    }
    if let Some(level) = rule.level
        && !(1..=3).contains(&level)
    {
        return Err(invalid(&key("level"), "must be 1, 2 or 3"));
    }
    for (j, t) in rule.tags.iter_mut().enumerate() {
        *t = t.trim().to_string();
        if t.is_empty() || t.chars().any(char::is_control) {
            return Err(invalid(
                &key(&format!("tags[{j}]")),
                "must be a non-empty text without control characters",
            ));
        }
    }
    if let Some(lang) = &rule.language
        && !LANGUAGES.contains(&lang.as_str())
    {
        return Err(invalid(
            &key("language"),
            format!("{lang:?} is not one of {}", LANGUAGES.join(", ")),
        ));
    }
    if let Some(a) = &mut rule.approval {
        validate_approval(&key("approval"), a)?;
    }
    if !rule.sets_something() {
        return Err(invalid(
            &format!("rules[{i}]"),
            "sets nothing: give at least one of category, priority, impact, urgency, assignee, \
             level, tags, language, escalate, approval, stop",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lookups

fn priority_in<'a>(priorities: &'a [Priority], name: &str) -> Option<&'a Priority> {
    let name = name.trim();
    priorities
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

fn category_in<'a>(categories: &'a [Category], name: &str) -> Option<&'a Category> {
    let name = name.trim().to_lowercase();
    categories.iter().find(|c| c.name.to_lowercase() == name)
}

/// The configured priority called `name` (any case): its label and SLA targets.
pub fn priority<'c>(cfg: &'c Config, name: &str) -> Option<&'c Priority> {
    priority_in(&cfg.priorities, name)
}

/// The configured category called `name` (any case): its label and starting level.
pub fn category<'c>(cfg: &'c Config, name: &str) -> Option<&'c Category> {
    category_in(&cfg.categories, name)
}

/// The matrix in force: `[matrix]`, or the one derived from the priorities.
pub fn matrix(cfg: &Config) -> Matrix {
    cfg.matrix
        .clone()
        .unwrap_or_else(|| Matrix::derived(&cfg.priorities))
}

/// The priority of a ticket nothing else gave one.
pub fn default_priority(cfg: &Config) -> String {
    cfg.classify
        .default_priority
        .clone()
        .or_else(|| cfg.priorities.last().map(|p| p.name.clone()))
        // Only a config that skipped validation has no priorities; P3 is the procedures' own.
        .unwrap_or_else(|| "P3".into())
}

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
fn scanned_body(text: &str) -> &str {
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
