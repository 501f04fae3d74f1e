//! OAuth2 access tokens for the IMAP and SMTP logins (`auth = "oauth2"`): exchanges the refresh
//! token (or the client credentials) at the provider's token endpoint, keeps the access token
//! until shortly before it expires, fetches a new one when the server rejected the old one, and
//! saves a rotated refresh token. It also builds the SASL strings (XOAUTH2, OAUTHBEARER).
//!
//! The HTTP side is one form-encoded POST per token, so it is spoken here over a plain or rustls
//! socket rather than pulling in an HTTP client stack. Secrets never reach a log line or an error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::config::{Grant, OAuth2, SaslMechanism};

/// Where one login's access tokens come from. Cheap to clone; clones share the cached token.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    /// `imap.oauth2` or `smtp.oauth2`, for errors.
    key: String,
    url: url::Url,
    client_id: String,
    client_secret: Option<String>,
    grant: Grant,
    scope: Option<String>,
    refresh_before: Duration,
    timeout: Duration,
    refresh_token_file: Option<PathBuf>,
    state: Mutex<State>,
}

struct State {
    refresh_token: Option<String>,
    access: Option<Cached>,
}

struct Cached {
    token: String,
    /// When to fetch the next one: `refresh_before` ahead of the expiry.
    renew_at: Instant,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No secret here, ever: only where tokens come from.
        f.debug_struct("TokenSource")
            .field("key", &self.inner.key)
            .field("token_url", &self.inner.url.as_str())
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

/// Read at most this much of a token endpoint's answer (a token response is a few kilobytes).
const MAX_RESPONSE: usize = 1024 * 1024;

impl TokenSource {
    /// Reads the secret files now, so a missing or unreadable one stops the start, not the
    /// first login. `section` is `imap` or `smtp`; `timeout` bounds one token request.
    pub fn new(section: &str, cfg: &OAuth2, timeout: Duration) -> Result<TokenSource> {
        let key = format!("{section}.oauth2");
        let url = url::Url::parse(cfg.token_url.trim())
            .with_context(|| format!("{key}.token_url `{}`", cfg.token_url))?;
        let read = |name: &str, path: &Option<PathBuf>| -> Result<Option<String>> {
            let Some(path) = path else { return Ok(None) };
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{key}.{name}: cannot read {}", path.display()))?;
            let text = text.trim().to_string();
            if text.is_empty() {
                bail!("{key}.{name}: {} is empty", path.display());
            }
            Ok(Some(text))
        };
        let client_secret = read("client_secret_file", &cfg.client_secret_file)?;
        let refresh_token = match cfg.grant {
            Grant::RefreshToken => read("refresh_token_file", &cfg.refresh_token_file)?,
            Grant::ClientCredentials => None,
        };
        Ok(TokenSource {
            inner: Arc::new(Inner {
                key,
                url,
                client_id: cfg.client_id.trim().to_string(),
                client_secret,
                grant: cfg.grant,
                scope: cfg.scope.clone().filter(|s| !s.trim().is_empty()),
                refresh_before: cfg.refresh_before,
                timeout,
                refresh_token_file: cfg.refresh_token_file.clone(),
                state: Mutex::new(State {
                    refresh_token,
                    access: None,
                }),
            }),
        })
    }

    /// A valid access token: the cached one while it has time left, a fresh one otherwise.
    pub async fn token(&self) -> Result<String> {
        let mut state = self.inner.state.lock().await;
        if let Some(c) = &state.access
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        self.fetch(&mut state).await
    }

    /// A token other than `rejected`, which the server just refused (revoked, or expired
    /// earlier than announced). Another login may already have replaced it; then that one is
    /// used instead of asking the endpoint again.
    pub async fn renew(&self, rejected: &str) -> Result<String> {
        let mut state = self.inner.state.lock().await;
        if let Some(c) = &state.access
            && c.token != rejected
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        state.access = None;
        self.fetch(&mut state).await
    }

    /// The token request's form body (it holds secrets: never logged).
    fn form(&self, state: &State) -> Result<String> {
        let i = &self.inner;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        match i.grant {
            Grant::RefreshToken => {
                let refresh = state
                    .refresh_token
                    .as_deref()
                    .ok_or_else(|| anyhow!("{}: no refresh token", i.key))?;
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", refresh);
            }
            Grant::ClientCredentials => {
                form.append_pair("grant_type", "client_credentials");
            }
        }
        form.append_pair("client_id", &i.client_id);
        if let Some(secret) = &i.client_secret {
            form.append_pair("client_secret", secret);
        }
        if let Some(scope) = &i.scope {
            form.append_pair("scope", scope);
        }
        Ok(form.finish())
    }

    async fn fetch(&self, state: &mut State) -> Result<String> {
        let i = &self.inner;
        let body = self.form(state)?;
        let started = Instant::now();
        let (status, answer) = tokio::time::timeout(i.timeout, post_form(&i.url, &body))
            .await
            .map_err(|_| anyhow!("{}: token endpoint {} timed out", i.key, i.url))?
            .with_context(|| format!("{}: token endpoint {}", i.key, i.url))?;
        let json: serde_json::Value = serde_json::from_slice(&answer).map_err(|_| {
            anyhow!(
                "{}: token endpoint {} answered {status} without a JSON body",
                i.key,
                i.url
            )
        })?;
        if !(200..300).contains(&status) {
            // RFC 6749 §5.2: `error` and `error_description` say why (invalid_grant = the refresh
            // token was revoked or expired: someone must consent again).
            let field = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or("");
            bail!(
                "{}: token endpoint {} refused ({status}): {} {}",
                i.key,
                i.url,
                field("error"),
                field("error_description")
            );
        }
        let token = json
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("{}: token endpoint answered without access_token", i.key))?
            .to_string();
        // A number per RFC 6749; some Microsoft endpoints have sent it as a string.
        let lifetime = match json.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        // Without a lifetime the token is used until the server rejects it.
        .unwrap_or(3600);
        // Capped at a week: a bogus huge value must not overflow the clock arithmetic below.
        let lifetime = Duration::from_secs(lifetime.min(7 * 24 * 3600));
        // A short-lived token would otherwise be renewed before every use.
        let margin = i.refresh_before.min(lifetime / 2);
        state.access = Some(Cached {
            token: token.clone(),
            renew_at: started + lifetime - margin,
        });
        if let Some(new) = json.get("refresh_token").and_then(|v| v.as_str())
            && i.grant == Grant::RefreshToken
            && !new.is_empty()
            && state.refresh_token.as_deref() != Some(new)
        {
            state.refresh_token = Some(new.to_string());
            if let Some(path) = &i.refresh_token_file {
                // The old token often stays valid a while, so a failed save is not fatal now;
                // it would be after a restart, hence the error level.
                match save_secret(path, new) {
                    Ok(()) => {
                        tracing::info!(file = %path.display(), "OAuth2: new refresh token saved")
                    }
                    Err(e) => {
                        tracing::error!(key = %i.key, error = %format!("{e:#}"), "OAuth2: cannot save the new refresh token")
                    }
                }
            }
        }
        tracing::info!(key = %i.key, endpoint = %i.url, expires_in = lifetime.as_secs(), "OAuth2: access token obtained");
        Ok(token)
    }
}

/// Replaces `path` with `secret` atomically (a temporary file in the same directory, mode 0600,
/// synced, renamed over it): a crash leaves the old token or the new one, never half of one.
fn save_secret(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = match dir {
        Some(d) => d.join(&tmp_name),
        None => PathBuf::from(&tmp_name),
    };
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(secret.as_bytes())
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        if let Some(d) = dir {
            // The rename itself is durable only once the directory is synced.
            std::fs::File::open(d).and_then(|d| d.sync_all()).ok();
        }
        Ok(())
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

/// One HTTP/1.1 POST of a form body; returns the status and the (de-chunked) body.
async fn post_form(url: &url::Url, body: &str) -> Result<(u16, Vec<u8>)> {
    let host = url
        .host_str()
        .ok_or_else(|| anyhow!("URL without a host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| anyhow!("URL without a port"))?;
    // IPv6 literals come bracketed from host_str; connect wants them bare.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare, port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    tcp.set_nodelay(true).ok();
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: loket/{}\r\n\
         Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    let raw = if url.scheme() == "https" {
        let name = rustls_pki_types::ServerName::try_from(bare.to_string())
            .with_context(|| format!("`{host}` is not a valid TLS server name"))?;
        let connector = crate::net::tls_connector(None, "token_url")?;
        let tls = connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {host}:{port}"))?;
        exchange(tls, request.as_bytes()).await?
    } else {
        exchange(tcp, request.as_bytes()).await?
    };
    parse_response(&raw)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, request: &[u8]) -> Result<Vec<u8>> {
    s.write_all(request).await.context("sending the request")?;
    s.flush().await.context("sending the request")?;
    let mut raw = Vec::new();
    // `Connection: close`: the answer ends where the stream does (or where Content-Length or
    // the last chunk says, for a server that ignores the request to close).
    let mut buf = [0u8; 8192];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(n) => n,
            // Servers that close without TLS close_notify: what arrived is the answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => 0,
            Err(e) => return Err(e).context("reading the answer"),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE {
            bail!("answer larger than {MAX_RESPONSE} bytes");
        }
        if complete(&raw) {
            break;
        }
    }
    Ok(raw)
}

/// Whether `raw` already holds a whole response (so we need not wait for the server to close).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    if let Some(len) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        return body.len() >= len;
    }
    if header(&head, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        return dechunk(body).is_ok();
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Status and body of a raw HTTP/1.x response.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| anyhow!("incomplete HTTP answer"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status_line = head.split("\r\n").next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| anyhow!("not an HTTP answer: `{}`", status_line.escape_debug()))?;
    let body = &raw[end + 4..];
    let body = if header(&head, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(body)?
    } else if let Some(len) = header(&head, "content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| anyhow!("bad Content-Length `{len}`"))?;
        body.get(..len)
            .ok_or_else(|| anyhow!("answer shorter than its Content-Length"))?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// The body of a `Transfer-Encoding: chunked` message; an error while the last chunk is missing.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = find(data, b"\r\n").ok_or_else(|| anyhow!("incomplete chunk"))?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        // Chunk extensions (";name=value") carry nothing we need.
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| anyhow!("bad chunk size `{}`", size_text.escape_debug()))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data
            .get(..size)
            .ok_or_else(|| anyhow!("incomplete chunk"))?;
        out.extend_from_slice(chunk);
        data = data
            .get(size + 2..)
            .ok_or_else(|| anyhow!("incomplete chunk"))?;
    }
}

/// The SASL initial response for `mechanism`: Google's XOAUTH2
/// (`user=..^Aauth=Bearer ..^A^A`) or RFC 7628 OAUTHBEARER with the GS2 header and the server's
/// host and port.
pub fn sasl_response(
    mechanism: SaslMechanism,
    user: &str,
    host: &str,
    port: u16,
    token: &str,
) -> String {
    match mechanism {
        SaslMechanism::Xoauth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        SaslMechanism::Oauthbearer => {
            // RFC 5801 saslname: `,` and `=` are escaped in the authorization identity.
            let user = user.replace('=', "=3D").replace(',', "=2C");
            format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
        }
    }
}

/// An async-imap authenticator that answers the first challenge with the initial response and
/// any later one (the server's JSON error report after a rejected token) with an empty line, as
/// both mechanisms require, so the server ends the exchange with NO.
pub struct SaslAuthenticator {
    response: Option<String>,
}

impl SaslAuthenticator {
    pub fn new(response: String) -> SaslAuthenticator {
        SaslAuthenticator {
            response: Some(response),
        }
    }
}

impl async_imap::Authenticator for SaslAuthenticator {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        match self.response.take() {
            Some(r) => r,
            None => {
                tracing::debug!(
                    challenge = %String::from_utf8_lossy(challenge),
                    "SASL: server reported an error"
                );
                String::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_and_oauthbearer_strings() {
        assert_eq!(
            sasl_response(SaslMechanism::Xoauth2, "a@b.test", "h", 993, "T0K"),
            "user=a@b.test\x01auth=Bearer T0K\x01\x01"
        );
        assert_eq!(
            sasl_response(SaslMechanism::Oauthbearer, "a,b=c@d", "imap.d", 993, "T"),
            "n,a=a=2Cb=3Dc@d,\x01host=imap.d\x01port=993\x01auth=Bearer T\x01\x01"
        );
    }

    #[test]
    fn parses_content_length_and_chunked_answers() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n{}\r\nXX";
        assert!(complete(raw));
        assert_eq!(parse_response(raw).unwrap(), (200, b"{}\r\n".to_vec()));
        let chunked = b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\n{\"a\r\n2\r\n\"}\r\n0\r\n\r\n";
        assert!(complete(chunked));
        assert_eq!(parse_response(chunked).unwrap(), (400, b"{\"a\"}".to_vec()));
        let partial = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        assert!(!complete(partial));
        assert!(parse_response(partial).is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    /// A token endpoint on loopback that answers every request with `answer(n)` (n counts from
    /// 1) and hands back the request bodies it saw.
    async fn endpoint(
        answer: fn(usize) -> (u16, String),
    ) -> (url::Url, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!(
            "http://{}/tenant/token?v=2",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                // Head, then as much body as Content-Length says.
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(end) = find(&raw, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&raw[..end]).to_string();
                        let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
                        if raw.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&raw).to_string();
                let n = {
                    let mut seen = seen2.lock().unwrap();
                    seen.push(text);
                    seen.len()
                };
                let (status, body) = answer(n);
                let reply = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(reply.as_bytes()).await.unwrap();
                s.shutdown().await.ok();
            }
        });
        (url, seen)
    }

    fn settings(url: &url::Url, secret: &Path) -> OAuth2 {
        OAuth2 {
            token_url: url.to_string(),
            client_id: "app-1".into(),
            client_secret_file: Some(secret.to_path_buf()),
            refresh_token_file: None,
            grant: Grant::ClientCredentials,
            scope: Some("https://outlook.office365.com/.default".into()),
            mechanism: SaslMechanism::Xoauth2,
            refresh_before: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn client_credentials_token_is_cached_and_renewed_on_rejection() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "p&ss=word\n").unwrap();
        // expires_in as a string, as some Microsoft endpoints send it.
        let (url, seen) = endpoint(|n| {
            let body = r#"{"access_token":"tok-N","token_type":"Bearer","expires_in":"3599"}"#;
            (200, body.replace('N', &n.to_string()))
        })
        .await;
        let source =
            TokenSource::new("imap", &settings(&url, &secret), Duration::from_secs(5)).unwrap();
        assert_eq!(source.token().await.unwrap(), "tok-1");
        assert_eq!(source.token().await.unwrap(), "tok-1", "cached");
        assert_eq!(seen.lock().unwrap().len(), 1);
        let first = seen.lock().unwrap()[0].clone();
        assert!(
            first.starts_with("POST /tenant/token?v=2 HTTP/1.1\r\n"),
            "{first}"
        );
        let body = first.split("\r\n\r\n").nth(1).unwrap();
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("grant_type"), Some("client_credentials"));
        assert_eq!(get("client_id"), Some("app-1"));
        assert_eq!(get("client_secret"), Some("p&ss=word"));
        assert_eq!(get("scope"), Some("https://outlook.office365.com/.default"));
        assert_eq!(get("refresh_token"), None);

        // The server refused tok-1: a new one is fetched; a second caller holding the same
        // rejected token gets the new one without another request.
        assert_eq!(source.renew("tok-1").await.unwrap(), "tok-2");
        assert_eq!(source.clone().renew("tok-1").await.unwrap(), "tok-2");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn refusal_names_the_oauth2_error_but_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "very-secret").unwrap();
        let (url, _) = endpoint(|_| {
            let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
            (401, body.to_string())
        })
        .await;
        let source =
            TokenSource::new("smtp", &settings(&url, &secret), Duration::from_secs(5)).unwrap();
        let err = format!("{:#}", source.token().await.unwrap_err());
        assert!(
            err.contains("smtp.oauth2")
                && err.contains("refused (401): invalid_client AADSTS7000215"),
            "{err}"
        );
        assert!(!err.contains("very-secret"), "{err}");
    }

    #[test]
    fn saved_secret_replaces_the_file_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refresh");
        std::fs::write(&path, "old\n").unwrap();
        save_secret(&path, "new-token").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new-token\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing left behind but the file itself.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
