//! Handlebars templates, per language, per kind of mail: `<kind>.subject.hbs`, `<kind>.text.hbs`
//! and `<kind>.html.hbs`. The built-in set is compiled into the binary (one file to install);
//! files in `[templates] dir` override it one by one. HTML parts escape every value; subject and
//! text parts do not (they are not HTML), and the subject is flattened to one line afterwards so
//! no value can add a header.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use anyhow::{Context, Result, bail};
use handlebars::Handlebars;
use serde::Serialize;

use crate::config::LANGUAGES;

/// Every kind of mail, with its built-in templates per language. Kinds listed with `html` have
/// a hand-written HTML part; the others get one made from their text part (`html_from_text`),
/// which an override file `<kind>.html.hbs` may still replace.
macro_rules! builtin {
    ($(($kind:literal, $html:ident)),* $(,)?) => {
        &[$(
            ($kind, "id", "subject", Some(include_str!(concat!("../../templates/id/", $kind, ".subject.hbs")))),
            ($kind, "id", "text", Some(include_str!(concat!("../../templates/id/", $kind, ".text.hbs")))),
            ($kind, "id", "html", builtin!(@html $html "id" $kind)),
            ($kind, "en", "subject", Some(include_str!(concat!("../../templates/en/", $kind, ".subject.hbs")))),
            ($kind, "en", "text", Some(include_str!(concat!("../../templates/en/", $kind, ".text.hbs")))),
            ($kind, "en", "html", builtin!(@html $html "en" $kind)),
        )*]
    };
    (@html html $lang:literal $kind:literal) => {
        Some(include_str!(concat!("../../templates/", $lang, "/", $kind, ".html.hbs")))
    };
    (@html text $lang:literal $kind:literal) => {
        None
    };
}

type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const BUILTIN: &[Builtin] = builtin![
    // To the requester.
    ("ack", html),
    ("relay", text),
    ("status", text),
    ("owner", text),
    ("level", text),
    ("resolved", text),
    ("closed", text),
    ("rejected", text),
    // To technicians.
    ("tech_new", text),
    ("tech_reply", text),
    ("tech_note", text),
    ("command_error", text),
    ("sla_warning", text),
    ("sla_breach", text),
    ("security_alert", text),
    ("approval_request", text),
    ("approval_reminder", text),
    ("approval_overdue", text),
    ("approved", text),
    ("approval_refused", text),
    // To managers (digest).
    ("digest", html),
    ("digest_monthly", text),
    // Answers to questions by mail, and the technicians' morning queue.
    ("query_answer", html),
    ("status_answer", text),
    ("morning_queue", text),
    // Service quality: ratings and merges.
    ("rating_thanks", text),
    ("low_rating", text),
    ("merged", text),
];

/// The kinds of mail there are templates for.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    let mut seen: Vec<&'static str> = Vec::new();
    for (k, ..) in BUILTIN {
        if !seen.contains(k) {
            seen.push(k);
        }
    }
    seen.into_iter()
}

/// The HTML part of a kind without an HTML template: the text, escaped, in paragraphs, so
/// clients that prefer HTML show the same words.
pub fn html_from_text(text: &str, lang: &str, title: &str) -> String {
    let esc = |s: &str| handlebars::html_escape(s);
    let mut body = String::new();
    for para in text.split("\n\n") {
        let para = para.trim_matches('\n');
        if para.trim().is_empty() {
            continue;
        }
        let lines: Vec<String> = para.lines().map(esc).collect();
        body.push_str("<p>");
        body.push_str(&lines.join("<br>\n"));
        body.push_str("</p>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family: Arial, Helvetica, sans-serif; font-size: 14px; color: #222222;\">\n\
         {body}</body></html>\n",
        esc(lang),
        esc(title)
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One template's text: an override's, else the built-in one.
struct Source {
    text: std::borrow::Cow<'static, str>,
    /// The built-in text an override replaced, to fall back on when the override does not
    /// compile in a lazy renderer.
    builtin: Option<&'static str>,
    html: bool,
}

/// The templates, compiled when first rendered (or all at once, see [`Renderer::new`]).
pub struct Renderer {
    sources: HashMap<String, Source>,
    /// Subject and text parts: no HTML escaping.
    plain: RwLock<Handlebars<'static>>,
    /// HTML parts: every `{{value}}` is escaped.
    html: RwLock<Handlebars<'static>>,
}

impl Renderer {
    /// Loads the built-in templates and the overrides from `dir`, and compiles them all now, so
    /// a broken override is reported at start, not when the first mail is due. For the daemon
    /// and `loket check`.
    pub fn new(dir: Option<&Path>) -> Result<Renderer> {
        let r = Renderer::lazy(dir)?;
        for name in r.sources.keys() {
            r.compile(name)?;
        }
        Ok(r)
    }

    /// Loads the built-in templates and the overrides from `dir`, and compiles each when it is
    /// first rendered: `loket ingest` renders one or two of the ~130 templates, and compiling
    /// them all took most of its run (start-up was 40-50 ms). An override that does not compile
    /// is logged and its built-in template used instead: the requester still gets their mail,
    /// and `loket check` names the broken file.
    pub fn lazy(dir: Option<&Path>) -> Result<Renderer> {
        let mut sources = HashMap::new();
        for (kind, lang, part, builtin) in BUILTIN {
            let name = format!("{lang}/{kind}.{part}");
            let path = dir.map(|d| d.join(lang).join(format!("{kind}.{part}.hbs")));
            let text = match path {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading template override {}", path.display()))?
                    .into(),
                _ => match builtin {
                    Some(b) => (*b).into(),
                    // Made from the text part at render time.
                    None => continue,
                },
            };
            let overridden = matches!(&text, std::borrow::Cow::Owned(_));
            let source = Source {
                text,
                builtin: builtin.filter(|_| overridden),
                html: *part == "html",
            };
            sources.insert(name, source);
        }
        let mut plain = Handlebars::new();
        plain.register_escape_fn(handlebars::no_escape);
        Ok(Renderer {
            sources,
            plain: RwLock::new(plain),
            html: RwLock::new(Handlebars::new()),
        })
    }

    fn registry(&self, html: bool) -> &RwLock<Handlebars<'static>> {
        if html { &self.html } else { &self.plain }
    }

    /// Compiles template `name` if it is not yet; an error names it.
    fn compile(&self, name: &str) -> Result<()> {
        let Some(source) = self.sources.get(name) else {
            return Ok(());
        };
        let lock = self.registry(source.html);
        if lock
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .has_template(name)
        {
            return Ok(());
        }
        let mut reg = lock.write().unwrap_or_else(|p| p.into_inner());
        reg.register_template_string(name, source.text.as_ref())
            .with_context(|| format!("template {name} does not compile"))
    }

    /// [`compile`], falling back on the built-in text when an override does not compile.
    fn ensure(&self, name: &str) -> Result<()> {
        let Err(e) = self.compile(name) else {
            return Ok(());
        };
        let Some(builtin) = self
            .sources
            .get(name)
            .and_then(|s| s.builtin.map(|b| (s.html, b)))
        else {
            return Err(e);
        };
        tracing::error!(template = name, error = %format!("{e:#}"), "template override does not compile; the built-in template is used (`loket check` names it)");
        let mut reg = self
            .registry(builtin.0)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        reg.register_template_string(name, builtin.1)
            .with_context(|| format!("built-in template {name} does not compile"))
    }

    fn part<T: Serialize>(&self, name: &str, data: &T) -> Result<Option<String>> {
        let Some(source) = self.sources.get(name) else {
            return Ok(None);
        };
        self.ensure(name)?;
        let reg = self
            .registry(source.html)
            .read()
            .unwrap_or_else(|p| p.into_inner());
        reg.render(name, data)
            .map(Some)
            .with_context(|| format!("rendering {name}"))
    }

    pub fn render<T: Serialize>(&self, kind: &str, lang: &str, data: &T) -> Result<Rendered> {
        if !LANGUAGES.contains(&lang) {
            bail!("no templates for language `{lang}`");
        }
        let name = |part: &str| format!("{lang}/{kind}.{part}");
        let required = |part: &str| -> Result<String> {
            self.part(&name(part), data)?
                .with_context(|| format!("no template {}", name(part)))
        };
        let subject = one_line(&required("subject")?);
        let text = required("text")?;
        let html = match self.part(&name("html"), data)? {
            Some(html) => html,
            None => html_from_text(&text, lang, &subject),
        };
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }
}

/// Collapses every control character and run of whitespace into one space: a subject can never
/// carry a line break into the header block.
pub fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(subject: &str, name: &str) -> serde_json::Value {
        json!({
            "helpdesk": {"name": "IT Helpdesk", "address": "helpdesk@example.test"},
            "ticket": {"tag": "HD-42", "id": 42, "subject": subject, "created_local": "23 Nov 2026 09:00 WIB"},
            "requester": {"display": name, "email": "rina@example.test"},
        })
    }

    #[test]
    fn every_kind_renders_in_every_language() {
        let r = Renderer::new(None).unwrap();
        for kind in kinds() {
            for lang in LANGUAGES {
                let out = r
                    .render(kind, lang, &data("Printer rusak", "Rina"))
                    .unwrap();
                assert!(
                    !out.subject.is_empty() && !out.text.is_empty() && !out.html.is_empty(),
                    "{kind} {lang}"
                );
            }
        }
    }

    #[test]
    fn ack_is_in_indonesian_and_english() {
        let r = Renderer::new(None).unwrap();
        let id = r
            .render("ack", "id", &data("Printer rusak", "Rina"))
            .unwrap();
        assert_eq!(id.subject, "[HD-42] Printer rusak");
        assert!(id.text.contains("nomor tiket HD-42"), "{}", id.text);
        let en = r
            .render("ack", "en", &data("Printer broken", "Rina"))
            .unwrap();
        assert!(en.text.contains("logged it as ticket HD-42"), "{}", en.text);
    }

    #[test]
    fn html_escapes_user_text_and_subject_stays_one_line() {
        let r = Renderer::new(None).unwrap();
        let out = r
            .render(
                "ack",
                "en",
                &data(
                    "<script>alert(1)</script>\r\nBcc: victim@example.com",
                    "<b>Eve</b>",
                ),
            )
            .unwrap();
        assert!(!out.html.contains("<script>"), "{}", out.html);
        assert!(out.html.contains("&lt;script&gt;"));
        assert!(!out.html.contains("<b>Eve</b>"));
        assert!(!out.subject.contains('\n') && !out.subject.contains('\r'));
    }

    #[test]
    fn override_folder_replaces_one_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en/ack.subject.hbs"),
            "Ticket {{ticket.tag}} received",
        )
        .unwrap();
        let r = Renderer::new(Some(dir.path())).unwrap();
        let out = r.render("ack", "en", &data("x", "y")).unwrap();
        assert_eq!(out.subject, "Ticket HD-42 received");
        assert!(out.text.contains("HD-42"));
    }

    #[test]
    fn broken_override_is_reported_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("id")).unwrap();
        std::fs::write(dir.path().join("id/ack.text.hbs"), "{{#if}}").unwrap();
        let err = Renderer::new(Some(dir.path())).err().unwrap();
        assert!(format!("{err:#}").contains("id/ack.text"), "{err:#}");
    }

    #[test]
    fn lazy_renderer_renders_what_the_eager_one_does() {
        let (eager, lazy) = (Renderer::new(None).unwrap(), Renderer::lazy(None).unwrap());
        for kind in kinds() {
            for lang in LANGUAGES {
                let d = data("Printer rusak", "Rina");
                assert_eq!(
                    eager.render(kind, lang, &d).unwrap(),
                    lazy.render(kind, lang, &d).unwrap(),
                    "{kind} {lang}"
                );
            }
        }
    }

    #[test]
    fn lazy_renderer_falls_back_on_the_builtin_for_a_broken_override() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("id")).unwrap();
        std::fs::write(dir.path().join("id/ack.text.hbs"), "{{#if}}").unwrap();
        std::fs::write(
            dir.path().join("id/ack.subject.hbs"),
            "Diterima: {{ticket.tag}}",
        )
        .unwrap();
        let r = Renderer::lazy(Some(dir.path())).unwrap();
        let out = r
            .render("ack", "id", &data("Printer rusak", "Rina"))
            .unwrap();
        // The good override is used, the broken one replaced by the built-in text.
        assert_eq!(out.subject, "Diterima: HD-42");
        assert!(out.text.contains("nomor tiket HD-42"), "{}", out.text);
    }
    const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>'&{{x}}";

    /// Sets `path` (dotted) in `root` to `leaf`, making objects on the way; keeps an object
    /// where a shorter path already put one.
    fn put(root: &mut serde_json::Value, path: &[&str], leaf: serde_json::Value) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let map = root.as_object_mut().unwrap();
        if rest.is_empty() {
            map.entry(first.to_string()).or_insert(leaf);
        } else {
            let child = map.entry(first.to_string()).or_insert_with(|| json!({}));
            if !child.is_object() {
                *child = json!({});
            }
            put(child, rest, leaf);
        }
    }

    /// Values for every name any template mentions, each one hostile text; every `#each` list
    /// holds one item with the same values and one hostile string (for `{{this}}`).
    fn hostile_data() -> serde_json::Value {
        let mut sources = String::new();
        for (_, _, _, source) in BUILTIN {
            sources.push_str(source.unwrap_or_default());
        }
        let path =
            regex::Regex::new(r"\{\{\{?\s*(#each|#if|#unless|#with)?\s*([A-Za-z_][\w.]*)").unwrap();
        let mut leaves = Vec::new();
        let mut lists = Vec::new();
        for c in path.captures_iter(&sources) {
            let name = c[2].to_string();
            if [
                "else", "this", "eq", "ne", "gt", "lt", "and", "or", "not", "len",
            ]
            .contains(&name.as_str())
            {
                continue;
            }
            if c.get(1).is_some_and(|m| m.as_str() == "#each") {
                lists.push(name);
            } else {
                leaves.push(name);
            }
        }
        let mut item = json!({});
        for l in &leaves {
            put(&mut item, &l.split('.').collect::<Vec<_>>(), json!(HOSTILE));
        }
        let mut root = json!({});
        for l in &lists {
            let list = json!([item.clone(), HOSTILE]);
            put(&mut root, &l.split('.').collect::<Vec<_>>(), list);
        }
        for l in &leaves {
            put(&mut root, &l.split('.').collect::<Vec<_>>(), json!(HOSTILE));
        }
        root
    }

    #[test]
    fn no_html_part_of_any_mail_carries_user_markup() {
        let r = Renderer::new(None).unwrap();
        let data = hostile_data();
        for kind in kinds() {
            for lang in LANGUAGES {
                let out = r.render(kind, lang, &data).unwrap();
                for bad in ["<script", "<img src=x", "\"><img", "onerror=", "'&"] {
                    assert!(
                        !out.html.contains(bad),
                        "{lang}/{kind}: {bad} in\n{}",
                        out.html
                    );
                }
                assert!(
                    out.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{lang}/{kind}: the hostile value is not shown at all:\n{}",
                    out.html
                );
                assert!(!out.subject.contains(['\r', '\n']));
            }
        }
    }

    #[test]
    fn html_templates_quote_every_attribute_value() {
        // Escaping keeps a value inside quotes; an unquoted attribute would let a space in the
        // value start a new attribute (onerror=...), which escaping does not stop.
        let unquoted = regex::Regex::new(r"=\s*\{\{").unwrap();
        for (kind, lang, part, source) in BUILTIN {
            if let (&"html", Some(source)) = (part, source) {
                assert!(
                    !unquoted.is_match(source),
                    "{lang}/{kind}.html has an unquoted value"
                );
                assert!(
                    !source.contains("{{{") && !source.contains("{{&"),
                    "{lang}/{kind}.html renders a value raw"
                );
            }
        }
    }
}
