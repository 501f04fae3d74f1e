//! `[imap]`, `[smtp]` and their OAuth2 token source: how Loket reaches its mail servers, and
//! the checks that keep a plaintext login or a secret from leaking (TLS required off loopback,
//! secrets read from files and never shown).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS before login.
    Starttls,
    /// No encryption: accepted only for a loopback host.
    None,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Imap {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `password` (LOGIN with `password`/`password_file`) or `oauth2` (`[imap.oauth2]`).
    #[serde(default)]
    pub auth: AuthMode,
    /// `[imap.oauth2]`: where access tokens come from when `auth = "oauth2"`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Where processed messages are moved after their ticket is committed; None keeps them in
    /// `mailbox` (flagged \Seen).
    #[serde(default)]
    pub processed_folder: Option<String>,
    #[serde(default = "default_true")]
    pub idle: bool,
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Extra CA certificate (PEM) to trust, for a server with a private or self-signed certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How many messages one UID FETCH asks for.
    #[serde(default = "default_fetch_batch")]
    pub fetch_batch: u32,
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Longest wait between reconnection attempts (the backoff doubles up to this).
    #[serde(default = "default_max_backoff", deserialize_with = "de_duration")]
    pub max_backoff: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `password` (AUTH PLAIN/LOGIN, or no AUTH without `username`) or `oauth2`
    /// (`[smtp.oauth2]`, with `username`).
    #[serde(default)]
    pub auth: AuthMode,
    /// `[smtp.oauth2]`: where access tokens come from when `auth = "oauth2"`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Longest wait between two attempts to send one outbox mail.
    #[serde(default = "default_max_backoff", deserialize_with = "de_duration")]
    pub max_backoff: Duration,
    /// SMTP connections the sender keeps side by side. Each mail waits for the server's
    /// acceptance (its queue file synced to disk) before the next goes on the same connection;
    /// a few in parallel answer a burst sooner. One ticket's mails always share one, in order.
    #[serde(default = "default_smtp_connections")]
    pub connections: usize,
}

/// Three: what Microsoft 365 allows one mailbox over SMTP AUTH at a time.
pub const DEFAULT_SMTP_CONNECTIONS: usize = 3;

fn default_smtp_connections() -> usize {
    DEFAULT_SMTP_CONNECTIONS
}

/// At most this many, so a typo cannot open hundreds of connections to the relay.
pub const MAX_SMTP_CONNECTIONS: usize = 16;

/// How Loket proves who it is to the IMAP or SMTP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A password (IMAP LOGIN, SMTP AUTH PLAIN/LOGIN).
    #[default]
    Password,
    /// An OAuth2 access token (SASL XOAUTH2 or OAUTHBEARER), as Microsoft 365 and Google
    /// Workspace require; see [`OAuth2`].
    Oauth2,
}

/// `[imap.oauth2]` / `[smtp.oauth2]`: the token endpoint and the credentials Loket exchanges
/// there for short-lived access tokens (see `src/token.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// The provider's token endpoint, e.g.
    /// `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`.
    pub token_url: String,
    pub client_id: String,
    /// A file holding the client secret (none for a public client using a refresh token).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// A file holding the refresh token; rewritten (atomically, mode 0600) when the provider
    /// hands out a new one. Required for `grant = "refresh_token"`.
    #[serde(default)]
    pub refresh_token_file: Option<PathBuf>,
    #[serde(default)]
    pub grant: Grant,
    /// Space-separated scopes to ask for (some providers require them, e.g. Microsoft's
    /// `https://outlook.office365.com/.default` for client credentials).
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub mechanism: SaslMechanism,
    /// A token is renewed when less than this remains of its lifetime (at most half of it).
    #[serde(default = "default_refresh_before", deserialize_with = "de_duration")]
    pub refresh_before: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// `grant_type=refresh_token`: a mailbox user consented once; the refresh token stands for it.
    #[default]
    RefreshToken,
    /// `grant_type=client_credentials`: the application itself has mailbox access (Microsoft
    /// 365 app-only access with a service principal).
    ClientCredentials,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaslMechanism {
    /// Google's and Microsoft's `XOAUTH2`.
    #[default]
    Xoauth2,
    /// RFC 7628 `OAUTHBEARER`.
    Oauthbearer,
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Xoauth2 => "XOAUTH2",
            SaslMechanism::Oauthbearer => "OAUTHBEARER",
        }
    }
}

pub(super) fn default_refresh_before() -> Duration {
    Duration::from_secs(60)
}

pub(super) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

pub(super) fn validate_server(
    section: &str,
    host: &str,
    port: u16,
    tls: TlsMode,
) -> Result<(), ConfigError> {
    if host.trim().is_empty() {
        return Err(invalid(&format!("{section}.host"), "must not be empty"));
    }
    if port == 0 {
        return Err(invalid(
            &format!("{section}.port"),
            "must be between 1 and 65535",
        ));
    }
    if tls == TlsMode::None && !is_loopback(host) {
        // Passwords in clear text over a network are never what an administrator wants.
        return Err(invalid(
            &format!("{section}.tls"),
            format!(
                "\"none\" is only allowed for a loopback host, not `{host}`; use \"tls\" or \"starttls\""
            ),
        ));
    }
    Ok(())
}

pub(super) fn validate_secret(
    section: &str,
    password: &Option<String>,
    file: &Option<PathBuf>,
    required: bool,
) -> Result<(), ConfigError> {
    match (password, file) {
        (Some(_), Some(_)) => Err(invalid(
            &format!("{section}.password"),
            format!("give either {section}.password or {section}.password_file, not both"),
        )),
        (None, None) if required => Err(invalid(
            &format!("{section}.password"),
            format!("missing: give {section}.password or {section}.password_file"),
        )),
        _ => Ok(()),
    }
}

/// `auth` and the `oauth2` table agree, and the table is usable: an http(s) endpoint (plain
/// http only on loopback, since the client secret travels in the request), the files its grant
/// needs, readable now.
pub(super) fn validate_auth(
    section: &str,
    auth: AuthMode,
    oauth2: &Option<OAuth2>,
) -> Result<(), ConfigError> {
    let o = match (auth, oauth2) {
        (AuthMode::Password, None) => return Ok(()),
        (AuthMode::Password, Some(_)) => {
            return Err(invalid(
                &format!("{section}.oauth2"),
                format!("is only used with {section}.auth = \"oauth2\""),
            ));
        }
        (AuthMode::Oauth2, None) => {
            return Err(invalid(
                &format!("{section}.oauth2"),
                format!(
                    "missing: {section}.auth = \"oauth2\" needs a [{section}.oauth2] table \
                     with token_url, client_id and refresh_token_file (or client credentials)"
                ),
            ));
        }
        (AuthMode::Oauth2, Some(o)) => o,
    };
    let key = |k: &str| format!("{section}.oauth2.{k}");
    let url = url::Url::parse(o.token_url.trim()).ok();
    let host = url.as_ref().and_then(|u| u.host_str()).unwrap_or("");
    match url.as_ref().map(|u| u.scheme()) {
        Some("https") if !host.is_empty() => {}
        Some("http") if !host.is_empty() => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if !is_loopback(bare) {
                return Err(invalid(
                    &key("token_url"),
                    format!(
                        "`{}`: plain http is only allowed for a loopback host; use https",
                        o.token_url
                    ),
                ));
            }
        }
        _ => {
            return Err(invalid(
                &key("token_url"),
                format!("`{}` must be an http(s) URL", o.token_url),
            ));
        }
    }
    if o.client_id.trim().is_empty() {
        return Err(invalid(&key("client_id"), "must not be empty"));
    }
    match o.grant {
        Grant::RefreshToken if o.refresh_token_file.is_none() => {
            return Err(invalid(
                &key("refresh_token_file"),
                "missing: grant = \"refresh_token\" needs the file holding the refresh token",
            ));
        }
        Grant::ClientCredentials if o.client_secret_file.is_none() => {
            return Err(invalid(
                &key("client_secret_file"),
                "missing: grant = \"client_credentials\" needs the file holding the client secret",
            ));
        }
        _ => {}
    }
    for (name, file) in [
        ("client_secret_file", &o.client_secret_file),
        ("refresh_token_file", &o.refresh_token_file),
    ] {
        if let Some(path) = file {
            std::fs::File::open(path)
                .map_err(|e| invalid(&key(name), format!("cannot read {}: {e}", path.display())))?;
        }
    }
    if o.refresh_before.is_zero() {
        return Err(invalid(&key("refresh_before"), "must be longer than zero"));
    }
    Ok(())
}

/// With OAuth2 a password would be ignored: refuse it rather than leave the reader guessing.
pub(super) fn no_password(
    section: &str,
    password: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<(), ConfigError> {
    if password.is_some() || file.is_some() {
        return Err(invalid(
            &format!("{section}.password"),
            format!("is not used with {section}.auth = \"oauth2\"; remove it"),
        ));
    }
    Ok(())
}

pub(super) fn read_secret(
    section: &str,
    password: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, ConfigError> {
    if let Some(p) = password {
        return Ok(Some(p.clone()));
    }
    match file {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_string()))
            .map_err(|e| {
                invalid(
                    &format!("{section}.password_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            }),
        None => Ok(None),
    }
}

/// Shown instead of a password anywhere a config might be printed.
pub struct Redacted;

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

pub(super) fn default_poll() -> Duration {
    Duration::from_secs(30)
}

pub(super) fn default_fetch_batch() -> u32 {
    100
}

pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

pub(super) fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}

impl Imap {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        validate_server("imap", &self.host, self.port, self.tls)?;
        validate_auth("imap", self.auth, &self.oauth2)?;
        if self.auth == AuthMode::Oauth2 {
            no_password("imap", &self.password, &self.password_file)?;
        } else {
            validate_secret("imap", &self.password, &self.password_file, true)?;
        }
        if self.mailbox.trim().is_empty() {
            return Err(invalid("imap.mailbox", "must not be empty"));
        }
        if self.poll_interval < Duration::from_millis(100) {
            return Err(invalid("imap.poll_interval", "must be at least 100ms"));
        }
        if self.fetch_batch == 0 {
            return Err(invalid("imap.fetch_batch", "must be at least 1"));
        }
        Ok(())
    }
}

impl Smtp {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        validate_server("smtp", &self.host, self.port, self.tls)?;
        validate_auth("smtp", self.auth, &self.oauth2)?;
        if self.auth == AuthMode::Oauth2 {
            no_password("smtp", &self.password, &self.password_file)?;
            if self.username.as_deref().is_none_or(|u| u.trim().is_empty()) {
                return Err(invalid(
                    "smtp.username",
                    "is required with smtp.auth = \"oauth2\" (the mailbox the token is for)",
                ));
            }
        } else if self.username.is_some()
            != (self.password.is_some() || self.password_file.is_some())
        {
            return Err(invalid(
                "smtp.username",
                "set both smtp.username and smtp.password (or password_file), or neither",
            ));
        } else {
            validate_secret("smtp", &self.password, &self.password_file, false)?;
        }
        if !(1..=MAX_SMTP_CONNECTIONS).contains(&self.connections) {
            return Err(invalid(
                "smtp.connections",
                format!("must be between 1 and {MAX_SMTP_CONNECTIONS}"),
            ));
        }
        Ok(())
    }
}
