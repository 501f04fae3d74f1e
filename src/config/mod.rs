//! Typed configuration, loaded and validated once at start. Unknown keys and bad values are
//! rejected with an error that names the key, so an administrator never runs a daemon that
//! silently ignores half of its config file.

mod de;
pub mod rules;
mod servers;

pub use de::ConfigError;
pub(crate) use de::{de_duration, is_plain_address};
use de::{de_timezone, invalid, syntax_message};
pub use servers::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `[[departments]]`: who manages whom, for approvals by "the requester's manager".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub name: String,
    pub manager: String,
    /// Address globs: "*@finance.example.co.id", "rina@example.co.id".
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub helpdesk: Helpdesk,
    pub imap: Imap,
    pub smtp: Smtp,
    pub database: Database,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub templates: Templates,
    #[serde(default)]
    pub technicians: Vec<Technician>,
    #[serde(default)]
    pub lifecycle: Lifecycle,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub calendar: crate::calendar::CalendarConfig,
    #[serde(default)]
    pub escalation: Escalation,
    #[serde(default)]
    pub approvals: Approvals,
    #[serde(default)]
    pub departments: Vec<Department>,
    /// Who receives the daily digest (and the monthly recap), each for their categories.
    #[serde(default)]
    pub managers: Vec<Manager>,
    #[serde(default)]
    pub digest: Digest,
    /// Each technician's queue, mailed every working morning.
    #[serde(default)]
    pub morning: Morning,
    /// Resolved tickets like a new one, listed in the technicians' notification.
    #[serde(default)]
    pub similar: Similar,
    /// Asking requesters to rate the handling, by reply, when a ticket closes.
    #[serde(default)]
    pub satisfaction: Satisfaction,
    /// Ticket priorities with their SLA targets, most urgent first (default P1, P2, P3).
    #[serde(default = "rules::default_priorities")]
    pub priorities: Vec<rules::Priority>,
    /// Impact x urgency -> priority; derived from `priorities` when not given.
    #[serde(default)]
    pub matrix: Option<rules::Matrix>,
    #[serde(default)]
    pub categories: Vec<rules::Category>,
    /// Defaults for mail no rule classifies, and the subject words that raise urgency.
    #[serde(default)]
    pub classify: rules::Classify,
    /// `[[rules]]`, checked at load with errors that name the rule's index and key.
    #[serde(default)]
    pub rules: rules::Rules,
    /// `[logging]`: how log lines look on standard error.
    #[serde(default)]
    pub logging: Logging,
    /// `[metrics]`: the optional Prometheus endpoint; none when the section is left out.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    /// `[[mailboxes]]`: further helpdesk addresses this daemon serves besides `[helpdesk]`'s.
    #[serde(default)]
    pub mailboxes: Vec<ExtraMailbox>,
    /// Every mailbox served, the `[helpdesk]`/`[imap]` one first; resolved at load.
    #[serde(skip)]
    accounts: Vec<Account>,
    /// `calendar` checked and built once at load (a holidays file is read then, not per use).
    #[serde(skip)]
    business: Option<crate::calendar::Calendar>,
}

/// One `[[mailboxes]]` entry: another helpdesk address (say `sap-support@`) on the same IMAP
/// server as `[imap]`, with its own login and folder, sharing the store and the tag sequence.
/// Keys left out are taken from `[imap]` and `[helpdesk]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraMailbox {
    /// The address users write to; the From of every mail about tickets that came in here.
    pub address: String,
    /// The display name in From [default: helpdesk.name].
    #[serde(default)]
    pub name: Option<String>,
    /// The category of a new ticket no rule gives one [default: classify.default_category].
    #[serde(default)]
    pub category: Option<String>,
    /// IMAP login [default: imap.username and its password].
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The IMAP folder to read [default: INBOX].
    #[serde(default = "default_mailbox")]
    pub folder: String,
    #[serde(default)]
    pub processed_folder: Option<String>,
}

/// A mailbox the daemon serves, resolved from `[helpdesk]` + `[imap]` or a `[[mailboxes]]`
/// entry. Its Debug form leaves the password out.
#[derive(Clone, PartialEq)]
pub struct Account {
    /// Names this mailbox's IMAP progress in the store: the folder for the first mailbox (as
    /// it always was), the address for the others.
    pub key: String,
    pub address: String,
    pub name: String,
    pub category: Option<String>,
    pub username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
    /// Where the secret is configured, for error messages (`imap`, `mailboxes[0]`).
    section: String,
    pub folder: String,
    pub processed_folder: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("key", &self.key)
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("password_file", &self.password_file)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The IMAP password, read from its file when that is how it was given.
    pub fn password(&self) -> Result<String, ConfigError> {
        read_secret(&self.section, &self.password, &self.password_file)
            .map(|p| p.unwrap_or_default())
    }
}

/// `[logging]`: the shape of the log lines on standard error (journald keeps them as they are).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default)]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// `[metrics]`: a small HTTP endpoint with Prometheus `/metrics` and `/healthz`. It has no
/// authentication, so it listens on loopback only (a local Prometheus or node agent scrapes it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// A loopback address and port, like "127.0.0.1:9187".
    pub listen: String,
    /// `listen`, checked at load.
    #[serde(skip)]
    pub addr: Option<std::net::SocketAddr>,
    /// `/healthz` fails once the IMAP or SMTP server has been unreachable this long (a
    /// restart of either should not page anyone).
    #[serde(default = "default_unhealthy_after", deserialize_with = "de_duration")]
    pub unhealthy_after: Duration,
}

fn default_unhealthy_after() -> Duration {
    Duration::from_secs(300)
}

/// `[[managers]]`: someone who gets the daily digest, counted over the tickets of their
/// categories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manager {
    pub email: String,
    pub name: String,
    /// The categories whose tickets their digest counts ("*" = all; uncategorised tickets
    /// count only under "*").
    #[serde(default = "default_categories")]
    pub categories: Vec<String>,
}

/// `[digest]`: when managers get their daily digest, and whether the monthly recap is mailed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// Local time ("HH:MM", `helpdesk.timezone`) from which the day's digest goes out.
    #[serde(default = "default_digest_time")]
    pub time: String,
    /// Days of the week a digest goes out. Each digest covers the days since the previous
    /// one, so with the default (Monday to Friday) Monday's tells of Friday to Sunday.
    #[serde(default = "default_digest_days")]
    pub days: Vec<String>,
    /// Mail the previous month's recap (CSV attached) on the first working day of a month.
    #[serde(default)]
    pub monthly: bool,
    /// `time`, checked at load.
    #[serde(skip)]
    pub local_time: chrono::NaiveTime,
    /// `days` as flags, Monday first, checked at load.
    #[serde(skip)]
    pub weekdays: [bool; 7],
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            time: default_digest_time(),
            days: default_digest_days(),
            monthly: false,
            local_time: chrono::NaiveTime::from_hms_opt(7, 30, 0).unwrap_or_default(),
            weekdays: [true, true, true, true, true, false, false],
        }
    }
}

/// `[morning]`: the technicians' morning queue, once per working day of the business calendar
/// (not on weekends or holidays), at `time` in `helpdesk.timezone`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Morning {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Local time ("HH:MM") from which the day's queues go out.
    #[serde(default = "default_digest_time")]
    pub time: String,
    /// Send a technician their queue even when it is empty.
    #[serde(default)]
    pub send_when_empty: bool,
    /// `time`, checked at load.
    #[serde(skip)]
    pub local_time: chrono::NaiveTime,
}

impl Default for Morning {
    fn default() -> Self {
        Morning {
            enabled: true,
            time: default_digest_time(),
            send_when_empty: false,
            local_time: chrono::NaiveTime::from_hms_opt(7, 30, 0).unwrap_or_default(),
        }
    }
}

/// `[similar]`: up to `max` tickets resolved in the last year that share at least
/// `min_overlap` (0 to 1) of a new request's words, in the technicians' notification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Similar {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_similar_max")]
    pub max: usize,
    #[serde(default = "default_min_overlap")]
    pub min_overlap: f64,
}

impl Default for Similar {
    fn default() -> Self {
        Similar {
            enabled: true,
            max: default_similar_max(),
            min_overlap: default_min_overlap(),
        }
    }
}

/// `[satisfaction]`: the closing mail (and, with `on_resolved`, the resolved mail) asks the
/// requester for a rating 1-5 by reply. A reply from the requester or a copied person within
/// `window` of the ticket's closure whose first line is a rating is stored as one, not as a
/// reopening; a rating at or below `low` is mailed to the owner and the managers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Satisfaction {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Ask in the resolved mail too. A rating then answers a resolved ticket without reopening
    /// it, so a "1 masih rusak" stays resolved (the owner hears of it); off by default.
    #[serde(default)]
    pub on_resolved: bool,
    /// How long after resolution or closure a rating is still taken; later, a reply to a closed
    /// ticket is a new request as always.
    #[serde(default = "default_rating_window", deserialize_with = "de_duration")]
    pub window: Duration,
    /// Ratings at or below this (1-4) notify the ticket's owner and the managers.
    #[serde(default = "default_low_rating")]
    pub low: u8,
}

impl Default for Satisfaction {
    fn default() -> Self {
        Satisfaction {
            enabled: true,
            on_resolved: false,
            window: default_rating_window(),
            low: default_low_rating(),
        }
    }
}

fn default_rating_window() -> Duration {
    Duration::from_secs(14 * 24 * 3600)
}

fn default_low_rating() -> u8 {
    2
}

fn default_similar_max() -> usize {
    3
}

fn default_min_overlap() -> f64 {
    0.5
}

fn yes() -> bool {
    true
}

fn default_digest_time() -> String {
    "07:30".into()
}

fn default_digest_days() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| d.to_string())
        .collect()
}

impl Config {
    /// `[[managers]]` and `[digest]`.
    fn validate_digest(&mut self) -> Result<(), ConfigError> {
        for (i, m) in self.managers.iter_mut().enumerate() {
            m.email = m.email.trim().to_ascii_lowercase();
            if !is_plain_address(&m.email) {
                return Err(invalid(
                    &format!("managers[{i}].email"),
                    format!("`{}` is not an e-mail address", m.email),
                ));
            }
            if m.name.chars().any(char::is_control) {
                return Err(invalid(
                    &format!("managers[{i}].name"),
                    "must not contain control characters",
                ));
            }
            if m.categories.iter().all(|c| c.trim().is_empty()) {
                return Err(invalid(
                    &format!("managers[{i}].categories"),
                    "needs at least one category, or \"*\" for all",
                ));
            }
        }
        for (i, m) in self.managers.iter().enumerate() {
            // Two entries for one address would send that manager two digests a day.
            if self.managers[..i].iter().any(|o| o.email == m.email) {
                return Err(invalid(
                    &format!("managers[{i}].email"),
                    format!("`{}` is listed twice", m.email),
                ));
            }
        }
        if !(self.similar.min_overlap > 0.0 && self.similar.min_overlap <= 1.0) {
            return Err(invalid(
                "similar.min_overlap",
                format!(
                    "{} is not a share of the words between 0 (exclusive) and 1",
                    self.similar.min_overlap
                ),
            ));
        }
        if self.similar.max > 10 {
            return Err(invalid("similar.max", "at most 10 tickets are listed"));
        }
        if !(1..=4).contains(&self.satisfaction.low) {
            return Err(invalid(
                "satisfaction.low",
                format!(
                    "{} is not a rating from 1 to 4 (ratings are 1-5; 5 is never low)",
                    self.satisfaction.low
                ),
            ));
        }
        if self.satisfaction.window.is_zero() {
            return Err(invalid(
                "satisfaction.window",
                "must be longer than zero (use enabled = false to take no ratings)",
            ));
        }
        let m = &mut self.morning;
        m.local_time = chrono::NaiveTime::parse_from_str(m.time.trim(), "%H:%M").map_err(|_| {
            invalid(
                "morning.time",
                format!("`{}` is not a time like \"07:30\"", m.time),
            )
        })?;
        let d = &mut self.digest;
        d.local_time = chrono::NaiveTime::parse_from_str(d.time.trim(), "%H:%M").map_err(|_| {
            invalid(
                "digest.time",
                format!("`{}` is not a time like \"07:30\"", d.time),
            )
        })?;
        d.weekdays = [false; 7];
        for (i, day) in d.days.iter().enumerate() {
            let w: chrono::Weekday = day.trim().parse().map_err(|_| {
                invalid(
                    &format!("digest.days[{i}]"),
                    format!("`{day}` is not a day (use mon, tue, wed, thu, fri, sat, sun)"),
                )
            })?;
            d.weekdays[w.num_days_from_monday() as usize] = true;
        }
        if !d.weekdays.iter().any(|on| *on) {
            return Err(invalid(
                "digest.days",
                "needs at least one day (leave out [[managers]] to send no digest)",
            ));
        }
        Ok(())
    }
}

/// `[approvals]`: how long an approver may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// A reminder goes to the approver after this long without a decision.
    #[serde(default = "default_day", deserialize_with = "de_duration")]
    pub remind_after: Duration,
    /// After this long without a decision the managers (`escalation.managers`) are told.
    #[serde(default = "default_two_days", deserialize_with = "de_duration")]
    pub escalate_after: Duration,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals {
            remind_after: default_day(),
            escalate_after: default_two_days(),
        }
    }
}

fn default_two_days() -> Duration {
    Duration::from_secs(48 * 3600)
}

/// `[escalation]`: who hears when SLA targets near or pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// The fraction of a target after which the owner is warned (0.75 = at 75 %).
    #[serde(default = "default_warn_at")]
    pub warn_at: f64,
    /// The IT head's addresses: told at once of tickets a rule marks `escalate = true`
    /// (security incidents).
    #[serde(default)]
    pub security: Vec<String>,
    /// Told when a resolution target is breached, besides the next level.
    #[serde(default)]
    pub managers: Vec<String>,
}

impl Default for Escalation {
    fn default() -> Self {
        Escalation {
            warn_at: default_warn_at(),
            security: vec![],
            managers: vec![],
        }
    }
}

fn default_warn_at() -> f64 {
    0.75
}

/// `[security]`: how far a From address is trusted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Technician commands (and approvals) count only from mail the receiving server
    /// authenticated: an Authentication-Results header from `authserv_id` with dkim=pass or
    /// spf=pass aligned with the From domain. On unless switched off: off, anyone who writes a
    /// technician's address in From can resolve tickets and relay text to requesters (#21).
    #[serde(default = "default_true")]
    pub require_authenticated_commands: bool,
    /// The authserv-id the trusted receiving server writes into Authentication-Results.
    #[serde(default)]
    pub authserv_id: Option<String>,
}

impl Default for Security {
    /// A config without `[security]` is as safe as one with it, so it must name `authserv_id`.
    fn default() -> Self {
        Security {
            require_authenticated_commands: true,
            authserv_id: None,
        }
    }
}

/// How tickets move once they exist: who takes them, when resolved tickets close themselves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Silence from the requester after resolution before the ticket closes itself.
    #[serde(default = "default_day", deserialize_with = "de_duration")]
    pub auto_close_after: Duration,
    #[serde(default)]
    pub assignment: Assignment,
    /// How often the scheduler looks for due work (auto-closure). Short in tests.
    #[serde(
        default = "default_scheduler_interval",
        deserialize_with = "de_duration"
    )]
    pub scheduler_interval: Duration,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            auto_close_after: default_day(),
            assignment: Assignment::default(),
            scheduler_interval: default_scheduler_interval(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assignment {
    /// A new ticket goes to the next level-1 technician of its category in turn.
    #[default]
    RoundRobin,
    /// Nobody is assigned until a technician answers; the first to answer takes it.
    FirstReply,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helpdesk {
    /// The address users write to; the From of mail about its tickets and of reports (a
    /// `[[mailboxes]]` address answers for the tickets that came in there).
    pub address: String,
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default = "default_tag_prefix")]
    pub tag_prefix: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default = "default_timezone", deserialize_with = "de_timezone")]
    pub timezone: chrono_tz::Tz,
    /// A backstop, not the loop protection: at most this many acknowledgements to one sender per
    /// `ack_rate_window`, far above what a busy person sends. Loops are stopped by what marks
    /// them (`loop_repeats`, `loop_quick_reply`, automatic-mail headers).
    #[serde(default = "default_ack_rate_limit")]
    pub ack_rate_limit: u32,
    #[serde(default = "default_hour", deserialize_with = "de_duration")]
    pub ack_rate_window: Duration,
    /// The same subject and text from one sender this many times as new requests within
    /// `ack_rate_window` is an automatic responder: no acknowledgement from that one on.
    #[serde(default = "default_loop_repeats")]
    pub loop_repeats: u32,
    /// A new request that names the tag of a ticket whose acknowledgement went to the same
    /// sender less than this long ago answers that acknowledgement: a responder, not a person.
    #[serde(default = "default_loop_quick_reply", deserialize_with = "de_duration")]
    pub loop_quick_reply: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Attachments larger than this are not stored; the ticket lists them as dropped.
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
    /// Messages larger than this are quarantined whole (raw bytes kept), not parsed.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: u64,
    /// Attachments after the first this many are not stored; the ticket lists them as dropped,
    /// like oversize ones. A mail with thousands of tiny parts cannot fill the store.
    #[serde(default = "default_max_attachments")]
    pub max_attachments: u64,
    /// Messages whose header block (everything before the first empty line) is larger than
    /// this are quarantined whole (raw bytes kept), not parsed.
    #[serde(default = "default_max_header")]
    pub max_header_bytes: u64,
    /// To and Cc addresses of one message beyond the first this many do not become
    /// participants (the ticket records them as dropped), and no mail Loket sends has more
    /// recipients than this.
    #[serde(default = "default_max_recipients")]
    pub max_recipients: u64,
}

impl Limits {
    /// Zero would quarantine or drop everything; a header limit below a few KiB would
    /// quarantine ordinary mail (a DKIM signature and a Received chain alone take that much).
    fn validate(&self) -> Result<(), ConfigError> {
        let at_least = |key: &str, value: u64, min: u64, hint: &str| {
            if value < min {
                Err(invalid(
                    &format!("limits.{key}"),
                    format!("{value} is too small: must be at least {min} ({hint})"),
                ))
            } else {
                Ok(())
            }
        };
        at_least(
            "max_attachment_bytes",
            self.max_attachment_bytes,
            1,
            "bytes",
        )?;
        at_least("max_message_bytes", self.max_message_bytes, 1024, "bytes")?;
        at_least(
            "max_attachments",
            self.max_attachments,
            1,
            "attachments per message",
        )?;
        at_least("max_header_bytes", self.max_header_bytes, 4096, "bytes")?;
        at_least("max_recipients", self.max_recipients, 1, "addresses")?;
        if self.max_header_bytes > self.max_message_bytes {
            return Err(invalid(
                "limits.max_header_bytes",
                format!(
                    "{} is larger than limits.max_message_bytes ({})",
                    self.max_header_bytes, self.max_message_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attachment_bytes: default_max_attachment(),
            max_message_bytes: default_max_message(),
            max_attachments: default_max_attachments(),
            max_header_bytes: default_max_header(),
            max_recipients: default_max_recipients(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// A folder with `<language>/<name>.<part>.hbs` files that override the built-in templates.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technician {
    pub email: String,
    pub name: String,
    #[serde(default = "default_level")]
    pub level: u8,
    #[serde(default = "default_categories")]
    pub categories: Vec<String>,
    /// The language of the mail Loket writes to them alone (answers to their questions, the
    /// morning queue); `helpdesk.language` when unset.
    #[serde(default)]
    pub language: Option<String>,
}

fn default_name() -> String {
    "IT Helpdesk".into()
}
fn default_tag_prefix() -> String {
    "HD".into()
}
fn default_language() -> String {
    "id".into()
}
fn default_timezone() -> chrono_tz::Tz {
    chrono_tz::Asia::Jakarta
}
fn default_loop_repeats() -> u32 {
    3
}
fn default_loop_quick_reply() -> Duration {
    Duration::from_secs(60)
}
fn default_ack_rate_limit() -> u32 {
    // Six times the old limit of 5, that a busy person reached: an office manager's distinct
    // requests are all acknowledged, and a loop the marks miss (a responder that varies its
    // subject and names no ticket) still ends here.
    30
}
fn default_hour() -> Duration {
    Duration::from_secs(3600)
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_true() -> bool {
    true
}
fn default_day() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_scheduler_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_max_attachment() -> u64 {
    20 * 1024 * 1024
}
fn default_max_message() -> u64 {
    50 * 1024 * 1024
}
fn default_max_attachments() -> u64 {
    50
}
fn default_max_header() -> u64 {
    256 * 1024
}
fn default_max_recipients() -> u64 {
    100
}
fn default_level() -> u8 {
    1
}
fn default_categories() -> Vec<String> {
    vec!["*".into()]
}

/// Languages that ship templates. An override folder may not add a language on its own: every
/// mail kind must exist in the language chosen.
pub const LANGUAGES: &[&str] = &["id", "en"];

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: syntax_message(text, &e),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        self.helpdesk.validate()?;
        self.imap.validate()?;
        self.smtp.validate()?;
        self.security.validate()?;
        self.escalation.validate()?;
        self.validate_people()?;
        self.validate_digest()?;
        self.business = Some(
            crate::calendar::Calendar::new(&self.calendar, self.helpdesk.timezone)
                .map_err(|(key, why)| invalid(&key, why))?,
        );
        self.lifecycle.validate()?;
        if let Some(m) = &mut self.metrics {
            m.validate()?;
        }
        self.limits.validate()?;
        // After the technicians: a rule's assignee must be one of them, as normalised above.
        rules::validate(self)?;
        // After the rules: a mailbox's category must be one of the categories.
        self.validate_mailboxes()?;
        Ok(())
    }

    /// `[approvals]`, `[[departments]]` and `[[technicians]]`: addresses normalised, so rules
    /// and lookups compare like with like.
    fn validate_people(&mut self) -> Result<(), ConfigError> {
        if self.approvals.escalate_after <= self.approvals.remind_after {
            return Err(invalid(
                "approvals.escalate_after",
                "must be longer than approvals.remind_after",
            ));
        }
        for (i, d) in self.departments.iter_mut().enumerate() {
            d.manager = d.manager.trim().to_ascii_lowercase();
            if !is_plain_address(&d.manager) {
                return Err(invalid(
                    &format!("departments[{i}].manager"),
                    format!("`{}` is not an e-mail address", d.manager),
                ));
            }
            if d.members.is_empty() {
                return Err(invalid(
                    &format!("departments[{i}].members"),
                    "needs at least one address or pattern like \"*@finance.example.co.id\"",
                ));
            }
        }
        for (i, t) in self.technicians.iter_mut().enumerate() {
            t.email = t.email.trim().to_ascii_lowercase();
            if !is_plain_address(&t.email) {
                return Err(invalid(
                    &format!("technicians[{i}].email"),
                    format!("`{}` is not an e-mail address", t.email),
                ));
            }
            if t.email == self.helpdesk.address {
                return Err(invalid(
                    &format!("technicians[{i}].email"),
                    "a technician cannot use the helpdesk's own address",
                ));
            }
            if !(1..=3).contains(&t.level) {
                return Err(invalid(
                    &format!("technicians[{i}].level"),
                    "must be 1, 2 or 3",
                ));
            }
            if let Some(lang) = &t.language
                && !LANGUAGES.contains(&lang.as_str())
            {
                return Err(invalid(
                    &format!("technicians[{i}].language"),
                    format!("`{lang}` is not one of {}", LANGUAGES.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn validate_mailboxes(&mut self) -> Result<(), ConfigError> {
        let mut accounts = vec![Account {
            key: self.imap.mailbox.clone(),
            address: self.helpdesk.address.clone(),
            name: self.helpdesk.name.clone(),
            category: None,
            username: self.imap.username.clone(),
            password: self.imap.password.clone(),
            password_file: self.imap.password_file.clone(),
            section: "imap".into(),
            folder: self.imap.mailbox.clone(),
            processed_folder: self.imap.processed_folder.clone(),
        }];
        // Taken out while checked: the checks look at the rest of the config.
        let mut mailboxes = std::mem::take(&mut self.mailboxes);
        let checked = self.check_mailboxes(&mut mailboxes, &mut accounts);
        self.mailboxes = mailboxes;
        checked?;
        self.accounts = accounts;
        Ok(())
    }

    fn check_mailboxes(
        &self,
        mailboxes: &mut [ExtraMailbox],
        accounts: &mut Vec<Account>,
    ) -> Result<(), ConfigError> {
        for (i, m) in mailboxes.iter_mut().enumerate() {
            let key = |k: &str| format!("mailboxes[{i}].{k}");
            m.address = m.address.trim().to_ascii_lowercase();
            if !is_plain_address(&m.address) {
                return Err(invalid(
                    &key("address"),
                    format!("`{}` is not an e-mail address", m.address),
                ));
            }
            if accounts.iter().any(|a| a.address == m.address) {
                return Err(invalid(
                    &key("address"),
                    format!("`{}` is already served by another mailbox", m.address),
                ));
            }
            if self.technician(&m.address).is_some() {
                return Err(invalid(
                    &key("address"),
                    "a technician cannot use a helpdesk address",
                ));
            }
            if m.name
                .as_deref()
                .is_some_and(|n| n.chars().any(char::is_control))
            {
                return Err(invalid(&key("name"), "must not contain control characters"));
            }
            if let Some(c) = &m.category {
                match rules::category(self, c) {
                    Some(found) => m.category = Some(found.name.clone()),
                    None => {
                        return Err(invalid(
                            &key("category"),
                            format!("`{c}` is not one of the [[categories]]"),
                        ));
                    }
                }
            }
            if m.folder.trim().is_empty() {
                return Err(invalid(&key("folder"), "must not be empty"));
            }
            // With OAuth2 every mailbox logs in with [imap]'s token, as its own user.
            let oauth2 = self.imap.auth == AuthMode::Oauth2;
            if oauth2 && (m.password.is_some() || m.password_file.is_some()) {
                return Err(invalid(
                    &key("password"),
                    "is not used with imap.auth = \"oauth2\" (every mailbox logs in with the \
                     [imap.oauth2] token, as its own username)",
                ));
            }
            // Own login, or the [imap] one as a whole: never one half of each.
            let (password, password_file, section) = if oauth2 {
                (None, None, "imap".to_string())
            } else if m.username.is_some() || m.password.is_some() || m.password_file.is_some() {
                if m.username.is_none() {
                    return Err(invalid(
                        &key("username"),
                        "is required when the mailbox has its own password",
                    ));
                }
                let section = format!("mailboxes[{i}]");
                validate_secret(&section, &m.password, &m.password_file, true)?;
                (m.password.clone(), m.password_file.clone(), section)
            } else {
                (
                    self.imap.password.clone(),
                    self.imap.password_file.clone(),
                    "imap".to_string(),
                )
            };
            let username = m
                .username
                .clone()
                .unwrap_or_else(|| self.imap.username.clone());
            if accounts
                .iter()
                .any(|a| a.username == username && a.folder == m.folder)
            {
                return Err(invalid(
                    &key("folder"),
                    format!(
                        "`{}` of `{username}` is already read by another mailbox",
                        m.folder
                    ),
                ));
            }
            accounts.push(Account {
                key: m.address.clone(),
                address: m.address.clone(),
                name: m.name.clone().unwrap_or_else(|| self.helpdesk.name.clone()),
                category: m.category.clone(),
                username,
                password,
                password_file,
                section,
                folder: m.folder.clone(),
                processed_folder: m.processed_folder.clone(),
            });
        }
        Ok(())
    }

    /// For a reload while running: keeps the settings the open connections and the log were
    /// started with (servers, logins, mailboxes, database, metrics endpoint, log format) from
    /// `running`, and names the sections whose change needs a restart.
    pub fn keep_connections_of(&mut self, running: &Config) -> Vec<&'static str> {
        let mut kept = Vec::new();
        if self.imap != running.imap {
            kept.push("imap");
        }
        if self.smtp != running.smtp {
            kept.push("smtp");
        }
        if self.database != running.database {
            kept.push("database");
        }
        if self.metrics != running.metrics {
            kept.push("metrics");
        }
        if self.mailboxes != running.mailboxes || self.helpdesk.address != running.helpdesk.address
        {
            kept.push("mailboxes");
        }
        if self.logging.format != running.logging.format {
            kept.push("logging");
        }
        self.imap = running.imap.clone();
        self.smtp = running.smtp.clone();
        self.database = running.database.clone();
        self.metrics = running.metrics.clone();
        self.mailboxes = running.mailboxes.clone();
        self.accounts = running.accounts.clone();
        self.helpdesk.address = running.helpdesk.address.clone();
        self.logging = running.logging.clone();
        kept
    }

    /// Every mailbox served, the `[helpdesk]` one first.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// The mailbox whose IMAP progress is stored under `key`.
    pub fn account_by_key(&self, key: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.key == key)
    }

    /// The mailbox with this address.
    pub fn account_by_address(&self, address: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.address.eq_ignore_ascii_case(address))
    }

    /// Whether `email` is one of the helpdesk's own addresses (any mailbox).
    pub fn is_helpdesk_address(&self, email: &str) -> bool {
        self.account_by_address(email).is_some()
    }

    /// Name and address mails about a ticket that came in at `via` are sent from.
    pub fn sender_for(&self, via: Option<&str>) -> (&str, &str) {
        match via.and_then(|v| self.account_by_address(v)) {
            Some(a) => (a.name.as_str(), a.address.as_str()),
            None => (self.helpdesk.name.as_str(), self.helpdesk.address.as_str()),
        }
    }

    pub fn smtp_password(&self) -> Result<Option<String>, ConfigError> {
        read_secret("smtp", &self.smtp.password, &self.smtp.password_file)
    }

    /// The business calendar, as built at load.
    pub fn calendar(&self) -> crate::calendar::Calendar {
        // Always set by `validate`; a config built another way runs its clock around the clock.
        self.business
            .clone()
            .unwrap_or_else(|| crate::calendar::Calendar::always(self.helpdesk.timezone))
    }

    /// The language of mail to `tech` alone.
    pub fn technician_language<'a>(&'a self, tech: &'a Technician) -> &'a str {
        tech.language.as_deref().unwrap_or(&self.helpdesk.language)
    }

    pub fn technician(&self, email: &str) -> Option<&Technician> {
        self.technicians
            .iter()
            .find(|t| t.email.eq_ignore_ascii_case(email))
    }

    /// The domain part of the helpdesk address, used for Message-IDs we generate.
    pub fn domain(&self) -> &str {
        self.helpdesk
            .address
            .rsplit('@')
            .next()
            .unwrap_or("localhost")
    }
}

impl Helpdesk {
    /// How far back the rate limits' table keeps mail (`store::outbox::forget_recent` forgets
    /// what is older): the longest of `ack_rate_window` and `loop_quick_reply`, and ten minutes
    /// more, for a clock stepped back a little. Not more: the table's size is what each mail's
    /// insert costs (a day of mail at 2,700 tickets a day doubled the pages it wrote per
    /// message). A window raised by a reload counts from the reload on.
    pub fn rate_memory(&self) -> Duration {
        const MARGIN: Duration = Duration::from_secs(600);
        self.ack_rate_window.max(self.loop_quick_reply) + MARGIN
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        let h = self;
        h.address = h.address.trim().to_ascii_lowercase();
        if !is_plain_address(&h.address) {
            return Err(invalid(
                "helpdesk.address",
                format!("`{}` is not an e-mail address", h.address),
            ));
        }
        if h.tag_prefix.is_empty()
            || h.tag_prefix.len() > 16
            || !h.tag_prefix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(invalid(
                "helpdesk.tag_prefix",
                "must be 1 to 16 ASCII letters or digits, like \"HD\"",
            ));
        }
        if !LANGUAGES.contains(&h.language.as_str()) {
            return Err(invalid(
                "helpdesk.language",
                format!("`{}` is not one of {}", h.language, LANGUAGES.join(", ")),
            ));
        }
        if h.name.chars().any(char::is_control) {
            return Err(invalid(
                "helpdesk.name",
                "must not contain control characters",
            ));
        }
        if h.loop_repeats < 2 {
            return Err(invalid(
                "helpdesk.loop_repeats",
                "must be at least 2 (a person may send the same text twice)",
            ));
        }
        if h.ack_rate_window.is_zero() {
            return Err(invalid(
                "helpdesk.ack_rate_window",
                "must be longer than zero",
            ));
        }

        Ok(())
    }
}

impl Security {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.require_authenticated_commands
            && self
                .authserv_id
                .as_deref()
                .is_none_or(|id| id.trim().is_empty())
        {
            return Err(invalid(
                "security.authserv_id",
                "is required: technicians' commands and approvals count only when the \
                 receiving server vouched for the sender, so name the authserv-id it writes in \
                 Authentication-Results (`[security]` authserv_id = \"mx.example.co.id\"); \
                 security.require_authenticated_commands = false takes every From address on \
                 trust (a test setup, not a helpdesk)",
            ));
        }
        Ok(())
    }
}

impl Escalation {
    fn validate(&mut self) -> Result<(), ConfigError> {
        if !(self.warn_at > 0.0 && self.warn_at < 1.0) {
            return Err(invalid(
                "escalation.warn_at",
                format!(
                    "{} is not a fraction between 0 and 1 (0.75 warns at 75 % of a target)",
                    self.warn_at
                ),
            ));
        }
        for (key, list) in [
            ("escalation.security", &mut self.security),
            ("escalation.managers", &mut self.managers),
        ] {
            for (i, a) in list.iter_mut().enumerate() {
                *a = a.trim().to_ascii_lowercase();
                if !is_plain_address(a) {
                    return Err(invalid(
                        &format!("{key}[{i}]"),
                        format!("`{a}` is not an e-mail address"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Lifecycle {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.auto_close_after.is_zero() {
            return Err(invalid(
                "lifecycle.auto_close_after",
                "must be longer than zero",
            ));
        }
        if self.scheduler_interval < Duration::from_millis(100) {
            return Err(invalid(
                "lifecycle.scheduler_interval",
                "must be at least 100ms",
            ));
        }
        Ok(())
    }
}

impl Metrics {
    /// Only a loopback listener: the endpoint has no authentication.
    fn validate(&mut self) -> Result<(), ConfigError> {
        let listen = self.listen.trim();
        // "localhost:9187" is what people write; it means the IPv4 loopback here.
        let literal = match listen.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => listen.to_string(),
        };
        let addr: std::net::SocketAddr = literal.parse().map_err(|_| {
            invalid(
                "metrics.listen",
                format!(
                    "`{}` is not an address and port like \"127.0.0.1:9187\"",
                    self.listen
                ),
            )
        })?;
        if !addr.ip().is_loopback() {
            // The endpoint has no authentication: it must not be reachable from the network.
            return Err(invalid(
                "metrics.listen",
                format!(
                    "`{}` is not a loopback address; use 127.0.0.1 or [::1] \
                         (scrape it through a local agent or an SSH tunnel)",
                    self.listen
                ),
            ));
        }
        self.addr = Some(addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[helpdesk]
address = "Helpdesk@Example.test"

[imap]
host = "127.0.0.1"
port = 1143
tls = "none"
username = "helpdesk@example.test"
password = "secret"

[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"

[database]
path = "loket.db"

[security]
authserv_id = "mx.example.test"
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    /// The rate limits' table keeps the longest window and ten minutes.
    #[test]
    fn rate_memory_is_the_longest_window_and_a_margin() {
        let min = |m: u64| Duration::from_secs(60 * m);
        assert_eq!(load(MINIMAL).unwrap().helpdesk.rate_memory(), min(70));
        let longer = MINIMAL.replace(
            "address = \"Helpdesk@Example.test\"",
            "address = \"Helpdesk@Example.test\"\nloop_quick_reply = \"2h\"",
        );
        assert_eq!(load(&longer).unwrap().helpdesk.rate_memory(), min(130));
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let cfg = load(MINIMAL).unwrap();
        assert_eq!(cfg.helpdesk.address, "helpdesk@example.test");
        assert_eq!(cfg.helpdesk.tag_prefix, "HD");
        assert_eq!(cfg.helpdesk.language, "id");
        assert_eq!(cfg.helpdesk.timezone, chrono_tz::Asia::Jakarta);
        assert_eq!(cfg.helpdesk.ack_rate_limit, 30);
        assert_eq!(cfg.imap.poll_interval, Duration::from_secs(30));
        assert!(cfg.imap.idle);
        assert_eq!(cfg.domain(), "example.test");
    }

    #[test]
    fn smtp_connections_default_to_three_and_are_bounded() {
        assert_eq!(load(MINIMAL).unwrap().smtp.connections, 3);
        let with = |n: &str| {
            MINIMAL.replace(
                "port = 2525\n",
                &format!("port = 2525\nconnections = {n}\n"),
            )
        };
        assert_eq!(load(&with("1")).unwrap().smtp.connections, 1);
        for bad in ["0", "17"] {
            match load(&with(bad)) {
                Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "smtp.connections"),
                other => panic!(
                    "connections = {bad}: expected an error naming smtp.connections: {other:?}"
                ),
            }
        }
    }

    /// Issue 21: a config without `[security]` used to take every From address on trust.
    #[test]
    fn absent_security_section_requires_authentication_and_names_authserv_id() {
        let without = MINIMAL.replace("\n[security]\nauthserv_id = \"mx.example.test\"\n", "\n");
        assert!(!without.contains("[security]"));
        match load(&without) {
            Err(ConfigError::Invalid { key, message }) => {
                assert_eq!(key, "security.authserv_id");
                assert!(
                    message.contains("require_authenticated_commands = false"),
                    "{message}"
                );
            }
            other => panic!("expected an error naming security.authserv_id: {other:?}"),
        }
        let cfg = load(MINIMAL).unwrap();
        assert!(cfg.security.require_authenticated_commands);
        assert_eq!(cfg.security.authserv_id.as_deref(), Some("mx.example.test"));
        // Switched off only by saying so.
        let off = format!("{without}[security]\nrequire_authenticated_commands = false\n");
        assert!(!load(&off).unwrap().security.require_authenticated_commands);
        let blank = format!("{without}[security]\nauthserv_id = \" \"\n");
        assert!(
            load(&blank)
                .unwrap_err()
                .to_string()
                .contains("security.authserv_id")
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let text = MINIMAL.replace("[database]", "[database]\npaht = \"x\"");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("paht"), "{err}");
    }

    #[test]
    fn bad_duration_names_key_and_value() {
        let text = MINIMAL.replace(
            "password = \"secret\"",
            "password = \"secret\"\npoll_interval = \"soon\"",
        );
        let err = load(&text).unwrap_err().to_string();
        assert!(
            err.contains("poll_interval") && err.contains("soon"),
            "{err}"
        );
    }

    #[test]
    fn plaintext_to_remote_host_is_refused() {
        let text = MINIMAL.replacen("host = \"127.0.0.1\"", "host = \"mail.example.com\"", 1);
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("imap.tls"), "{err}");
    }

    #[test]
    fn bad_language_and_timezone_are_named() {
        let err = load(&MINIMAL.replace("[imap]", "language = \"fr\"\n[imap]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("helpdesk.language"), "{err}");
        let err = load(&MINIMAL.replace("[imap]", "timezone = \"Mars/Olympus\"\n[imap]"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("timezone") && err.contains("Mars/Olympus"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_secret_value_is_named_but_never_shown() {
        for bad in ["password = 12345678", "password = \"abc\ndef\""] {
            let text = MINIMAL.replace("password = \"secret\"", bad);
            let err = load(&text).unwrap_err().to_string();
            assert!(err.contains("key `password`"), "{err}");
            assert!(!err.contains("12345678") && !err.contains("abc"), "{err}");
        }
        // Other keys keep toml's full message, line shown.
        let err = load(&MINIMAL.replace("port = 1143", "port = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("port") && err.contains("\"x\""), "{err}");
    }

    #[test]
    fn missing_imap_password_is_named() {
        let err = load(&MINIMAL.replace("password = \"secret\"", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("imap.password"), "{err}");
    }

    #[test]
    fn mailboxes_resolve_and_their_mistakes_are_named() {
        let cats = "\n[[categories]]\nname = \"sap\"\n";
        let cfg = load(&format!(
            "{MINIMAL}{cats}\n[[mailboxes]]\naddress = \"SAP@Example.test\"\ncategory = \"SAP\"\n\
             folder = \"SAP\"\n"
        ))
        .unwrap();
        let accounts = cfg.accounts();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].address, cfg.helpdesk.address);
        assert_eq!(
            accounts[0].key, "INBOX",
            "the first mailbox keeps its old progress key"
        );
        assert_eq!(accounts[1].address, "sap@example.test");
        assert_eq!(accounts[1].category.as_deref(), Some("sap"));
        // Without a login of its own it uses [imap]'s: then it must read another folder.
        assert_eq!(accounts[1].username, cfg.imap.username);
        assert!(cfg.is_helpdesk_address("sap@example.test"));
        assert_eq!(
            cfg.sender_for(Some("sap@example.test")),
            (cfg.helpdesk.name.as_str(), "sap@example.test")
        );
        assert_eq!(cfg.sender_for(None).1, cfg.helpdesk.address);

        for (extra, key) in [
            ("address = \"not-an-address\"\n", "mailboxes[0].address"),
            (
                "address = \"sap@example.test\"\ncategory = \"hr\"\n",
                "mailboxes[0].category",
            ),
            (
                "address = \"sap@example.test\"\npassword = \"x\"\n",
                "mailboxes[0].username",
            ),
            (
                "address = \"sap@example.test\"\nusername = \"sap\"\n",
                "mailboxes[0].password",
            ),
        ] {
            let err = load(&format!("{MINIMAL}{cats}\n[[mailboxes]]\n{extra}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        // The same address twice, and the same folder of the same login twice.
        let twice = load(&format!(
            "{MINIMAL}\n[[mailboxes]]\naddress = \"a@example.test\"\nfolder = \"A\"\n\
             \n[[mailboxes]]\naddress = \"a@example.test\"\nfolder = \"B\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(twice.contains("mailboxes[1].address"), "{twice}");
        let same_folder = load(&format!(
            "{MINIMAL}\n[[mailboxes]]\naddress = \"a@example.test\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            same_folder.contains("mailboxes[0].folder") && same_folder.contains("INBOX"),
            "{same_folder}"
        );
    }

    #[test]
    fn reload_keeps_connections_and_names_what_needs_a_restart() {
        let running = load(MINIMAL).unwrap();
        let mut fresh = load(&format!(
            "{MINIMAL}\n[lifecycle]\nauto_close_after = \"2h\"\n"
        ))
        .unwrap();
        assert!(fresh.keep_connections_of(&running).is_empty());
        assert_eq!(fresh.lifecycle.auto_close_after, Duration::from_secs(7200));

        let mut moved = load(&MINIMAL.replace(
            "password = \"secret\"\n",
            "password = \"secret\"\nmailbox = \"Helpdesk\"\n",
        ))
        .unwrap();
        assert_eq!(moved.keep_connections_of(&running), vec!["imap"]);
        assert_eq!(moved.imap.mailbox, "INBOX");
        assert_eq!(moved.accounts(), running.accounts());

        fresh.helpdesk.address = "other@example.test".into();
        assert_eq!(fresh.keep_connections_of(&running), vec!["mailboxes"]);
        assert_eq!(fresh.helpdesk.address, running.helpdesk.address);
    }

    #[test]
    fn logging_format_defaults_to_text_and_accepts_json() {
        assert_eq!(load(MINIMAL).unwrap().logging.format, LogFormat::Text);
        let cfg = load(&format!("{MINIMAL}\n[logging]\nformat = \"json\"\n")).unwrap();
        assert_eq!(cfg.logging.format, LogFormat::Json);
        let err = load(&format!("{MINIMAL}\n[logging]\nformat = \"xml\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("format") && err.contains("xml"), "{err}");
    }

    #[test]
    fn metrics_listen_must_be_loopback() {
        assert!(load(MINIMAL).unwrap().metrics.is_none());
        let cfg = load(&format!(
            "{MINIMAL}\n[metrics]\nlisten = \"127.0.0.1:9187\"\n"
        ))
        .unwrap();
        assert_eq!(
            cfg.metrics.and_then(|m| m.addr),
            Some("127.0.0.1:9187".parse().unwrap())
        );
        assert!(load(&format!("{MINIMAL}\n[metrics]\nlisten = \"[::1]:9187\"\n")).is_ok());
        for bad in ["0.0.0.0:9187", "192.168.1.5:9187", "localhost", "9187"] {
            let err = load(&format!("{MINIMAL}\n[metrics]\nlisten = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("metrics.listen") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    /// MINIMAL with `[imap]` switched to OAuth2 through `table` (refresh token in a real file).
    fn oauth2(table: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rt"), "refresh\n").unwrap();
        let table = table.replace("RT", &dir.path().join("rt").display().to_string());
        let text = MINIMAL
            .replace("password = \"secret\"", "auth = \"oauth2\"")
            .replace("[smtp]", &format!("{table}\n[smtp]"));
        (dir, text)
    }

    #[test]
    fn oauth2_login_is_checked_and_names_the_key() {
        let good = "[imap.oauth2]\ntoken_url = \"https://login.example.com/t/oauth2/v2.0/token\"\n\
                    client_id = \"abc\"\nrefresh_token_file = \"RT\"\n";
        let (_d, text) = oauth2(good);
        let cfg = load(&text).unwrap();
        assert_eq!(cfg.imap.auth, AuthMode::Oauth2);
        let o = cfg.imap.oauth2.unwrap();
        assert_eq!(o.mechanism, SaslMechanism::Xoauth2);
        assert_eq!(o.grant, Grant::RefreshToken);
        assert_eq!(o.refresh_before, Duration::from_secs(60));

        for (table, key) in [
            // auth = "oauth2" without its table.
            ("", "imap.oauth2"),
            (
                "[imap.oauth2]\ntoken_url = \"ftp://x/t\"\nclient_id = \"a\"\nrefresh_token_file = \"RT\"\n",
                "imap.oauth2.token_url",
            ),
            (
                "[imap.oauth2]\ntoken_url = \"http://idp.example.com/t\"\nclient_id = \"a\"\nrefresh_token_file = \"RT\"\n",
                "imap.oauth2.token_url",
            ),
            (
                "[imap.oauth2]\ntoken_url = \"https://idp/t\"\nclient_id = \"a\"\n",
                "imap.oauth2.refresh_token_file",
            ),
            (
                "[imap.oauth2]\ntoken_url = \"https://idp/t\"\nclient_id = \"a\"\nrefresh_token_file = \"RT.missing\"\n",
                "imap.oauth2.refresh_token_file",
            ),
            (
                "[imap.oauth2]\ntoken_url = \"https://idp/t\"\nclient_id = \"a\"\ngrant = \"client_credentials\"\n",
                "imap.oauth2.client_secret_file",
            ),
            (
                "[imap.oauth2]\ntoken_url = \"https://idp/t\"\nclient_id = \" \"\nrefresh_token_file = \"RT\"\n",
                "imap.oauth2.client_id",
            ),
        ] {
            let (_d, text) = oauth2(table);
            let err = load(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{table}: {err}");
        }
        // The missing file is named.
        let (_d, text) = oauth2(&good.replace("RT", "RT.missing"));
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("rt.missing"), "{err}");
        // Plain http to a loopback endpoint is fine (a local token proxy, the tests).
        let (_d, text) =
            oauth2(&good.replace("https://login.example.com", "http://127.0.0.1:8080"));
        assert!(load(&text).is_ok());
        // A password next to OAuth2 would be ignored: refused.
        let (_d, text) = oauth2(good);
        let err = load(&text.replace("auth = \"oauth2\"", "auth = \"oauth2\"\npassword = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("imap.password"), "{err}");
        // SMTP with OAuth2 needs the user name the token is for.
        let smtp = MINIMAL.replace(
            "[database]",
            &format!(
                "auth = \"oauth2\"\n{}\n[database]",
                good.replace("[imap.oauth2]", "[smtp.oauth2]")
                    .replace("RT", &_d.path().join("rt").display().to_string())
            ),
        );
        let err = load(&smtp).unwrap_err().to_string();
        assert!(err.contains("smtp.username"), "{err}");
    }

    #[test]
    fn limits_default_generously() {
        let l = load(MINIMAL).unwrap().limits;
        assert_eq!(l.max_attachments, 50);
        assert_eq!(l.max_header_bytes, 256 * 1024);
        assert_eq!(l.max_recipients, 100);
        let l = load(&format!(
            "{MINIMAL}\n[limits]\nmax_attachments = 3\nmax_header_bytes = 8192\nmax_recipients = 2\n"
        ))
        .unwrap()
        .limits;
        assert_eq!(
            (l.max_attachments, l.max_header_bytes, l.max_recipients),
            (3, 8192, 2)
        );
    }

    #[test]
    fn bad_limits_are_named() {
        for (line, key) in [
            ("max_attachments = 0", "limits.max_attachments"),
            ("max_recipients = 0", "limits.max_recipients"),
            ("max_header_bytes = 0", "limits.max_header_bytes"),
            ("max_header_bytes = 100", "limits.max_header_bytes"),
            ("max_attachment_bytes = 0", "limits.max_attachment_bytes"),
            ("max_message_bytes = 0", "limits.max_message_bytes"),
            (
                "max_message_bytes = 10000\nmax_header_bytes = 20000",
                "limits.max_header_bytes",
            ),
        ] {
            let err = load(&format!("{MINIMAL}\n[limits]\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{line}: {err}");
        }
        // Nonsense types and negative numbers: toml names the key.
        for line in ["max_recipients = -1", "max_attachments = \"many\""] {
            let err = load(&format!("{MINIMAL}\n[limits]\n{line}\n"))
                .unwrap_err()
                .to_string();
            let key = line.split(' ').next().unwrap();
            assert!(err.contains(key), "{line}: {err}");
        }
    }

    #[test]
    fn technician_level_is_checked() {
        let text = format!(
            "{MINIMAL}\n[[technicians]]\nemail = \"t@example.test\"\nname = \"T\"\nlevel = 7\n"
        );
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("technicians[0].level"), "{err}");
    }
}
