//! Who may act as a technician or an approver. A From address is easy to forge; with
//! `[security] require_authenticated_commands = true` (the default), a mail counts as theirs only
//! when the receiving server vouched for it in an `Authentication-Results` header (RFC 8601)
//! carrying the configured `authserv_id`: `dkim=pass` for the From domain, `spf=pass` for a
//! MAIL FROM in it, or `dmarc=pass` for it. A forged technician mail is then an outsider's mail:
//! no commands, no access to tickets; a forged approval decides nothing.
//!
//! Which header to believe: the receiving server adds its own at the top (RFC 8601 section 5),
//! so only the topmost run of headers with the trusted id counts. One with that id further down
//! (below another server's, or shadowed by the server's own verdict for the same method) was
//! written by whoever sent the mail. Within the trusted headers a failure for the From domain
//! wins over any pass: a forger who adds `dkim=pass` beside the server's `dkim=fail` gains nothing.

use crate::config::{Config, Technician};
use crate::inbound::Inbound;

/// Whether `a` and `b` are the same domain or one is a subdomain of the other (relaxed
/// alignment, as DMARC has it, without a public-suffix list).
fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('.'), b.trim_end_matches('.'));
    a.eq_ignore_ascii_case(b)
        || a.to_ascii_lowercase()
            .ends_with(&format!(".{}", b.to_ascii_lowercase()))
        || b.to_ascii_lowercase()
            .ends_with(&format!(".{}", a.to_ascii_lowercase()))
}

/// Strips RFC 5322 comments "(...)" so "dkim=pass (good signature) header.d=x" reads plainly.
fn without_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// One `method=result prop=value ...` of an Authentication-Results header, lower-cased.
struct MethodResult {
    method: String,
    verdict: String,
    /// The domains the result is about: header.d/header.i (dkim), smtp.mailfrom (spf),
    /// header.from (dmarc). Empty when the server named none.
    domains: Vec<String>,
}

impl MethodResult {
    /// A result about the From domain, or about no named domain: a failure the server did not
    /// tie to another domain is taken as one for this mail.
    fn concerns(&self, from_domain: &str) -> bool {
        self.domains.is_empty() || self.domains.iter().any(|d| aligned(d, from_domain))
    }

    fn is_pass(&self, from_domain: &str) -> bool {
        self.verdict == "pass"
            && self.domains.iter().any(|d| aligned(d, from_domain))
            && matches!(self.method.as_str(), "dkim" | "spf" | "dmarc")
    }

    fn is_fail(&self, from_domain: &str) -> bool {
        let fail = match self.method.as_str() {
            "dkim" | "dmarc" => self.verdict == "fail",
            // softfail: the domain's owner says the sending host is probably not theirs.
            "spf" => self.verdict == "fail" || self.verdict == "softfail",
            _ => false,
        };
        fail && self.concerns(from_domain)
    }
}

/// The authserv-id and the results of one Authentication-Results value; `None` when it has no id.
fn parse(header: &str) -> Option<(String, Vec<MethodResult>)> {
    let clean = without_comments(header);
    let mut parts = clean.split(';');
    let id = parts
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let results = parts
        .filter_map(|result| {
            let mut words = result.split_whitespace();
            let (method, verdict) = words.next()?.split_once('=')?;
            // "dkim/1=pass": a method version is allowed by the grammar.
            let method = method
                .split('/')
                .next()
                .unwrap_or(method)
                .to_ascii_lowercase();
            let wanted: &[&str] = match method.as_str() {
                "dkim" => &["header.d", "header.i"],
                "spf" => &["smtp.mailfrom"],
                "dmarc" => &["header.from"],
                _ => &[],
            };
            let domains = words
                .filter_map(|w| w.split_once('='))
                .filter(|(k, _)| wanted.iter().any(|w| k.eq_ignore_ascii_case(w)))
                .map(|(_, v)| {
                    let v = v.trim_matches('"');
                    v.rsplit('@').next().unwrap_or(v).to_ascii_lowercase()
                })
                .collect();
            Some(MethodResult {
                method,
                verdict: verdict.to_ascii_lowercase(),
                domains,
            })
        })
        .collect();
    Some((id, results))
}

/// Whether the Authentication-Results `headers` (in message order, topmost first) show that the
/// server `authserv_id` authenticated `from_domain`. Only the topmost run of headers with that id
/// counts (others are below another server's, so the sender wrote them); in it, the topmost
/// header that reports a method gives that method's verdict; any failure for the From domain
/// there refuses, else one aligned pass accepts.
pub fn vouched<S: AsRef<str>>(headers: &[S], authserv_id: &str, from_domain: &str) -> bool {
    let authserv_id = authserv_id.trim();
    if authserv_id.is_empty() || from_domain.is_empty() {
        return false;
    }
    let trusted = headers
        .iter()
        .map(|h| parse(h.as_ref()))
        .skip_while(|p| {
            p.as_ref()
                .is_none_or(|(id, _)| !id.eq_ignore_ascii_case(authserv_id))
        })
        .take_while(|p| {
            p.as_ref()
                .is_some_and(|(id, _)| id.eq_ignore_ascii_case(authserv_id))
        })
        .flatten();
    let mut decided: Vec<String> = Vec::new();
    let mut passed = false;
    for (_, results) in trusted {
        let fresh: Vec<&MethodResult> = results
            .iter()
            .filter(|r| !decided.contains(&r.method))
            .collect();
        if fresh.iter().any(|r| r.is_fail(from_domain)) {
            return false;
        }
        passed |= fresh.iter().any(|r| r.is_pass(from_domain));
        for r in fresh {
            if !decided.contains(&r.method) {
                decided.push(r.method.clone());
            }
        }
    }
    passed
}

/// Whether the sender of `msg` may be taken at their From address: always when the config does
/// not ask for authentication, else when the trusted receiving server [`vouched`] for it.
/// Technicians' commands and approvers' decisions both go through here.
pub fn authenticated(cfg: &Config, msg: &Inbound) -> bool {
    if !cfg.security.require_authenticated_commands {
        return true;
    }
    let Some(from) = msg.from.as_ref() else {
        return false;
    };
    let Some((_, domain)) = from.email.rsplit_once('@') else {
        return false;
    };
    let id = cfg.security.authserv_id.as_deref().unwrap_or("");
    vouched(&msg.authentication_results, id, domain)
}

/// The configured technician this message comes from, if it does (and, when the config asks
/// for it, if the receiving server authenticated the sender).
pub fn technician<'c>(cfg: &'c Config, msg: &Inbound) -> Option<&'c Technician> {
    let from = msg.from.as_ref()?;
    let tech = cfg.technician(&from.email)?;
    authenticated(cfg, msg).then_some(tech)
}

/// What `loket check` prints and `loket run` logs when From addresses are taken on trust, so an
/// open door is never quiet. `None` when authentication is required.
pub fn open_door_warning(cfg: &Config) -> Option<&'static str> {
    (!cfg.security.require_authenticated_commands).then_some(
        "security.require_authenticated_commands = false: anyone who writes a technician's or \
         manager's address in From can resolve, reassign and approve tickets and have the \
         helpdesk relay their text to requesters; set it to true with security.authserv_id \
         (docs/admin-guide.md, \"Security\")",
    )
}

#[cfg(test)]
mod tests {
    use super::vouched;

    const ID: &str = "mx.example.co.id";
    const DOMAIN: &str = "example.co.id";

    fn ok(headers: &[&str]) -> bool {
        vouched(headers, ID, DOMAIN)
    }

    #[test]
    fn dkim_spf_or_dmarc_pass_from_the_trusted_server() {
        assert!(ok(&[
            "mx.example.co.id; dkim=pass (2048-bit key) header.d=example.co.id header.s=sel; spf=fail smtp.mailfrom=x@evil.test"
        ]));
        assert!(ok(&[
            "mx.example.co.id; spf=pass smtp.mailfrom=budi@mail.example.co.id"
        ]));
        assert!(ok(&[
            "MX.example.co.id 1; dmarc=pass header.from=example.co.id"
        ]));
        assert!(ok(&[
            "mx.example.co.id; dkim/1=pass header.i=@example.co.id"
        ]));
    }

    #[test]
    fn other_servers_failures_and_unaligned_domains_do_not_count() {
        assert!(!ok(&["attacker.test; dkim=pass header.d=example.co.id"]));
        assert!(!ok(&[
            "mx.example.co.id; dkim=fail header.d=example.co.id; spf=softfail smtp.mailfrom=a@example.co.id"
        ]));
        assert!(!ok(&["mx.example.co.id; dkim=pass header.d=evil.test"]));
        assert!(!ok(&[
            "mx.example.co.id; dkim=pass header.d=notexample.co.id"
        ]));
        assert!(!ok(&[""]));
        assert!(!ok(&["mx.example.co.id; none"]));
        assert!(!ok(&[]));
        assert!(!vouched(
            &["; dkim=pass header.d=example.co.id"],
            "",
            DOMAIN
        ));
    }

    /// Issue 21: the server's own header (on top) says fail; the sender wrote a pass below it
    /// with the server's id. Before, any header with the id could vouch.
    #[test]
    fn forged_pass_below_the_servers_fail_does_not_count() {
        assert!(!ok(&[
            "mx.example.co.id; dkim=fail (signature did not verify) header.d=example.co.id",
            "mx.example.co.id; dkim=pass header.d=example.co.id",
        ]));
        // Nor a failure the server did not tie to a domain.
        assert!(!ok(&[
            "mx.example.co.id; dkim=fail",
            "mx.example.co.id; dkim=pass header.d=example.co.id",
        ]));
        // Nor an aligned failure of another method in the same header as a pass.
        assert!(!ok(&[
            "mx.example.co.id; dkim=pass header.d=example.co.id; dmarc=fail header.from=example.co.id"
        ]));
    }

    #[test]
    fn the_servers_verdict_for_a_method_shadows_a_lower_one() {
        // The server found no signature; the "pass" below is the sender's.
        assert!(!ok(&[
            "mx.example.co.id; dkim=none; spf=pass smtp.mailfrom=a@evil.test",
            "mx.example.co.id; dkim=pass header.d=example.co.id",
        ]));
    }

    #[test]
    fn a_trusted_header_below_another_servers_is_the_senders() {
        assert!(!ok(&[
            "mx.example.co.id; dkim=none",
            "relay.evil.test; dkim=pass header.d=example.co.id",
            "mx.example.co.id; dkim=pass header.d=example.co.id",
        ]));
        // A server after ours (an internal relay) may write above it.
        assert!(ok(&[
            "filter.example.co.id; spam=clean",
            "mx.example.co.id; dkim=pass header.d=example.co.id",
        ]));
    }

    #[test]
    fn one_header_per_method_from_several_milters_counts() {
        // opendkim, policyd-spf and opendmarc each add their own header, all with the id.
        assert!(ok(&[
            "mx.example.co.id; dmarc=none header.from=example.co.id",
            "mx.example.co.id; spf=none smtp.mailfrom=a@example.co.id",
            "mx.example.co.id; dkim=pass header.d=example.co.id header.s=s1",
        ]));
    }

    #[test]
    fn a_failed_signature_of_another_domain_does_not_veto() {
        // A mailing list's broken signature beside the author's good one.
        assert!(ok(&[
            "mx.example.co.id; dkim=pass header.d=example.co.id; dkim=fail header.d=lists.other.test"
        ]));
    }
}
