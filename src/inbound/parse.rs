//! Raw message bytes -> an owned, normalised [`Inbound`]. mail-parser does the MIME work; this
//! module decides what Loket keeps of it: clean addresses and subject, a readable body, the
//! attachments, a loop-prevention classification and a hash that survives re-delivery.
//!
//! Like mail-parser, it degrades instead of failing: broken headers, unknown charsets and missing
//! Message-IDs become defined values. It refuses only input that is clearly not a mail at all.
//! Nothing here knows about tickets; that is `thread` and `decide`.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use mail_parser::{
    Header, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use sha2::{Digest, Sha256};

use super::{Address, Attachment, AutoKind, Inbound, RawSpan, html};

/// Why raw bytes were not turned into an [`Inbound`]. A refusal is permanent: the same bytes will
/// be refused again, so the caller should keep them aside (quarantine), not retry.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("not an e-mail message: {0}")]
    NotMail(String),
    /// mail-parser panicked on these bytes (it has debug assertions and unchecked arithmetic
    /// that malformed nesting can reach). Caught here so that one poisonous message cannot take
    /// the mailbox loop down again on every fetch.
    #[error("message could not be parsed: {0}")]
    Unparseable(String),
}

/// Header fields of which at least one must be present for the input to count as a mail. A
/// fragment with only MIME fields (Content-Type, MIME-Version) is a body part, not a message:
/// nobody can be answered and nothing can be threaded.
const MESSAGE_FIELDS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Message-ID",
    "Date",
    "In-Reply-To",
    "References",
];

/// Header fields that transport adds or rewrites on the way (trace, delivery, authentication
/// verdicts, spam scores). They are left out of the content hash so that two deliveries of the
/// same message hash the same.
const TRANSPORT_FIELDS: &[&str] = &[
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "x-delivered-to",
    "authentication-results",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
    "received-spf",
    "x-received",
];
const TRANSPORT_FIELD_PREFIXES: &[&str] = &["x-spam-", "x-virus-", "x-loket-trace"];

/// Subject fragments (lower case) of delivery failure notices, used only together with an empty
/// Return-Path: many legitimate automated mails have `<>` too (read receipts, calendar
/// replies), so the empty return path alone is not a bounce.
const DSN_SUBJECT_MARKERS: &[&str] = &[
    "undeliver",
    "undelivered mail",
    "returned mail",
    "delivery status notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "failure notice",
    "non-delivery",
    "nondeliverable",
    "could not be delivered",
    "tidak terkirim",
    "tidak dapat dikirim",
];

/// Parses one raw message. Refuses only input that is clearly not a mail: mail-parser finds no
/// header block at all, or none of the fields in [`MESSAGE_FIELDS`] is present.
pub fn parse(raw: &[u8]) -> Result<Inbound, Refusal> {
    // mail-parser drops the value of a last header field that has no line end (truncated
    // mail, header-only test input); a line end added to a copy keeps it. Offsets stay valid
    // for `raw`, and the hash and size below are taken from `raw` itself.
    let padded;
    let input: &[u8] = if raw.is_empty() || raw.ends_with(b"\n") {
        raw
    } else {
        padded = [raw, b"\n"].concat();
        &padded
    };
    let message = guarded_parse(input, false)
        .map_err(Refusal::Unparseable)?
        .ok_or_else(|| Refusal::NotMail("no header fields found".to_string()))?;
    // mail-parser's own accessors index parts[0]; going through `first()` keeps us panic-free
    // even if a future version returned an empty message.
    let headers: &[Header<'_>] = match message.parts.first() {
        Some(root) => &root.headers,
        None => return Err(Refusal::NotMail("no header fields found".to_string())),
    };
    if !MESSAGE_FIELDS
        .iter()
        .any(|field| named(headers, field).next().is_some())
    {
        return Err(Refusal::NotMail(format!(
            "none of the message header fields {} is present",
            MESSAGE_FIELDS.join(", ")
        )));
    }

    let content_hash = content_hash(raw);

    let (message_id, synthetic_message_id) = match named(headers, "Message-ID")
        .flat_map(|h| message_ids(&h.value))
        .next()
    {
        Some(id) => (id, false),
        None => (
            format!("synthetic.{}@loket.invalid", &content_hash[..32]),
            true,
        ),
    };

    let from = addresses(headers, "From").into_iter().next();
    let reply_to = addresses(headers, "Reply-To").into_iter().next();
    let to = addresses(headers, "To");
    let cc = addresses(headers, "Cc");
    let subject = named(headers, "Subject")
        .next()
        .map(|h| flatten_line(&header_text(&h.value)))
        .unwrap_or_default();
    let in_reply_to: Vec<String> = named(headers, "In-Reply-To")
        .flat_map(|h| message_ids(&h.value))
        .collect();
    let references: Vec<String> = named(headers, "References")
        .flat_map(|h| message_ids(&h.value))
        .collect();
    let date = named(headers, "Date")
        .find_map(|h| h.value.as_datetime())
        .and_then(to_utc);
    let text = body_text(&message);
    let attachments = attachments(&message);

    let auto = classify(input, headers, from.as_ref(), &subject);
    let bounce_refs = if auto == AutoKind::Bounce {
        bounce_refs(&message, &text, &in_reply_to, &references)
    } else {
        Vec::new()
    };
    let authentication_results = named(headers, "Authentication-Results")
        .map(|h| unfolded_value(input, h))
        .collect();
    let header_fields = headers
        .iter()
        .map(|h| (h.name.as_str().to_string(), unfolded_value(input, h)))
        .collect();

    Ok(Inbound {
        message_id,
        synthetic_message_id,
        from,
        reply_to,
        to,
        cc,
        subject,
        in_reply_to,
        references,
        date,
        text,
        attachments,
        auto,
        bounce_refs,
        authentication_results,
        headers: header_fields,
        content_hash,
        raw_size: raw.len(),
    })
}

/// Runs mail-parser, turning a panic inside it into an error carrying the panic message.
fn guarded_parse(input: &[u8], headers_only: bool) -> Result<Option<Message<'_>>, String> {
    std::panic::catch_unwind(|| {
        let parser = MessageParser::default();
        if headers_only {
            parser.parse_headers(input)
        } else {
            parser.parse(input)
        }
    })
    .map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "mail-parser panicked".to_string())
    })
}

/// The header fields called `name` (case-insensitive), in message order. Works the same for
/// fields mail-parser knows (its canonical spelling) and for `HeaderName::Other`.
fn named<'a, 'x>(
    headers: &'a [Header<'x>],
    name: &'a str,
) -> impl Iterator<Item = &'a Header<'x>> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
}

/// The raw value of a top-level field, unfolded (line breaks of folding removed) and trimmed.
/// Taken from the bytes rather than from mail-parser's value so that nothing is reinterpreted.
fn unfolded_value(raw: &[u8], header: &Header<'_>) -> String {
    let bytes = raw
        .get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default();
    let unfolded: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(&unfolded).trim().to_string()
}

fn header_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(" "),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Addresses, subject, identifiers, date

/// Every mailbox in all fields called `name`, groups flattened, normalised; entries that are no
/// usable address are dropped (see [`normalise_address`]).
fn addresses(headers: &[Header<'_>], name: &str) -> Vec<Address> {
    named(headers, name)
        .filter_map(|h| h.value.as_address())
        .flat_map(|list| list.iter())
        .filter_map(|addr| normalise_address(addr.name(), addr.address()))
        .collect()
}

/// Lower-cased, trimmed address with the display name cleaned. Dropped when there is no '@'
/// with something on both sides, or when whitespace or control characters remain inside: such
/// a string is no deliverable addr-spec, and a CR/LF in it could end up in an outgoing header.
fn normalise_address(name: Option<&str>, email: Option<&str>) -> Option<Address> {
    let email = email?.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let name = name.map(flatten_line).filter(|n| !n.is_empty());
    Some(Address { name, email })
}

/// One clean line: control characters (CR, LF, TAB, C1 ...) and Unicode line/paragraph
/// separators become spaces, invisible direction overrides (used to disguise text) disappear,
/// whitespace runs collapse to one space, and the ends are trimmed. Used for subjects and
/// display names, which end up in headers and log lines of our own.
fn flatten_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .filter(|&c| !is_bidi_control(c))
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}' | '\u{feff}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Message-IDs of a Message-ID/In-Reply-To/References value: without angle brackets, and without
/// whitespace that a broken folding left inside.
fn message_ids(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<&str> = match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().filter_map(clean_message_id).collect()
}

fn clean_message_id(id: &str) -> Option<String> {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    let id: String = id
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The instant a Date header names, in UTC; `None` when the fields don't form a real date
/// (mail-parser also returns values for dates it could only half read).
fn to_utc(date: &mail_parser::DateTime) -> Option<DateTime<Utc>> {
    if !date.is_valid() {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())?
        .and_hms_opt(date.hour.into(), date.minute.into(), date.second.into())?;
    let offset_secs = i32::from(date.tz_hour) * 3600 + i32::from(date.tz_minute) * 60;
    let offset = FixedOffset::east_opt(if date.tz_before_gmt {
        -offset_secs
    } else {
        offset_secs
    })?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

// ---------------------------------------------------------------------------------------------
// Body text and attachments

/// The readable body: the inline text/plain parts joined by a blank line, or, when there are
/// none with content, the HTML parts turned into text.
fn body_text(message: &Message<'_>) -> String {
    let parts_of = |ids: &[u32]| -> Vec<&MessagePart<'_>> {
        ids.iter()
            .filter_map(|&id| message.parts.get(id as usize))
            .collect()
    };
    // mail-parser also lists inline images and, for HTML-only alternatives, the HTML part among
    // `text_body`; only genuine text parts count here.
    let plain: Vec<String> = parts_of(&message.text_body)
        .into_iter()
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.to_string()),
            _ => None,
        })
        .collect();
    let plain = join_parts(plain);
    if !plain.trim().is_empty() {
        return plain;
    }

    let mut seen = Vec::new();
    let html: Vec<String> = message
        .html_body
        .iter()
        .chain(message.text_body.iter())
        .filter(|id| {
            let new = !seen.contains(*id);
            seen.push(**id);
            new
        })
        .filter_map(|&id| match &message.parts.get(id as usize)?.body {
            PartType::Html(html) => Some(html::to_text(html)),
            _ => None,
        })
        .collect();
    join_parts(html)
}

fn join_parts(parts: Vec<String>) -> String {
    parts
        .iter()
        .map(|part| normalise_body(part))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Line endings to \n; NUL and other control characters except \n and \t removed; trailing
/// whitespace and leading empty lines dropped.
fn normalise_body(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text: String = text
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect();
    text.trim_end().trim_start_matches('\n').to_string()
}

/// Every part that is not the inline body: files, inline images, nested messages (`.eml` unless
/// the sender named them),
/// and the machine-readable parts of reports.
fn attachments(message: &Message<'_>) -> Vec<Attachment> {
    let mut result = Vec::new();
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        let is_body_text = matches!(part.body, PartType::Text(_) | PartType::Html(_))
            && (message.text_body.contains(&id) || message.html_body.contains(&id));
        // A multipart whose boundary never shows up (truncated mail) comes back as a text part
        // holding nothing but line ends: a skeleton, not a file the sender attached.
        let is_empty_skeleton = part
            .content_type()
            .is_some_and(|ct| ct.ctype() == "multipart")
            && part.contents().iter().all(u8::is_ascii_whitespace);
        if is_body_text || is_empty_skeleton || matches!(part.body, PartType::Multipart(_)) {
            continue;
        }

        let number = result.len() + 1;
        let is_message =
            matches!(part.body, PartType::Message(_)) || part.is_content_type("message", "rfc822");
        let content_type = content_type_of(part, is_message);
        let name = part
            .attachment_name()
            .map(safe_file_name)
            .filter(|name| name != "attachment");
        let name = match (name, is_message) {
            // A name the sender gave with an extension of its own ("x.txt") is theirs to keep;
            // one without ("Re: printer") gets ".eml" so it opens as mail.
            (Some(name), true) if !name.contains('.') => format!("{name}.eml"),
            (Some(name), _) => name,
            (None, true) => format!("attachment-{number}.eml"),
            (None, false) => format!("attachment-{number}"),
        };
        let (start, end) = (part.offset_body as usize, part.offset_end as usize);
        let raw_body = (start < end && end <= message.raw_message.len()).then_some(RawSpan {
            start,
            end,
            base64: part.encoding == mail_parser::Encoding::Base64,
        });
        result.push(Attachment {
            // Again: ".eml" may have taken the name past the length bound.
            name: safe_file_name(&name),
            content_type,
            data: part_bytes(message, part),
            raw_body,
        });
    }
    result
}

/// "type/subtype" in lower case. Missing or unusable values get the MIME default for what the
/// part turned out to be, so the value is always a safe token pair.
fn content_type_of(part: &MessagePart<'_>, is_message: bool) -> String {
    let declared = part.content_type().and_then(|ct| {
        let subtype = ct.subtype()?;
        let is_token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
        };
        (is_token(ct.ctype()) && is_token(subtype))
            .then(|| format!("{}/{}", ct.ctype(), subtype).to_ascii_lowercase())
    });
    declared.unwrap_or_else(|| {
        match &part.body {
            _ if is_message => "message/rfc822",
            PartType::Text(_) => "text/plain",
            PartType::Html(_) => "text/html",
            _ => "application/octet-stream",
        }
        .to_string()
    })
}

/// The decoded bytes of an attachment. Text parts come back as UTF-8 (mail-parser has already
/// converted their charset); nested messages as the message bytes.
fn part_bytes(message: &Message<'_>, part: &MessagePart<'_>) -> Vec<u8> {
    match &part.body {
        PartType::Message(nested) => {
            let bytes = nested.raw_message();
            if bytes.is_empty() {
                // Fall back to the part's own span in the outer message.
                message
                    .raw_message
                    .get(part.offset_body as usize..part.offset_end as usize)
                    .unwrap_or_default()
                    .to_vec()
            } else {
                bytes.to_vec()
            }
        }
        _ => part.contents().to_vec(),
    }
}

/// Longest attachment name kept, in bytes: enough for any real file name, and under the 255
/// bytes most file systems allow, so an exported attachment can be saved under its name.
pub const MAX_FILE_NAME_BYTES: usize = 180;

/// Device names Windows reserves in every folder, with any extension ("CON.txt" too).
const WINDOWS_RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The sender's file name made safe to show, export and save: one plain name, never a path.
/// Attachments live in SQLite, not on disk, but their names reach `loket tickets`, mails to
/// technicians, and whoever saves an exported attachment under its name. So: control characters
/// and invisible direction overrides go; path separators (`/`, `\`) and the characters Windows
/// refuses (`<>:"|?*`) become `_`, so there is no folder, drive letter or `..` component left;
/// leading dots (hidden files, `..`) and trailing dots and spaces (which Windows drops) go;
/// Windows device names (CON, NUL, COM1 ...) get a `_` in front; the length is bounded at a
/// character boundary, keeping a short extension; and what is left empty becomes `attachment`.
/// Applying it twice changes nothing more.
pub fn safe_file_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .filter(|&c| !is_bidi_control(c))
        .map(|c| match c {
            '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}' | '\u{feff}') =>
            {
                ' '
            }
            c => c,
        })
        .collect();
    let mut name = mapped.split_whitespace().collect::<Vec<_>>().join(" ");
    // Trimming one end can expose the other kind of character there: repeat until stable.
    loop {
        let trimmed = name
            .trim_start_matches(['.', ' '])
            .trim_end_matches(['.', ' '])
            .to_string();
        if trimmed == name {
            break;
        }
        name = trimmed;
    }
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    if WINDOWS_RESERVED.contains(&stem.to_ascii_lowercase().as_str()) {
        name.insert(0, '_');
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        name = shorten(&name);
    }
    if name.is_empty() {
        return "attachment".to_string();
    }
    name
}

/// `name` cut to [`MAX_FILE_NAME_BYTES`] at a character boundary, keeping an extension of up
/// to 16 bytes so the file still opens with the right program.
fn shorten(name: &str) -> String {
    let ext = name
        .rfind('.')
        .map(|i| &name[i..])
        .filter(|e| e.len() <= 16 && e.len() > 1 && !e.contains(' '))
        .unwrap_or("");
    let mut end = MAX_FILE_NAME_BYTES - ext.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let stem = name[..end].trim_end_matches(['.', ' ']);
    format!("{stem}{ext}")
}

/// Bytes before the first empty line (the header block); all of `raw` when there is none.
pub fn header_block_len(raw: &[u8]) -> usize {
    if raw.starts_with(b"\n") || raw.starts_with(b"\r\n") {
        return 0;
    }
    let mut i = 0;
    while let Some(nl) = raw[i..].iter().position(|&b| b == b'\n') {
        let next = i + nl + 1;
        let rest = &raw[next..];
        if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
            return next;
        }
        i = next;
    }
    raw.len()
}

// ---------------------------------------------------------------------------------------------
// Loop prevention

/// First match wins: Bounce, AutoReply, Bulk, NoReply, else Person. The order matters because
/// bounces often also carry Auto-Submitted, and what the caller does differs (a bounce marks
/// the original recipient as unreachable; an auto-reply is only recorded).
fn classify(raw: &[u8], headers: &[Header<'_>], from: Option<&Address>, subject: &str) -> AutoKind {
    let from_local = from
        .and_then(|a| a.email.rsplit_once('@'))
        .map(|(local, _)| local)
        .unwrap_or_default();

    if is_bounce(raw, headers, from_local, subject) {
        AutoKind::Bounce
    } else if is_auto_reply(raw, headers) {
        AutoKind::AutoReply
    } else if is_bulk(raw, headers) {
        AutoKind::Bulk
    } else if is_no_reply_local_part(from_local) {
        AutoKind::NoReply
    } else {
        AutoKind::Person
    }
}

/// A delivery status report (RFC 3464), a message from the MTA's own mailboxes, or an empty
/// Return-Path together with a subject that reads like a failure notice.
fn is_bounce(raw: &[u8], headers: &[Header<'_>], from_local: &str, subject: &str) -> bool {
    let is_dsn_report = named(headers, "Content-Type")
        .filter_map(|h| h.value.as_content_type())
        .any(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
                && ct
                    .attribute("report-type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("delivery-status"))
        });
    if is_dsn_report {
        return true;
    }

    if from_local.eq_ignore_ascii_case("mailer-daemon")
        || from_local.eq_ignore_ascii_case("postmaster")
    {
        return true;
    }

    // The final Return-Path is the one the delivering server put on top.
    let null_return_path = named(headers, "Return-Path").next().is_some_and(|h| {
        unfolded_value(raw, h)
            .chars()
            .filter(|c| !c.is_whitespace())
            .eq("<>".chars())
    });
    let subject = subject.to_lowercase();
    null_return_path && DSN_SUBJECT_MARKERS.iter().any(|m| subject.contains(m))
}

/// Auto-Submitted other than "no" (RFC 3834), or the older X-Autoreply / X-Autorespond /
/// X-Autogenerated: Reply markers. X-Auto-Response-Suppress is ignored on purpose: Outlook sets
/// it on ordinary mail written by people.
fn is_auto_reply(raw: &[u8], headers: &[Header<'_>]) -> bool {
    let auto_submitted = named(headers, "Auto-Submitted").any(|h| {
        let value = unfolded_value(raw, h);
        let keyword = value.split(';').next().unwrap_or_default().trim();
        !keyword.eq_ignore_ascii_case("no")
    });
    let legacy_marker = ["X-Autoreply", "X-Autorespond"]
        .iter()
        .any(|field| named(headers, field).next().is_some());
    let autogenerated_reply = named(headers, "X-Autogenerated")
        .any(|h| unfolded_value(raw, h).eq_ignore_ascii_case("reply"));
    auto_submitted || legacy_marker || autogenerated_reply
}

/// Mailing lists and newsletters: Precedence bulk/junk/list, or any List-Id/List-Unsubscribe.
fn is_bulk(raw: &[u8], headers: &[Header<'_>]) -> bool {
    let precedence = named(headers, "Precedence").any(|h| {
        let value = unfolded_value(raw, h).to_ascii_lowercase();
        let keyword = value.split([';', ' ', '(']).next().unwrap_or_default();
        matches!(keyword, "bulk" | "junk" | "list")
    });
    precedence
        || named(headers, "List-Id").next().is_some()
        || named(headers, "List-Unsubscribe").next().is_some()
}

/// no-reply, noreply, no_reply, do-not-reply, donotreply, dont-reply and the like, also with
/// prefixes or suffixes (`noreply-abc`, `billing.noreply`, `noreply2`). Works on the words of
/// the local part so that a person such as `juno.reply@` is not caught.
fn is_no_reply_local_part(local: &str) -> bool {
    let local = local.to_ascii_lowercase();
    let words: Vec<&str> = local
        .split(['-', '_', '.', '+', '='])
        .filter(|w| !w.is_empty())
        .collect();
    const JOINED: &[&str] = &["noreply", "donotreply", "dontreply"];
    const SPLIT: &[&[&str]] = &[
        &["no", "reply"],
        &["do", "not", "reply"],
        &["donot", "reply"],
        &["do", "notreply"],
        &["dont", "reply"],
    ];
    words
        .iter()
        .any(|w| JOINED.iter().any(|j| w.starts_with(j) || w.ends_with(j)))
        || SPLIT
            .iter()
            .any(|seq| words.windows(seq.len()).any(|win| win == *seq))
}

/// Message-IDs of the original message a bounce reports on: from an embedded message/rfc822
/// (or message/global) part, from a text/rfc822-headers part, and, for MTAs that paste the
/// original into the text (qmail), from "Message-ID:" lines in the body; then the bounce's own
/// In-Reply-To and References. Deduplicated, first occurrence kept.
fn bounce_refs(
    message: &Message<'_>,
    text: &str,
    in_reply_to: &[String],
    references: &[String],
) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    for part in &message.parts {
        let embeds_headers = ["rfc822", "global", "rfc822-headers", "global-headers"]
            .iter()
            .any(|sub| part.is_content_type("message", sub))
            || part.is_content_type("text", "rfc822-headers");
        let id = match &part.body {
            PartType::Message(nested) => nested.parts.first().and_then(|root| {
                named(&root.headers, "Message-ID")
                    .flat_map(|h| message_ids(&h.value))
                    .next()
            }),
            _ if embeds_headers => message_id_in_header_block(part.contents()),
            _ => None,
        };
        refs.extend(id);
    }

    if refs.is_empty() {
        refs.extend(text.lines().filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            if !name.trim().eq_ignore_ascii_case("message-id") {
                return None;
            }
            clean_message_id(value.split_whitespace().next()?)
        }));
    }

    refs.extend(in_reply_to.iter().cloned());
    refs.extend(references.iter().cloned());

    let mut unique: Vec<String> = Vec::with_capacity(refs.len());
    for id in refs {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    unique
}

/// The Message-ID in a message's header block (`&raw[..header_block_len(raw)]`), for a message
/// quarantined unparsed (too large): what lets an administrator find it again.
pub fn header_block_message_id(header: &[u8]) -> Option<String> {
    message_id_in_header_block(header)
}

/// The Message-ID of a bare header block (text/rfc822-headers), folding and all.
fn message_id_in_header_block(bytes: &[u8]) -> Option<String> {
    let parsed = guarded_parse(bytes, true).ok().flatten()?;
    let root = parsed.parts.first()?;
    named(&root.headers, "Message-ID")
        .flat_map(|h| message_ids(&h.value))
        .next()
}

// ---------------------------------------------------------------------------------------------
// Content hash

/// Hex SHA-256 of the raw message with line endings normalised (CRLF -> LF, so a copy re-encoded
/// by a mail store hashes the same) and the transport fields of the top-level header removed,
/// continuation lines included. Works on bytes: the header is not necessarily UTF-8.
fn content_hash(raw: &[u8]) -> String {
    let normalised = crlf_to_lf(raw);
    let mut hasher = Sha256::new();
    let mut pos = 0;
    let mut skipping = false;

    while pos < normalised.len() {
        let line_end = normalised[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(normalised.len(), |i| pos + i + 1);
        let line = &normalised[pos..line_end];

        if line == b"\n" {
            // First empty line: the rest is the body, hashed as is but for trailing line breaks,
            // which transports add to mail that lacks a final one.
            let body = &normalised[pos..];
            let end = body.iter().rposition(|&b| b != b'\n').map_or(0, |i| i + 1);
            hasher.update(&body[..end]);
            break;
        }
        let is_continuation = matches!(line.first(), Some(b' ') | Some(b'\t'));
        if !is_continuation {
            skipping = is_transport_field(line);
        }
        if !skipping {
            hasher.update(line);
        }
        pos = line_end;
    }

    hex::encode(hasher.finalize())
}

fn crlf_to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

fn is_transport_field(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = line[..colon].trim_ascii().to_ascii_lowercase();
    TRANSPORT_FIELDS.iter().any(|f| name == f.as_bytes())
        || TRANSPORT_FIELD_PREFIXES
            .iter()
            .any(|p| name.starts_with(p.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(raw: &str) -> Inbound {
        match parse(raw.as_bytes()) {
            Ok(inbound) => inbound,
            Err(refusal) => panic!("refused: {refusal}"),
        }
    }

    const SIMPLE: &str = "From: Budi <budi@example.co.id>\r\n\
        To: helpdesk@example.co.id\r\n\
        Subject: Printer macet\r\n\
        Date: Tue, 17 Nov 2026 09:14:22 +0700\r\n\
        Message-ID: <abc@example.co.id>\r\n\
        \r\n\
        Printer lantai 2 macet.\r\n";

    #[test]
    fn simple_mail_is_parsed_and_normalised() {
        let m = parse_ok(SIMPLE);
        assert_eq!(m.message_id, "abc@example.co.id");
        assert!(!m.synthetic_message_id);
        assert_eq!(
            m.from,
            Some(Address {
                name: Some("Budi".into()),
                email: "budi@example.co.id".into()
            })
        );
        assert_eq!(m.subject, "Printer macet");
        assert_eq!(m.text, "Printer lantai 2 macet.");
        assert_eq!(m.auto, AutoKind::Person);
        assert_eq!(m.raw_size, SIMPLE.len());
        assert_eq!(
            m.date.map(|d| d.to_rfc3339()),
            Some("2026-11-17T02:14:22+00:00".to_string())
        );
    }

    #[test]
    fn missing_message_id_gets_stable_synthetic_id() {
        let raw = "From: a@example.org\nSubject: tanpa id\n\nisi\n";
        let first = parse_ok(raw);
        let second = parse_ok(raw);
        assert!(first.synthetic_message_id);
        assert_eq!(first.message_id, second.message_id);
        assert_eq!(
            first.message_id,
            format!("synthetic.{}@loket.invalid", &first.content_hash[..32])
        );
    }

    #[test]
    fn empty_message_id_gets_synthetic_id() {
        let m = parse_ok("From: a@example.org\nMessage-ID: <>\nSubject: x\n\nisi\n");
        assert!(m.synthetic_message_id);
        assert!(m.message_id.starts_with("synthetic."));
    }

    #[test]
    fn trace_headers_do_not_change_content_hash() {
        let delivered = format!(
            "Return-Path: <budi@example.co.id>\r\n\
             Received: from mx.example.co.id\r\n\
             \tby mail.example.co.id; Tue, 17 Nov 2026 09:14:23 +0700\r\n\
             Delivered-To: helpdesk@example.co.id\r\n\
             Authentication-Results: mail.example.co.id;\r\n spf=pass\r\n\
             ARC-Seal: i=1; a=rsa-sha256; cv=none\r\n\
             X-Spam-Score: 0.1\r\n\
             X-Virus-Scanned: clamav\r\n\
             X-Loket-Trace: 42\r\n\
             {SIMPLE}"
        );
        assert_eq!(
            parse_ok(SIMPLE).content_hash,
            parse_ok(&delivered).content_hash
        );
    }

    #[test]
    fn trailing_line_breaks_do_not_change_content_hash() {
        let more = format!("{SIMPLE}\r\n\r\n");
        assert_eq!(parse_ok(SIMPLE).content_hash, parse_ok(&more).content_hash);
        let other = SIMPLE.replacen("\r\n\r\n", "\r\n\r\nX", 1);
        assert_ne!(parse_ok(SIMPLE).content_hash, parse_ok(&other).content_hash);
    }

    #[test]
    fn line_endings_do_not_change_content_hash() {
        let lf = SIMPLE.replace("\r\n", "\n");
        assert_eq!(parse_ok(SIMPLE).content_hash, parse_ok(&lf).content_hash);
    }

    #[test]
    fn different_body_same_message_id_hashes_differently() {
        let other = SIMPLE.replace("Printer lantai 2 macet.", "Printer lantai 3 macet.");
        let (a, b) = (parse_ok(SIMPLE), parse_ok(&other));
        assert_eq!(a.message_id, b.message_id);
        assert_ne!(a.content_hash, b.content_hash);
    }

    #[test]
    fn header_named_like_a_trace_field_in_the_body_is_hashed() {
        let with_body_line = SIMPLE.replace("Printer lantai", "Received: x\r\nPrinter lantai");
        assert_ne!(
            parse_ok(SIMPLE).content_hash,
            parse_ok(&with_body_line).content_hash
        );
    }

    #[test]
    fn crlf_in_encoded_subject_is_flattened() {
        let m = parse_ok(
            "From: \"Evil =?UTF-8?Q?Name=0D=0ABcc:_victim@example.org?=\" <x@example.org>\n\
             Subject: =?UTF-8?Q?Tolong=0D=0ABcc:_all@example.co.id?=\t<b>\u{2028}ok\n\n.\n",
        );
        assert_eq!(m.subject, "Tolong Bcc: all@example.co.id <b> ok");
        let name = m.from.and_then(|a| a.name).unwrap_or_default();
        assert!(!name.contains(['\r', '\n']), "{name:?}");
    }

    #[test]
    fn addresses_are_lowercased_groups_flattened_and_invalid_dropped() {
        let m = parse_ok(
            "From: \"  \" <  Budi@Example.CO.ID >\n\
             To: Tim: a@x.org, B@X.org;, broken-entry, c@y.org\n\
             Cc: undisclosed-recipients:;\n\
             Subject: x\n\n.\n",
        );
        assert_eq!(
            m.from,
            Some(Address {
                name: None,
                email: "budi@example.co.id".into()
            })
        );
        let to: Vec<&str> = m.to.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(to, ["a@x.org", "b@x.org", "c@y.org"]);
        assert!(m.cc.is_empty());
    }

    #[test]
    fn references_and_in_reply_to_lose_angle_brackets() {
        let m = parse_ok(
            "From: a@x.org\nIn-Reply-To: <loket.1.a@x.org>\n\
             References: <r1@x.org>\n <r2@x.org>\nReferences: <r3@x.org>\n\n.\n",
        );
        assert_eq!(m.in_reply_to, ["loket.1.a@x.org"]);
        assert_eq!(m.references, ["r1@x.org", "r2@x.org", "r3@x.org"]);
    }

    #[test]
    fn invalid_date_becomes_none() {
        let m = parse_ok("From: a@x.org\nDate: kemarin sore\nSubject: x\n\n.\n");
        assert_eq!(m.date, None);
    }

    #[test]
    fn out_of_office_is_auto_reply() {
        let m = parse_ok(
            "From: Dewi <dewi@example.co.id>\nSubject: Balasan Otomatis: x\n\
             Auto-Submitted: Auto-Replied; owner-email=dewi@example.co.id\n\n.\n",
        );
        assert_eq!(m.auto, AutoKind::AutoReply);
    }

    #[test]
    fn auto_submitted_no_is_a_person() {
        let m = parse_ok("From: a@x.org\nAuto-Submitted: No\nSubject: x\n\n.\n");
        assert_eq!(m.auto, AutoKind::Person);
    }

    #[test]
    fn legacy_autoreply_headers_are_auto_reply() {
        for header in [
            "X-Autoreply: yes",
            "X-Autorespond: 1",
            "X-Autogenerated: Reply",
        ] {
            let m = parse_ok(&format!("From: a@x.org\n{header}\nSubject: x\n\n.\n"));
            assert_eq!(m.auto, AutoKind::AutoReply, "{header}");
        }
    }

    #[test]
    fn outlook_response_suppress_alone_is_a_person() {
        let m = parse_ok("From: a@x.org\nX-Auto-Response-Suppress: All\nSubject: x\n\n.\n");
        assert_eq!(m.auto, AutoKind::Person);
    }

    #[test]
    fn list_mail_is_bulk() {
        for header in [
            "Precedence: bulk",
            "Precedence: LIST",
            "List-Id: <it.example.co.id>",
            "List-Unsubscribe: <mailto:u@x.org>",
        ] {
            let m = parse_ok(&format!("From: a@x.org\n{header}\nSubject: x\n\n.\n"));
            assert_eq!(m.auto, AutoKind::Bulk, "{header}");
        }
    }

    #[test]
    fn no_reply_senders_are_recognised() {
        for from in [
            "no-reply@x.org",
            "NoReply@x.org",
            "do-not-reply@x.org",
            "donotreply@x.org",
            "noreply-abc@x.org",
            "billing.noreply@x.org",
            "no_reply@x.org",
            "noreply2@x.org",
        ] {
            let m = parse_ok(&format!("From: {from}\nSubject: x\n\n.\n"));
            assert_eq!(m.auto, AutoKind::NoReply, "{from}");
        }
        let m = parse_ok("From: juno.reply@x.org\nSubject: x\n\n.\n");
        assert_eq!(m.auto, AutoKind::Person);
    }

    const DSN: &str = "From: MAILER-DAEMON@mail.example.co.id (Mail Delivery System)\n\
        To: helpdesk@example.co.id\n\
        Subject: Undelivered Mail Returned to Sender\n\
        Message-Id: <bounce-1@mail.example.co.id>\n\
        Auto-Submitted: auto-replied\n\
        MIME-Version: 1.0\n\
        Content-Type: multipart/report; report-type=Delivery-Status;\n\
        \tboundary=\"b\"\n\
        \n\
        --b\n\
        Content-Type: text/plain\n\
        \n\
        Your message could not be delivered.\n\
        --b\n\
        Content-Type: message/delivery-status\n\
        \n\
        Reporting-MTA: dns; mail.example.co.id\n\
        \n\
        Final-Recipient: rfc822; budi@example.co.id\n\
        Action: failed\n\
        Status: 5.1.1\n\
        --b\n\
        Content-Type: text/rfc822-headers\n\
        \n\
        From: helpdesk@example.co.id\n\
        Subject: [HD-1] diterima\n\
        Message-ID:\n <loket.1.1.aa@example.co.id>\n\
        \n\
        --b--\n";

    #[test]
    fn dsn_is_bounce_with_original_message_id() {
        let m = parse_ok(DSN);
        assert_eq!(m.auto, AutoKind::Bounce);
        assert_eq!(m.bounce_refs, ["loket.1.1.aa@example.co.id"]);
        assert_eq!(m.text, "Your message could not be delivered.");
    }

    #[test]
    fn dsn_with_embedded_message_and_references_lists_each_id_once() {
        let raw = "From: postmaster@x.org\nSubject: failure\nIn-Reply-To: <orig@y.org>\n\
            References: <earlier@y.org> <orig@y.org>\n\
            Content-Type: multipart/mixed; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\n\nfailed\n\
            --b\nContent-Type: message/rfc822\n\n\
            From: y@y.org\nMessage-ID: <orig@y.org>\nSubject: hi\n\nhello\n\
            --b--\n";
        let m = parse_ok(raw);
        assert_eq!(m.auto, AutoKind::Bounce);
        assert_eq!(m.bounce_refs, ["orig@y.org", "earlier@y.org"]);
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "attachment-1.eml");
        assert_eq!(m.attachments[0].content_type, "message/rfc822");
        let eml = String::from_utf8_lossy(&m.attachments[0].data).to_string();
        assert!(eml.contains("Message-ID: <orig@y.org>"), "{eml}");
    }

    #[test]
    fn empty_return_path_alone_is_not_a_bounce() {
        let m = parse_ok("Return-Path: <>\nFrom: a@x.org\nSubject: Read: laporan\n\n.\n");
        assert_eq!(m.auto, AutoKind::Person);
        let m = parse_ok(
            "Return-Path: < >\nFrom: a@x.org\nSubject: Delivery Status Notification (Failure)\n\n.\n",
        );
        assert_eq!(m.auto, AutoKind::Bounce);
    }

    #[test]
    fn bounce_wins_over_auto_submitted() {
        // The DSN above also carries Auto-Submitted: auto-replied.
        assert_eq!(parse_ok(DSN).auto, AutoKind::Bounce);
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let m = parse_ok(
            "From: a@x.org\nSubject: x\nContent-Type: text/html; charset=utf-8\n\n\
             <html><head><style>p{}</style></head><body><p>Halo&nbsp;tim</p>\
             <script>alert(1)</script><ul><li>satu</li></ul></body></html>\n",
        );
        assert_eq!(m.text, "Halo tim\n\n- satu");
    }

    #[test]
    fn plain_text_is_preferred_over_html() {
        let m = parse_ok(
            "From: a@x.org\nSubject: x\nContent-Type: multipart/alternative; boundary=b\n\n\
             --b\nContent-Type: text/plain\n\nteks biasa\n\
             --b\nContent-Type: text/html\n\n<p>teks html</p>\n--b--\n",
        );
        assert_eq!(m.text, "teks biasa");
    }

    #[test]
    fn several_inline_text_parts_are_joined_with_a_blank_line() {
        let m = parse_ok(
            "From: a@x.org\nSubject: x\nContent-Type: multipart/mixed; boundary=b\n\n\
             --b\nContent-Type: text/plain\n\nbagian satu\r\n\
             --b\nContent-Type: application/pdf; name=a.pdf\n\n%PDF\n\
             --b\nContent-Type: text/plain\n\nbagian dua\n--b--\n",
        );
        assert_eq!(m.text, "bagian satu\n\nbagian dua");
        assert_eq!(m.attachments.len(), 1);
    }

    #[test]
    fn body_control_characters_are_removed() {
        let m = parse_ok("From: a@x.org\nSubject: x\n\nsatu\r\ndua\rtiga\0\x07\tempat\n");
        assert_eq!(m.text, "satu\ndua\ntiga\tempat");
    }

    #[test]
    fn rfc2231_attachment_name_is_decoded() {
        let m = parse_ok(
            "From: a@x.org\nSubject: x\nContent-Type: multipart/mixed; boundary=b\n\n\
             --b\nContent-Type: text/plain\n\nterlampir\n\
             --b\nContent-Type: application/pdf\n\
             Content-Disposition: attachment; filename*=UTF-8''Formulir%20VPN%20%E2%80%93%20Siti.pdf\n\
             Content-Transfer-Encoding: base64\n\nJVBERg==\n--b--\n",
        );
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "Formulir VPN \u{2013} Siti.pdf");
        assert_eq!(m.attachments[0].content_type, "application/pdf");
        assert_eq!(m.attachments[0].data, b"%PDF");
    }

    #[test]
    fn encoded_word_attachment_name_is_decoded() {
        let m = parse_ok(
            "From: a@x.org\nSubject: x\nContent-Type: multipart/mixed; boundary=b\n\n\
             --b\nContent-Type: text/plain\n\n.\n\
             --b\nContent-Type: application/octet-stream; name=\"=?UTF-8?B?TGFwb3JhbiDinJMudHh0?=\"\n\n\
             data\n--b--\n",
        );
        assert_eq!(m.attachments[0].name, "Laporan \u{2713}.txt");
    }

    #[test]
    fn nameless_attachment_gets_a_generated_name() {
        let m = parse_ok(
            "From: a@x.org\nSubject: x\nContent-Type: multipart/mixed; boundary=b\n\n\
             --b\nContent-Type: text/plain\n\n.\n\
             --b\nContent-Type: application/zip\nContent-Disposition: attachment\n\nPK\n--b--\n",
        );
        assert_eq!(m.attachments[0].name, "attachment-1");
        assert_eq!(m.attachments[0].content_type, "application/zip");
    }

    #[test]
    fn authentication_results_are_kept_unfolded() {
        let m = parse_ok(
            "Authentication-Results: mx.example.co.id;\r\n\tspf=pass smtp.mailfrom=x.org;\r\n\tdkim=pass\r\n\
             From: a@x.org\r\nSubject: x\r\n\r\n.\r\n",
        );
        assert_eq!(
            m.authentication_results,
            ["mx.example.co.id;\tspf=pass smtp.mailfrom=x.org;\tdkim=pass"]
        );
    }

    #[test]
    fn text_without_mail_headers_is_refused() {
        for raw in [
            &b""[..],
            b"# Mail corpus\n\nJust a README.\n",
            b"Content-Type: text/plain\n\nonly a MIME fragment\n",
            b"\x00\x01\x02\xff\xfe binary",
        ] {
            assert!(matches!(parse(raw), Err(Refusal::NotMail(_))), "{raw:?}");
        }
    }

    #[test]
    fn mail_parser_panic_is_a_refusal_not_a_crash() {
        // Found by mutating the corpus: mail-parser 0.11.9 subtracts past zero on this nesting
        // (message.rs, `pos - 2`), which panics in builds with overflow checks (tests, debug).
        let raw = b"From: a@x.org\nContent-Type:multipart;boundary=BOUND\n\n\
            --BOUNDContent-Type:message/rfc822\n\nContent-Type:message/rfc822\n\n\n--BOUND--";
        match parse(raw) {
            Ok(_) | Err(Refusal::Unparseable(_)) => {}
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }

    #[test]
    fn header_only_mail_is_accepted() {
        let m = parse_ok("Subject: hanya subjek");
        assert_eq!(m.subject, "hanya subjek");
        assert_eq!(m.text, "");
    }

    #[test]
    fn non_utf8_headers_do_not_fail() {
        let raw = b"From: \xe9t\xe9 <a@x.org>\nSubject: caf\xe9 =?x-unknown?Q?abc?=\n\n\xff\xfe\n";
        let m = parse(raw).map_err(|e| e.to_string());
        assert!(m.is_ok(), "{m:?}");
    }
    #[test]
    fn file_names_are_made_safe() {
        let long = format!("{}.pdf", "a".repeat(300));
        let cases: &[(&str, &str)] = &[
            ("report.pdf", "report.pdf"),
            ("Laporan Q3 2026.xlsx", "Laporan Q3 2026.xlsx"),
            ("../../etc/passwd", "_.._etc_passwd"),
            ("..\\..\\windows\\system32", "_.._windows_system32"),
            ("/etc/shadow", "_etc_shadow"),
            ("C:\\Users\\rina\\a.doc", "C__Users_rina_a.doc"),
            ("..", "attachment"),
            (".", "attachment"),
            (".bashrc", "bashrc"),
            ("a\0b\r\nc.txt", "a b c.txt"),
            ("tab\there.txt", "tab here.txt"),
            ("\u{202e}fdp.exe", "fdp.exe"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("Com1.log", "_Com1.log"),
            ("lpt9", "_lpt9"),
            ("console.txt", "console.txt"),
            ("name. . .", "name"),
            ("what?<>|*\"x\".txt", "what______x_.txt"),
            ("", "attachment"),
            ("   ", "attachment"),
            ("\u{0}\u{0}", "attachment"),
        ];
        for (input, want) in cases {
            assert_eq!(safe_file_name(input), *want, "{input:?}");
        }
        let cut = safe_file_name(&long);
        assert_eq!(cut.len(), MAX_FILE_NAME_BYTES);
        assert!(cut.ends_with(".pdf"), "{cut}");
        let wide = safe_file_name(&"é".repeat(200));
        assert!(wide.len() <= MAX_FILE_NAME_BYTES && wide.chars().all(|c| c == 'é'));
    }

    #[test]
    fn attachment_names_from_mail_are_safe() {
        let raw = "From: a@x.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
            --B\r\nContent-Type: application/pdf\r\n\
            Content-Disposition: attachment; filename=\"=?utf-8?Q?..=2F..=2Fetc=2Fpasswd=00?=\"\r\n\r\n%PDF\r\n\
            --B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"AUX.pdf\"\r\n\r\n%PDF\r\n--B--\r\n";
        let m = parse_ok(raw);
        let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["_.._etc_passwd", "_AUX.pdf"]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn safe_file_name_holds_its_promises(name in "(\\PC|[/\\\\.:\\x00-\\x1f ]){0,300}") {
            let safe = safe_file_name(&name);
            proptest::prop_assert!(!safe.is_empty());
            proptest::prop_assert!(safe.len() <= MAX_FILE_NAME_BYTES);
            proptest::prop_assert!(!safe.contains(['/', '\\', ':', '\0']));
            proptest::prop_assert!(!safe.chars().any(char::is_control));
            proptest::prop_assert!(!safe.starts_with('.') && !safe.ends_with('.'));
            proptest::prop_assert!(safe.trim() == safe);
            let stem = safe.split('.').next().unwrap_or_default().trim_end().to_ascii_lowercase();
            proptest::prop_assert!(!WINDOWS_RESERVED.contains(&stem.as_str()));
            proptest::prop_assert_eq!(safe_file_name(&safe), safe.clone(), "not idempotent");
        }

        #[test]
        fn plain_names_stay_as_they_are(name in "[A-Za-z0-9_-]{1,60}(\\.[a-z]{1,4})?") {
            let stem = name.split('.').next().unwrap_or_default().to_ascii_lowercase();
            proptest::prop_assume!(!WINDOWS_RESERVED.contains(&stem.as_str()));
            proptest::prop_assert_eq!(safe_file_name(&name), name);
        }
    }
}
