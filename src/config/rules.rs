//! The administrator's `[[priorities]]`, `[matrix]`, `[[categories]]`, `[classify]` and
//! `[[rules]]`: their schema, their checks at load (every error names its key), and the lookups
//! everyone uses (a priority or category by name, the matrix, the default priority). How a rule
//! is evaluated against a message is `decide::rules`'s business; this module only reads TOML.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

use super::{Config, ConfigError, LANGUAGES, de_duration, is_plain_address};
use crate::decide::words::Pattern;
use crate::model::Targets;

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
    pub(crate) subject_re: Option<Regex>,
    #[serde(skip)]
    pub(crate) body_re: Option<Regex>,
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
