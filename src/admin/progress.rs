//! Progress of long admin work (backup, index rebuild) on standard error: a bar redrawn in place
//! on a terminal, a plain line every tenth of the way otherwise (a log file or journald gets ten
//! lines, not ten thousand).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    unit: &'static str,
    total: u64,
    done: u64,
    tty: bool,
    /// When the bar was last drawn: at most ten redraws a second.
    drawn: Option<Instant>,
    /// The last tenth reported as a plain line.
    tenth: Option<u64>,
    out: Box<dyn Write + Send>,
}

impl Progress {
    /// Progress of `total` `unit`s (e.g. "pages") on standard error.
    pub fn new(label: &str, unit: &'static str, total: u64) -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress::to(Box::new(std::io::stderr()), tty, label, unit, total)
    }

    /// Progress written to `out`, as a bar when `tty`.
    pub fn to(
        out: Box<dyn Write + Send>,
        tty: bool,
        label: &str,
        unit: &'static str,
        total: u64,
    ) -> Progress {
        Progress {
            label: label.to_string(),
            unit,
            total,
            done: 0,
            tty,
            drawn: None,
            tenth: None,
            out,
        }
    }

    /// The total can change while the work runs (a backup of a database that grows).
    pub fn update(&mut self, done: u64, total: u64) {
        self.done = done.min(total);
        self.total = total;
        if self.tty {
            if self
                .drawn
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
                && self.done < self.total
            {
                return;
            }
            self.drawn = Some(Instant::now());
            let line = self.bar();
            // Progress output failing (a closed terminal) must not fail the work itself.
            let _ = write!(self.out, "\r\x1b[2K{line}");
            let _ = self.out.flush();
        } else {
            let tenth = self.percent() / 10;
            if self.tenth.is_some_and(|t| t >= tenth) {
                return;
            }
            self.tenth = Some(tenth);
            let line = self.line();
            let _ = writeln!(self.out, "{line}");
        }
    }

    /// Ends the bar (or the lines) with a closing message.
    pub fn finish(&mut self, message: &str) {
        if self.tty {
            let _ = writeln!(self.out, "\r\x1b[2K{}: {message}", self.label);
        } else {
            let _ = writeln!(self.out, "{}: {message}", self.label);
        }
        let _ = self.out.flush();
    }

    fn percent(&self) -> u64 {
        (self.done * 100).checked_div(self.total).unwrap_or(100)
    }

    /// "backup: 40% (400/1000 pages)"
    fn line(&self) -> String {
        format!(
            "{}: {}% ({}/{} {})",
            self.label,
            self.percent(),
            self.done,
            self.total,
            self.unit
        )
    }

    /// "backup [########------------] 40% (400/1000 pages)"
    fn bar(&self) -> String {
        const WIDTH: u64 = 24;
        let filled = (self.percent() * WIDTH / 100) as usize;
        format!(
            "{} [{}{}] {}% ({}/{} {})",
            self.label,
            "#".repeat(filled),
            "-".repeat(WIDTH as usize - filled),
            self.percent(),
            self.done,
            self.total,
            self.unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn plain_output_is_a_line_per_tenth() {
        let sink = Sink::default();
        let mut p = Progress::to(Box::new(sink.clone()), false, "backup", "pages", 1000);
        for done in 0..=1000 {
            p.update(done, 1000);
        }
        p.finish("done");
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 12, "{text}");
        assert_eq!(lines[0], "backup: 0% (0/1000 pages)");
        assert_eq!(lines[5], "backup: 50% (500/1000 pages)");
        assert_eq!(lines[10], "backup: 100% (1000/1000 pages)");
        assert_eq!(lines[11], "backup: done");
        assert!(!text.contains('\r'));
    }

    #[test]
    fn terminal_output_redraws_in_place() {
        let sink = Sink::default();
        let mut p = Progress::to(Box::new(sink.clone()), true, "index", "messages", 4);
        p.update(1, 4);
        p.update(4, 4);
        p.finish("4 messages indexed");
        let text = sink.text();
        assert!(text.contains("\r\x1b[2Kindex [######"), "{text:?}");
        assert!(text.contains("100% (4/4 messages)"), "{text:?}");
        assert!(text.ends_with("index: 4 messages indexed\n"), "{text:?}");
        assert_eq!(text.matches('\n').count(), 1);
    }

    #[test]
    fn empty_work_is_complete() {
        let sink = Sink::default();
        let mut p = Progress::to(Box::new(sink.clone()), false, "index", "messages", 0);
        p.update(0, 0);
        assert_eq!(sink.text(), "index: 100% (0/0 messages)\n");
    }
}
