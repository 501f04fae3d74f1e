//! Turns an HTML mail body into readable plain text for tickets, when a message has no text/plain
//! part. Deliberately small and dependency-free: it drops what a reader never sees (scripts,
//! styles, the head, comments), keeps the line structure, and never fails on broken markup.
//!
//! Scanning works on byte offsets of ASCII delimiters (`<`, `>`, `&`, `;`) only, so every slice
//! starts and ends on a UTF-8 character boundary whatever the surrounding text is.

/// Converts HTML to text: block elements become line breaks (`<li>` as "- "), entities are
/// decoded, runs of spaces collapse, at most one blank line in a row, trimmed.
pub fn to_text(html: &str) -> String {
    let mut out = Output::default();
    let bytes = html.as_bytes();
    let mut pos = 0;

    while pos < bytes.len() {
        match bytes[pos] {
            b'<' => pos = handle_markup(html, pos, &mut out),
            b'&' => {
                let (decoded, used) = decode_entity(&html[pos..]);
                out.push_text(&decoded);
                pos += used;
            }
            _ => {
                // Copy the run of plain text up to the next delimiter in one go.
                let end = html[pos..]
                    .find(['<', '&'])
                    .map_or(html.len(), |offset| pos + offset);
                out.push_text(&html[pos..end]);
                pos = end;
            }
        }
    }

    out.finish()
}

/// Collects text while tracking whether we are inside `<pre>`, where source line breaks are
/// content rather than layout whitespace.
#[derive(Default)]
struct Output {
    buf: String,
    pre_depth: usize,
}

impl Output {
    fn push_text(&mut self, text: &str) {
        for ch in text.chars() {
            match ch {
                '\r' => {}
                '\n' if self.pre_depth > 0 => self.buf.push('\n'),
                // Outside <pre>, source whitespace (and the no-break space, which only exists
                // to stop wrapping) is just a separator; collapsing happens in `finish`.
                '\n' | '\t' | '\u{a0}' => self.buf.push(' '),
                _ => self.buf.push(ch),
            }
        }
    }

    /// `<br>`: always a new line, so that `<br><br>` gives the blank line the writer meant.
    fn hard_break(&mut self) {
        self.buf.push('\n');
    }

    /// Block boundaries: start a new line unless we already are at one, so that nested or
    /// adjacent blocks (`</td></tr><tr>`, `</div><div>`) don't stack up empty lines.
    fn line_break(&mut self) {
        self.ensure_newlines(1);
    }

    /// Paragraphs and headings stand apart from their neighbours by one blank line.
    fn paragraph_break(&mut self) {
        self.ensure_newlines(2);
    }

    fn ensure_newlines(&mut self, wanted: usize) {
        let trailing = self.buf.trim_end_matches(' ');
        if trailing.is_empty() {
            return;
        }
        let have = trailing.len() - trailing.trim_end_matches('\n').len();
        for _ in have..wanted {
            self.buf.push('\n');
        }
    }

    /// Collapses spaces inside lines, trims lines, keeps at most one blank line in a row and
    /// trims the whole text.
    fn finish(self) -> String {
        let mut result = String::with_capacity(self.buf.len());
        let mut blank_run = 0;
        for line in self.buf.split('\n') {
            let line = collapse_spaces(line);
            if line.is_empty() {
                blank_run += 1;
                continue;
            }
            if !result.is_empty() {
                result.push('\n');
                if blank_run > 0 {
                    result.push('\n');
                }
            }
            blank_run = 0;
            result.push_str(&line);
        }
        result
    }
}

fn collapse_spaces(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Handles whatever starts with `<` at `pos` and returns the position to continue from.
fn handle_markup(html: &str, pos: usize, out: &mut Output) -> usize {
    let rest = &html[pos..];

    if rest.starts_with("<!--") {
        // An unterminated comment hides the rest of the document in a browser too.
        return rest[4..]
            .find("-->")
            .map_or(html.len(), |end| pos + 4 + end + 3);
    }

    let second = rest.as_bytes().get(1).copied();
    match second {
        Some(b'!') | Some(b'?') => {
            // <!DOCTYPE ...>, <![CDATA[...]]> and <?xml ...?>: nothing a reader sees.
            return rest.find('>').map_or(html.len(), |end| pos + end + 1);
        }
        Some(ch) if ch.is_ascii_alphabetic() || ch == b'/' => {}
        // A stray '<' (as in "a < b") is text, not markup.
        _ => {
            out.push_text("<");
            return pos + 1;
        }
    }

    let Some(tag_len) = tag_length(rest) else {
        // A tag that never closes is dropped, like a browser does at end of input.
        return html.len();
    };
    let tag = &rest[..tag_len];
    let end = pos + tag_len;
    let closing = tag.as_bytes().get(1) == Some(&b'/');
    let name = tag_name(tag);

    match name.as_str() {
        // Only an opening tag starts hidden content; a stray closing tag must not swallow text.
        "script" | "style" | "title" | "template" if !closing => skip_element(html, end, &name),
        "head" if !closing => {
            // Skip the head only when its end is recognisable; otherwise broken mail with an
            // unclosed <head> would lose its whole body.
            let closing_head = find_ascii_ci(&html[end..], "</head");
            let body = find_ascii_ci(&html[end..], "<body");
            match (closing_head, body) {
                (Some(a), Some(b)) => end + a.min(b),
                (Some(a), None) | (None, Some(a)) => end + a,
                (None, None) => end,
            }
        }
        "br" => {
            out.hard_break();
            end
        }
        "div" | "tr" | "table" | "ul" | "ol" | "blockquote" | "hr" | "dd" | "dt" | "section"
        | "article" | "header" | "footer" | "center" | "address" => {
            out.line_break();
            end
        }
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            out.paragraph_break();
            end
        }
        "pre" => {
            out.line_break();
            if closing {
                out.pre_depth = out.pre_depth.saturating_sub(1);
            } else {
                out.pre_depth += 1;
            }
            end
        }
        "li" => {
            if !closing {
                out.line_break();
                out.buf.push_str("- ");
            }
            end
        }
        // Table cells side by side would otherwise run their words together.
        "td" | "th" if closing => {
            out.buf.push(' ');
            end
        }
        _ => end,
    }
}

/// Length of the tag at the start of `rest` up to and including its `>`, honouring quoted
/// attribute values. When quotes are unbalanced, falls back to the first `>`.
fn tag_length(rest: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in rest.as_bytes().iter().enumerate() {
        match (quote, b) {
            (None, b'"') | (None, b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(i + 1),
            _ => {}
        }
    }
    rest.find('>').map(|i| i + 1)
}

/// Lower-cased element name of a tag such as `</DIV >` or `<br/>`.
fn tag_name(tag: &str) -> String {
    tag.trim_start_matches('<')
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Skips the content of an element whose text is never shown (script, style ...) and returns
/// the position after its closing tag; an unclosed one swallows the rest of the input.
fn skip_element(html: &str, from: usize, name: &str) -> usize {
    let closing = format!("</{name}");
    match find_ascii_ci(&html[from..], &closing) {
        Some(offset) => {
            let start = from + offset;
            html[start..]
                .find('>')
                .map_or(html.len(), |end| start + end + 1)
        }
        None => html.len(),
    }
}

/// Case-insensitive search for an ASCII needle. The needle starts with an ASCII byte, so the
/// returned offset is always on a character boundary.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let hay = haystack.as_bytes();
    let needle = needle.as_bytes();
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// Decodes the entity at the start of `rest` (which starts with '&'). Returns the text and the
/// number of bytes consumed; anything unrecognised stays literal.
fn decode_entity(rest: &str) -> (String, usize) {
    // The longest HTML5 name, `&CounterClockwiseContourIntegral;`, is 33 bytes.
    const MAX_ENTITY_LEN: usize = 33;
    let literal = ("&".to_string(), 1);

    let Some(semi) = rest
        .as_bytes()
        .iter()
        .take(MAX_ENTITY_LEN)
        .position(|&b| b == b';')
    else {
        return literal;
    };
    let body = &rest[1..semi];
    let used = semi + 1;

    if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        return match code {
            Some(code) => {
                // NUL, surrogates and out-of-range values become the replacement character.
                let ch = char::from_u32(code)
                    .filter(|&c| c != '\0')
                    .unwrap_or('\u{fffd}');
                (ch.to_string(), used)
            }
            None => literal,
        };
    }

    let named = match body {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => " ",
        "ndash" => "\u{2013}",
        "mdash" => "\u{2014}",
        "hellip" => "\u{2026}",
        "lsquo" => "\u{2018}",
        "rsquo" => "\u{2019}",
        "ldquo" => "\u{201c}",
        "rdquo" => "\u{201d}",
        "laquo" => "\u{ab}",
        "raquo" => "\u{bb}",
        "bull" => "\u{2022}",
        "middot" => "\u{b7}",
        "copy" => "\u{a9}",
        "reg" => "\u{ae}",
        "trade" => "\u{2122}",
        "euro" => "\u{20ac}",
        "shy" | "zwj" | "zwnj" => "",
        // Every other HTML5 name (`&ouml;`, `&szlig;`, `&eacute;` ...) from the full table.
        _ => {
            let entity = &rest[..used];
            let decoded = html_escape::decode_html_entities(entity);
            return if decoded != entity {
                (decoded.into_owned(), used)
            } else {
                literal
            };
        }
    };
    (named.to_string(), used)
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn scripts_styles_head_and_comments_are_dropped() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><!-- secret --><p>Halo</p><script>alert('x<y')</script></body></html>";
        assert_eq!(to_text(html), "Halo");
    }

    #[test]
    fn block_elements_become_line_breaks() {
        let html = "<div>Satu</div><div>Dua<br>Tiga</div><p>Empat</p><h1>Lima</h1><hr>Enam";
        assert_eq!(to_text(html), "Satu\nDua\nTiga\n\nEmpat\n\nLima\n\nEnam");
    }

    #[test]
    fn list_items_become_dashes() {
        assert_eq!(
            to_text("<ul><li>printer</li><li>VPN</li></ul>"),
            "- printer\n- VPN"
        );
    }

    #[test]
    fn table_rows_are_lines_and_cells_are_separated() {
        let html =
            "<table><tr><td>Nama</td><td>Budi</td></tr><tr><td>Unit</td><td>TI</td></tr></table>";
        assert_eq!(to_text(html), "Nama Budi\nUnit TI");
    }

    #[test]
    fn entities_are_decoded_once() {
        let html = "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; f&nbsp;g &#65;&#x42; &amp;lt; &unknown; &";
        assert_eq!(to_text(html), "a & b <c> \"d\" 'e' f g AB &lt; &unknown; &");
        // The whole HTML5 table, not only the common names.
        assert_eq!(
            to_text("Gr&uuml;&szlig;e aus K&ouml;ln &eacute;t&eacute;"),
            "Grüße aus Köln été"
        );
    }

    #[test]
    fn escaped_markup_stays_text() {
        assert_eq!(
            to_text("&lt;script&gt;x&lt;/script&gt;"),
            "<script>x</script>"
        );
    }

    #[test]
    fn invalid_numeric_entities_become_replacement_char() {
        assert_eq!(
            to_text("&#0;&#xD800;&#99999999999;"),
            "\u{fffd}\u{fffd}&#99999999999;"
        );
    }

    #[test]
    fn whitespace_collapses_and_blank_lines_are_limited() {
        let html = "  Halo   \n\n   dunia <br><br><br><br> lagi  ";
        assert_eq!(to_text(html), "Halo dunia\n\nlagi");
    }

    #[test]
    fn pre_keeps_its_line_breaks() {
        assert_eq!(to_text("<pre>a\nb</pre>c\nd"), "a\nb\nc d");
    }

    #[test]
    fn broken_html_does_not_panic() {
        for html in [
            "<",
            "<<<",
            "a < b",
            "<p",
            "<p attr=\"unterminated>text",
            "<script>never closed",
            "<!-- never closed",
            "<!DOCTYPE",
            "&",
            "&#",
            "&#x;",
            "&#xZZ;",
            "</",
            "<é>",
            "<p>Pendaftaran ✓ 日本語 <b>tebal</b>",
            "héllo<br/>wörld&nbsp;—&nbsp;ok",
            "<head><title>no end",
        ] {
            let _ = to_text(html);
        }
        assert_eq!(to_text("a < b"), "a < b");
        assert_eq!(
            to_text("<p>Pendaftaran ✓ 日本語 <b>tebal</b>"),
            "Pendaftaran ✓ 日本語 tebal"
        );
        assert_eq!(
            to_text("héllo<br/>wörld&nbsp;—&nbsp;ok"),
            "héllo\nwörld — ok"
        );
    }

    #[test]
    fn unclosed_head_does_not_swallow_the_body() {
        assert_eq!(
            to_text("<head><meta charset=utf-8><body>Isi pesan"),
            "Isi pesan"
        );
        assert_eq!(to_text("<head>Isi pesan"), "Isi pesan");
    }

    #[test]
    fn stray_closing_script_tag_hides_nothing() {
        assert_eq!(to_text("a</script>b</title>c"), "abc");
    }

    #[test]
    fn quoted_greater_than_in_attribute_is_not_the_tag_end() {
        assert_eq!(to_text("<a title=\"a>b\" href=\"x\">tautan</a>"), "tautan");
    }

    #[test]
    fn hostile_markup_leaves_only_text() {
        let html = "<p>Halo</p><script>document.location='http://example.org/'</script><img src=x onerror=alert(1)>";
        assert_eq!(to_text(html), "Halo");
    }
}
