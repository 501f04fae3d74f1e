//! Who may act as a technician. A From address is easy to forge; with
//! `[security] require_authenticated_commands = true`, a mail counts as a technician's only when
//! the receiving server vouched for it: an `Authentication-Results` header (RFC 8601) written by
//! the configured `authserv_id` shows `dkim=pass` for the From domain, or `spf=pass` for a
//! MAIL FROM in the From domain. Headers from other servers are ignored: anyone can write one.
//! A forged technician mail is then an outsider's mail: no commands, no access to tickets.

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

/// Whether one Authentication-Results value from `authserv_id` passes DKIM or SPF aligned with
/// `from_domain`.
pub fn passes(header: &str, authserv_id: &str, from_domain: &str) -> bool {
    let clean = without_comments(header);
    let mut parts = clean.split(';');
    let Some(id) = parts
        .next()
        .and_then(|first| first.split_whitespace().next())
    else {
        return false;
    };
    if !id.eq_ignore_ascii_case(authserv_id) {
        return false;
    }
    parts.any(|result| {
        let mut words = result.split_whitespace();
        let Some((method, verdict)) = words.next().and_then(|w| w.split_once('=')) else {
            return false;
        };
        if !verdict.eq_ignore_ascii_case("pass") {
            return false;
        }
        let props: Vec<(String, String)> = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_string()))
            .collect();
        let domain_of = |v: &str| v.rsplit('@').next().unwrap_or(v).to_string();
        match method.to_ascii_lowercase().as_str() {
            "dkim" => props
                .iter()
                .filter(|(k, _)| k == "header.d" || k == "header.i")
                .any(|(_, v)| aligned(&domain_of(v), from_domain)),
            "spf" => props
                .iter()
                .filter(|(k, _)| k == "smtp.mailfrom")
                .any(|(_, v)| aligned(&domain_of(v), from_domain)),
            _ => false,
        }
    })
}

/// The configured technician this message comes from, if it does (and, when the config asks
/// for it, if the receiving server authenticated the sender).
pub fn technician<'c>(cfg: &'c Config, msg: &Inbound) -> Option<&'c Technician> {
    let from = msg.from.as_ref()?;
    let tech = cfg.technician(&from.email)?;
    if !cfg.security.require_authenticated_commands {
        return Some(tech);
    }
    let domain = from.email.rsplit('@').next().unwrap_or("");
    let id = cfg.security.authserv_id.as_deref().unwrap_or("");
    msg.authentication_results
        .iter()
        .any(|h| passes(h, id, domain))
        .then_some(tech)
}

#[cfg(test)]
mod tests {
    use super::passes;

    #[test]
    fn dkim_or_spf_pass_from_the_trusted_server() {
        let h = "mx.example.co.id; dkim=pass (2048-bit key) header.d=example.co.id header.s=sel; spf=fail smtp.mailfrom=x@evil.test";
        assert!(passes(h, "mx.example.co.id", "example.co.id"));
        let h = "mx.example.co.id; spf=pass smtp.mailfrom=budi@mail.example.co.id";
        assert!(passes(h, "mx.example.co.id", "example.co.id"));
    }

    #[test]
    fn other_servers_failures_and_unaligned_domains_do_not_count() {
        let h = "attacker.test; dkim=pass header.d=example.co.id";
        assert!(!passes(h, "mx.example.co.id", "example.co.id"));
        let h = "mx.example.co.id; dkim=fail header.d=example.co.id; spf=softfail smtp.mailfrom=a@example.co.id";
        assert!(!passes(h, "mx.example.co.id", "example.co.id"));
        let h = "mx.example.co.id; dkim=pass header.d=evil.test";
        assert!(!passes(h, "mx.example.co.id", "example.co.id"));
        let h = "mx.example.co.id; dkim=pass header.d=notexample.co.id";
        assert!(!passes(h, "mx.example.co.id", "example.co.id"));
        assert!(!passes("", "mx.example.co.id", "example.co.id"));
        assert!(!passes(
            "mx.example.co.id; none",
            "mx.example.co.id",
            "example.co.id"
        ));
    }
}
