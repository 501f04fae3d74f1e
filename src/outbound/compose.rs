//! Turns a rendered mail into the exact bytes the outbox keeps: headers (From the helpdesk,
//! threading headers, Auto-Submitted) and a multipart/alternative body. lettre encodes every
//! header value, so names and subjects with odd characters become encoded words, never new
//! header lines.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use super::render::{Rendered, one_line};
use crate::inbound::Address;

/// `Auto-Submitted: auto-replied` (RFC 3834) on every mail Loket sends, so that well-behaved
/// responders (and other Lokets) never answer it.
#[derive(Debug, Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `X-Loket-Ticket: HD-42`, so a person filtering mail, or a test, can tell what a mail is about.
#[derive(Debug, Clone)]
struct TicketHeader(String);

impl Header for TicketHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Loket-Ticket")
    }
    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(TicketHeader(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// A mail ready to be written to the outbox.
#[derive(Debug, Clone)]
pub struct Composed {
    pub message_id: String,
    pub envelope_from: String,
    pub rcpt: Vec<String>,
    pub raw: Vec<u8>,
}

pub struct Envelope<'a> {
    pub from_name: &'a str,
    pub from_email: &'a str,
    pub to: &'a [Address],
    pub cc: &'a [Address],
    /// Message-ID (without <>) of the mail this answers.
    pub in_reply_to: Option<&'a str>,
    /// The thread so far, oldest first (without <>).
    pub references: &'a [String],
    pub ticket_tag: Option<&'a str>,
    pub now: DateTime<Utc>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A Message-ID unique across restarts and stores: time, process and a counter.
pub fn new_message_id(domain: &str, ticket: Option<i64>) -> String {
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!(
        "loket.{}.{:x}.{:x}.{}@{}",
        ticket.unwrap_or(0),
        nanos,
        std::process::id(),
        seq,
        domain
    )
}

fn mailbox(a: &Address) -> Result<Mailbox> {
    let email = a
        .email
        .parse()
        .with_context(|| format!("`{}` is not an address mail can be sent to", a.email))?;
    let name = a.name.as_deref().map(one_line).filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, email))
}

/// The header block every mail of Loket's shares: From the helpdesk, the recipients (also
/// returned as the envelope's list), subject flattened to one line, Message-ID, Date and
/// `Auto-Submitted: <auto_submitted>`.
fn envelope_headers(
    env: &Envelope<'_>,
    subject: &str,
    message_id: &str,
    auto_submitted: &str,
) -> Result<(lettre::message::MessageBuilder, Vec<String>)> {
    let from = mailbox(&Address {
        name: Some(env.from_name.to_string()),
        email: env.from_email.to_string(),
    })?;
    let mut b = lettre::Message::builder()
        .from(from)
        .subject(one_line(subject))
        .message_id(Some(format!("<{message_id}>")))
        .date(env.now.into())
        .header(AutoSubmitted(auto_submitted.into()));
    let mut rcpt = Vec::new();
    for a in env.to {
        b = b.to(mailbox(a)?);
        rcpt.push(a.email.clone());
    }
    for a in env.cc {
        b = b.cc(mailbox(a)?);
        rcpt.push(a.email.clone());
    }
    Ok((b, rcpt))
}

pub fn compose(env: &Envelope<'_>, mail: &Rendered, message_id: String) -> Result<Composed> {
    let (mut b, mut rcpt) = envelope_headers(env, &mail.subject, &message_id, "auto-replied")?;
    if let Some(tag) = env.ticket_tag {
        b = b.header(TicketHeader(tag.to_string()));
    }
    if let Some(irt) = env.in_reply_to.filter(|s| valid_id(s)) {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    let refs: Vec<String> = env
        .references
        .iter()
        .filter(|r| valid_id(r))
        .map(|r| format!("<{r}>"))
        .collect();
    if !refs.is_empty() {
        b = b.references(refs.join(" "));
    }
    let msg = b
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .context("building the outgoing message")?;
    rcpt.dedup();
    Ok(Composed {
        message_id,
        envelope_from: env.from_email.to_string(),
        rcpt,
        raw: msg.formatted(),
    })
}

/// A Message-ID we can put back into a header: no brackets, spaces or control characters, so a
/// hostile In-Reply-To cannot break out of the header it is copied into.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 250
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>' && c != '"' && c != ',')
}

/// An image shown inside a report mail's HTML, which refers to it as `cid:<content_id>`.
pub struct Inline<'a> {
    /// Without angle brackets, e.g. `trend.2026-11-23@example.test`.
    pub content_id: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
}

/// A file attached to a report mail.
pub struct Attached<'a> {
    pub filename: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
}

/// A mail to staff that answers nothing and belongs to no ticket (the daily digest, the monthly
/// recap): `Auto-Submitted: auto-generated` (RFC 3834), text and HTML as alternatives, the HTML
/// with its inline images in multipart/related, attachments after them in multipart/mixed.
pub fn compose_report(
    env: &Envelope<'_>,
    mail: &Rendered,
    inline: &[Inline<'_>],
    attachments: &[Attached<'_>],
    message_id: String,
) -> Result<Composed> {
    use lettre::message::header::ContentType;
    use lettre::message::{Attachment, SinglePart};

    let content_type = |s: &str| {
        ContentType::parse(s).with_context(|| format!("`{s}` is not a MIME content type"))
    };
    let (b, mut rcpt) = envelope_headers(env, &mail.subject, &message_id, "auto-generated")?;
    // The plain part first: clients show the last alternative they understand.
    let alternative = MultiPart::alternative().singlepart(SinglePart::plain(mail.text.clone()));
    let alternative = if inline.is_empty() {
        alternative.singlepart(SinglePart::html(mail.html.clone()))
    } else {
        let mut related = MultiPart::related().singlepart(SinglePart::html(mail.html.clone()));
        for i in inline {
            if !valid_id(i.content_id) {
                anyhow::bail!("`{}` cannot be a Content-ID", i.content_id);
            }
            related = related.singlepart(
                Attachment::new_inline(i.content_id.to_string())
                    .body(i.data.to_vec(), content_type(i.content_type)?),
            );
        }
        alternative.multipart(related)
    };
    let body = if attachments.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for a in attachments {
            mixed = mixed.singlepart(
                Attachment::new(one_line(a.filename))
                    .body(a.data.to_vec(), content_type(a.content_type)?),
            );
        }
        mixed
    };
    let msg = b
        .multipart(body)
        .context("building the outgoing report message")?;
    rcpt.dedup();
    Ok(Composed {
        message_id,
        envelope_from: env.from_email.to_string(),
        rcpt,
        raw: msg.formatted(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(to: &'a [Address], refs: &'a [String], irt: Option<&'a str>) -> Envelope<'a> {
        Envelope {
            from_name: "IT Helpdesk",
            from_email: "helpdesk@example.test",
            to,
            cc: &[],
            in_reply_to: irt,
            references: refs,
            ticket_tag: Some("HD-1"),
            now: Utc::now(),
        }
    }

    fn rendered(subject: &str) -> Rendered {
        Rendered {
            subject: subject.into(),
            text: "halo".into(),
            html: "<p>halo</p>".into(),
        }
    }

    #[test]
    fn headers_thread_and_mark_auto_submitted() {
        let to = [Address {
            name: Some("Rina".into()),
            email: "rina@example.test".into(),
        }];
        let refs = ["a@x".to_string(), "b@y".to_string()];
        let c = compose(
            &env(&to, &refs, Some("b@y")),
            &rendered("[HD-1] Printer"),
            "id1@example.test".into(),
        )
        .unwrap();
        let raw = String::from_utf8(c.raw).unwrap();
        assert!(raw.contains("Auto-Submitted: auto-replied\r\n"), "{raw}");
        assert!(raw.contains("In-Reply-To: <b@y>\r\n"), "{raw}");
        assert!(raw.contains("References: <a@x> <b@y>\r\n"), "{raw}");
        assert!(raw.contains("Message-ID: <id1@example.test>\r\n"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        assert_eq!(c.rcpt, vec!["rina@example.test"]);
    }

    #[test]
    fn crlf_in_name_subject_or_reference_cannot_inject_headers() {
        let to = [Address {
            name: Some("Eve\r\nBcc: victim@example.com".into()),
            email: "eve@example.test".into(),
        }];
        let refs = ["x@y>\r\nBcc: <v@example.com".to_string()];
        let c = compose(
            &env(&to, &refs, Some("a\r\nBcc: v@example.com")),
            &rendered("Hi\r\nBcc: victim@example.com"),
            "id2@example.test".into(),
        )
        .unwrap();
        let raw = String::from_utf8(c.raw).unwrap();
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{headers}"
        );
        assert_eq!(c.rcpt, vec!["eve@example.test"]);
    }

    #[test]
    fn message_ids_are_unique() {
        let a = new_message_id("example.test", Some(1));
        let b = new_message_id("example.test", Some(1));
        assert_ne!(a, b);
        assert!(a.ends_with("@example.test"));
    }
    /// Header field names in a raw message's header block; panics on a line that is neither a
    /// field nor a folded continuation, or on a bare CR or LF.
    fn header_names(raw: &str) -> Vec<String> {
        let head = raw.split("\r\n\r\n").next().unwrap();
        let stripped = head.replace("\r\n", "");
        assert!(
            !stripped.contains(['\r', '\n']),
            "bare CR or LF in the header block: {head:?}"
        );
        let mut names = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                assert!(!names.is_empty(), "continuation first: {head:?}");
                continue;
            }
            let (name, _) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("{line:?} in {head:?}"));
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()),
                "{line:?}"
            );
            names.push(name.to_ascii_lowercase());
        }
        names
    }

    /// Hostile text: anything printable, plus line breaks, NUL, tabs, other controls, Unicode
    /// line separators and things that look like header lines or encoded words.
    const HOSTILE: &str = "(\\PC|\\r|\\n|\\r\\n|\\x00|\\t|\\x0b|\\x1b|\\u{85}|\\u{2028}|Bcc: v@example.com|\\\\|\\\"|<|>|,|;|@){0,60}";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn any_name_or_subject_stays_inside_its_header(name in HOSTILE, subject in HOSTILE) {
            let to = [Address { name: Some(name.clone()), email: "rina@example.test".into() }];
            let c = compose(&env(&to, &[], None), &rendered(&subject), "p@example.test".into()).unwrap();
            let raw = String::from_utf8(c.raw.clone()).unwrap();
            let mut names = header_names(&raw);
            names.sort();
            let mut want = vec![
                "auto-submitted", "content-type", "date", "from", "message-id", "mime-version",
                "subject", "to", "x-loket-ticket",
            ];
            want.sort();
            proptest::prop_assert_eq!(names, want);
            proptest::prop_assert_eq!(c.rcpt, vec!["rina@example.test".to_string()]);

            // What the recipient's client shows: the same visible text, less control characters.
            let parsed = mail_parser::MessageParser::default().parse(&c.raw).unwrap();
            proptest::prop_assert_eq!(parsed.subject().unwrap_or_default(), one_line(&subject));
            let to = parsed.to().and_then(|t| t.first()).unwrap();
            proptest::prop_assert_eq!(to.address(), Some("rina@example.test"));
            let shown = one_line(&name);
            proptest::prop_assert_eq!(to.name().unwrap_or_default(), shown.as_str());
        }
    }
}
