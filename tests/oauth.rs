//! OAuth2 logins end to end: Dovecot checks every bearer token at an introspection endpoint
//! and Postfix hands SMTP AUTH to Dovecot (scripts/mailstack.sh with OAUTH2_INTROSPECTION_URL).
//! The identity provider is played by this test process: a token endpoint that hands out
//! short-lived access tokens for refresh tokens (rotating them, as Microsoft does) and counts
//! its calls, and the introspection endpoint that calls a token active only while it is
//! unexpired and unrevoked.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Loket, Options, Stack, stack_with_env, unique};

const WAIT: Duration = Duration::from_secs(30);
const CLIENT_ID: &str = "loket-test";
const CLIENT_SECRET: &str = "s3cret-client";

/// One consent: a refresh token family for one user, with the lifetime of its access tokens.
struct Grant {
    user: String,
    lifetime: Duration,
    /// Token endpoint calls that issued a token for this grant.
    calls: u32,
    /// The next this-many tokens are issued already dead (revoked before first use).
    poison_next: u32,
    last_issued: Option<Instant>,
    last_refresh_token: String,
}

struct Issued {
    grant: String,
    user: String,
    expires: Instant,
    revoked: bool,
}

#[derive(Default)]
struct State {
    grants: HashMap<String, Grant>,
    /// Every refresh token ever issued -> its grant (old ones stay valid, as at Microsoft).
    refresh: HashMap<String, String>,
    tokens: HashMap<String, Issued>,
    serial: u64,
}

struct Idp {
    addr: SocketAddr,
    state: Mutex<State>,
}

fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the identity provider");
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || serve(conn));
            }
        });
        Idp {
            addr,
            state: Mutex::new(State::default()),
        }
    })
}

/// The stack of this binary, with Dovecot validating tokens at our introspection endpoint.
fn oauth_stack() -> &'static Stack {
    let url = format!("http://{}/introspect", idp().addr);
    stack_with_env(&[("OAUTH2_INTROSPECTION_URL", url)])
}

/// Requests on one connection until the client closes it (Dovecot keeps connections alive).
fn serve(conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        let (status, json) = match path.as_str() {
            "/token" => token(&form),
            "/introspect" => introspect(&form),
            _ => (404, serde_json::json!({"error": "not_found"})),
        };
        let text = json.to_string();
        let reason = if status == 200 { "OK" } else { "Bad Request" };
        write!(
            w,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
        w.flush().unwrap();
    }
}

fn token(form: &HashMap<String, String>) -> (u16, serde_json::Value) {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return (401, serde_json::json!({"error": "invalid_client"}));
    }
    if field("grant_type") != "refresh_token" {
        return (400, serde_json::json!({"error": "unsupported_grant_type"}));
    }
    let mut st = idp().state.lock().unwrap();
    let Some(name) = st.refresh.get(field("refresh_token")).cloned() else {
        return (400, serde_json::json!({"error": "invalid_grant"}));
    };
    st.serial += 1;
    let serial = st.serial;
    let access = format!("at-{serial}-{name}");
    let refresh = format!("rt-{serial}-{name}");
    let g = st.grants.get_mut(&name).unwrap();
    g.calls += 1;
    g.last_issued = Some(Instant::now());
    g.last_refresh_token = refresh.clone();
    let revoked = g.poison_next > 0;
    g.poison_next = g.poison_next.saturating_sub(1);
    let (user, lifetime) = (g.user.clone(), g.lifetime);
    st.refresh.insert(refresh.clone(), name.clone());
    st.tokens.insert(
        access.clone(),
        Issued {
            grant: name,
            user,
            expires: Instant::now() + lifetime,
            revoked,
        },
    );
    (
        200,
        serde_json::json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "refresh_token": refresh,
        }),
    )
}

fn introspect(form: &HashMap<String, String>) -> (u16, serde_json::Value) {
    let st = idp().state.lock().unwrap();
    match st
        .tokens
        .get(form.get("token").map(String::as_str).unwrap_or(""))
    {
        Some(t) if !t.revoked && Instant::now() < t.expires => {
            (200, serde_json::json!({"active": true, "username": t.user}))
        }
        _ => (200, serde_json::json!({"active": false})),
    }
}

/// Registers a consent for `user`; returns the first refresh token.
fn grant(name: &str, user: &str, lifetime: Duration, poison_next: u32) -> String {
    let mut st = idp().state.lock().unwrap();
    let refresh = format!("rt-0-{name}");
    st.grants.insert(
        name.to_string(),
        Grant {
            user: user.to_string(),
            lifetime,
            calls: 0,
            poison_next,
            last_issued: None,
            last_refresh_token: refresh.clone(),
        },
    );
    st.refresh.insert(refresh.clone(), name.to_string());
    refresh
}

fn calls(name: &str) -> u32 {
    idp().state.lock().unwrap().grants[name].calls
}

/// Makes every token issued so far for grant `name` inactive, as an administrator revoking
/// sessions (or a password change) does.
fn revoke(name: &str) {
    let mut st = idp().state.lock().unwrap();
    for t in st.tokens.values_mut().filter(|t| t.grant == name) {
        t.revoked = true;
    }
}

/// Disconnects every IMAP session of `user`, so Loket has to log in again.
fn kick(s: &Stack, user: &str) {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(s.dir.join("dovecot/dovecot.conf"))
        .args(["kick", user])
        .output()
        .expect("doveadm kick");
    assert!(
        out.status.success(),
        "doveadm kick: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Side {
    mechanism: &'static str,
    lifetime: Duration,
    poison_next: u32,
}

/// A configured (not started) Loket whose IMAP and/or SMTP log in with OAuth2, each side with
/// a grant of its own (named `<test>-imap` / `<test>-smtp`).
fn configure(test: &str, imap: Option<Side>, smtp: Option<Side>) -> Loket {
    oauth_stack();
    let loket = Loket::configure(Options::default());
    let dir = loket.dir.path();
    std::fs::write(dir.join("client-secret"), format!("{CLIENT_SECRET}\n")).unwrap();
    let mut text = std::fs::read_to_string(&loket.config).unwrap();
    let table = |side: &str, s: &Side| {
        let name = format!("{test}-{side}");
        let refresh = grant(&name, &loket.address, s.lifetime, s.poison_next);
        let file = dir.join(format!("{side}-refresh-token"));
        std::fs::write(&file, format!("{refresh}\n")).unwrap();
        format!(
            "[{side}.oauth2]\ntoken_url = \"http://{addr}/token\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_file = \"{secret}\"\nrefresh_token_file = \"{file}\"\n\
             mechanism = \"{mech}\"\nrefresh_before = \"1s\"\n\n",
            addr = idp().addr,
            secret = dir.join("client-secret").display(),
            file = file.display(),
            mech = s.mechanism,
        )
    };
    if let Some(s) = &imap {
        let t = table("imap", s);
        text = text
            .replacen("password = \"secret\"\n", "auth = \"oauth2\"\n", 1)
            .replacen("\n[smtp]\n", &format!("\n{t}[smtp]\n"), 1);
    }
    if let Some(s) = &smtp {
        let t = table("smtp", s);
        text = text
            .replacen(
                "\n[smtp]\n",
                &format!(
                    "\n[smtp]\nauth = \"oauth2\"\nusername = \"{}\"\n",
                    loket.address
                ),
                1,
            )
            .replacen("\n[database]\n", &format!("\n{t}[database]\n"), 1);
    }
    std::fs::write(&loket.config, text).unwrap();
    loket
}

#[test]
fn imap_token_is_reused_across_reconnects_and_renewed_when_revoked() {
    let imap = Side {
        mechanism: "oauthbearer",
        lifetime: Duration::from_secs(3600),
        poison_next: 0,
    };
    let mut loket = configure("revoked", Some(imap), None);
    let name = "revoked-imap";
    let s = oauth_stack();
    loket.spawn();
    let user = unique("revoked-user");
    s.send(&user, &loket.address, "VPN putus", "VPN putus terus.", "");
    loket.wait_processed(1, WAIT);
    assert_eq!(calls(name), 1, "one token for the first login");

    // A reconnect within the token's lifetime logs in with the cached token.
    kick(s, &loket.address);
    s.send(&user, &loket.address, "Printer", "Printer macet.", "");
    loket.wait_processed(2, WAIT);
    assert_eq!(calls(name), 1, "the cached token served the second login");

    // Revoked while cached: Dovecot refuses it, Loket renews and logs in on the retry.
    revoke(name);
    kick(s, &loket.address);
    s.send(&user, &loket.address, "Email", "Email tidak masuk.", "");
    loket.wait_processed(3, WAIT);
    assert_eq!(calls(name), 2, "exactly one renewal after the refusal");
    let log = loket.log();
    assert!(
        log.contains("IMAP server rejected the OAuth2 token; renewing it"),
        "{log}"
    );
    assert_eq!(loket.count("SELECT COUNT(*) FROM tickets"), 3);
    // Neither the client secret nor a token (they carry the grant's name) reaches the log.
    assert!(!log.contains(CLIENT_SECRET) && !log.contains(name), "{log}");
}

#[test]
fn imap_token_is_renewed_before_it_expires() {
    let imap = Side {
        mechanism: "xoauth2",
        lifetime: Duration::from_secs(3),
        poison_next: 0,
    };
    let mut loket = configure("expiry", Some(imap), None);
    let name = "expiry-imap";
    let s = oauth_stack();
    loket.spawn();
    let user = unique("expiry-user");
    s.send(
        &user,
        &loket.address,
        "Laptop lambat",
        "Laptop lambat sekali.",
        "",
    );
    loket.wait_processed(1, WAIT);
    assert_eq!(calls(name), 1);

    // Past the token's lifetime: the next login must not even try the old token.
    let issued = idp().state.lock().unwrap().grants[name]
        .last_issued
        .unwrap();
    std::thread::sleep(
        (issued + Duration::from_millis(3500)).saturating_duration_since(Instant::now()),
    );
    kick(s, &loket.address);
    s.send(&user, &loket.address, "Monitor", "Monitor berkedip.", "");
    loket.wait_processed(2, WAIT);
    assert_eq!(calls(name), 2, "a fresh token for the login after expiry");
    let log = loket.log();
    assert!(!log.contains("rejected the OAuth2 token"), "{log}");

    // The provider rotated the refresh token: Loket saved the newest, readable only by itself.
    use std::os::unix::fs::PermissionsExt;
    let file = loket.dir.path().join("imap-refresh-token");
    let saved = std::fs::read_to_string(&file).unwrap();
    let newest = idp().state.lock().unwrap().grants[name]
        .last_refresh_token
        .clone();
    assert_eq!(saved.trim(), newest);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn smtp_token_refused_by_postfix_is_renewed_and_the_mail_sent() {
    // The first SMTP token is dead on arrival: Postfix (through Dovecot) refuses it.
    let smtp = Side {
        mechanism: "oauthbearer",
        lifetime: Duration::from_secs(3600),
        poison_next: 1,
    };
    let mut loket = configure("smtp", None, Some(smtp));
    let s = oauth_stack();
    loket.spawn();
    let user = unique("smtp-user");
    s.send(
        &user,
        &loket.address,
        "Akses folder",
        "Minta akses folder.",
        "",
    );
    let acks = s.wait_mail(&user, 1, WAIT);
    assert!(acks[0].contains("HD-1"));
    assert_eq!(calls("smtp-smtp"), 2, "one refused token, one renewal");
    let log = loket.log();
    assert!(
        log.contains("SMTP server rejected the OAuth2 token; renewing it"),
        "{log}"
    );
    let postfix = std::fs::read_to_string(s.dir.join("postfix.log")).unwrap();
    assert!(
        postfix.contains(&format!(
            "sasl_method=OAUTHBEARER, sasl_username={}",
            loket.address
        )),
        "Postfix accepted the mail as an authenticated client:\n{postfix}"
    );
}

#[test]
fn check_logs_in_with_oauth2_on_both_sides() {
    let side = || Side {
        mechanism: "xoauth2",
        lifetime: Duration::from_secs(3600),
        poison_next: 0,
    };
    let loket = configure("check", Some(side()), Some(side()));
    let (code, out, err) = loket.cli(&["check"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imap 127.0.0.1") && out.contains(": login ok"),
        "{out}"
    );
    assert!(out.contains("smtp 127.0.0.1"), "{out}");
    assert_eq!(calls("check-imap"), 1);
    assert_eq!(calls("check-smtp"), 1);

    // A token endpoint that refuses the refresh token fails the check with its reason.
    std::fs::write(loket.dir.path().join("imap-refresh-token"), "rt-unknown\n").unwrap();
    let (code, out, _) = loket.cli(&["check"], None);
    assert_ne!(code, 0);
    assert!(out.contains("invalid_grant"), "{out}");
}
