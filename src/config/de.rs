//! What every section's schema and checks share: the error that names the key, and the
//! deserialising helpers for durations, time zones and addresses.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// An error in the configuration: which key, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

pub(super) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// A humantime duration ("3s", "15m", "24h").
pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{s}` is not a duration like \"30s\" or \"24h\": {e}"
        ))
    })
}

pub(super) fn de_timezone<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<chrono_tz::Tz>().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{s}` is not an IANA time zone like \"Asia/Jakarta\""
        ))
    })
}

/// toml's message names the key and shows the line, which is what an administrator needs;
/// unless that line holds a secret (a password written without quotes, an unclosed string):
/// then the line and the key are named and the value is not shown, since the message goes to
/// the log (a SIGHUP reload) and the terminal.
pub(super) fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.to_string();
    };
    let start = span.start.min(text.len());
    let line_no = text
        .get(..start)
        .map_or(0, |before| before.matches('\n').count())
        + 1;
    let secret_key = |n: usize| -> Option<String> {
        let line = text.lines().nth(n.checked_sub(1)?)?;
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        let lower = key.to_ascii_lowercase();
        (["password", "secret", "token"]
            .iter()
            .any(|w| lower.contains(w))
            && !lower.ends_with("_file"))
        .then(|| key.to_string())
    };
    // The line itself, or (a string left open runs on) the one before it.
    let here_or_before = secret_key(line_no).or_else(|| {
        let here = text.lines().nth(line_no - 1).unwrap_or("");
        (!here.contains('='))
            .then(|| secret_key(line_no - 1))
            .flatten()
    });
    if let Some(key) = here_or_before {
        format!(
            "line {line_no}, key `{key}`: not a valid value (not shown: it is a secret; \
             write it as a quoted string, or use {key}_file)"
        )
    } else {
        e.to_string()
    }
}

pub(crate) fn is_plain_address(s: &str) -> bool {
    let mut parts = s.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty()
                && !domain.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
        }
        _ => false,
    }
}
