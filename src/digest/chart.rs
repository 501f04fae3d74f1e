//! The 14-day trend as a small PNG bar chart: two bars a day (new, resolved), then, right of a
//! rule, the period's quality beside it: SLA targets met and breached, and how many ratings of
//! each score 1-5 the requesters gave ([`Quality`], one bar a column, on its own scale). Drawn
//! into an RGB buffer and encoded with the `png` crate. No text in the image: the day labels and numbers
//! live in the HTML table under it, where every mail client renders them.

use anyhow::{Context, Result};

use super::figures::TrendDay;

/// Pixels per day column; the HTML table under the image uses the same width per cell.
/// 28: the 14 days and the 7 quality columns fit the digest's 640-pixel width.
pub const COLUMN_WIDTH: u32 = 28;
pub const HEIGHT: u32 = 120;
/// Bar colours, also used for the legend in the HTML.
pub const NEW_COLOUR: [u8; 3] = [0x44, 0x72, 0xc4];
pub const RESOLVED_COLOUR: [u8; 3] = [0x70, 0xad, 0x47];
pub const MET_COLOUR: [u8; 3] = [0x70, 0xad, 0x47];
pub const BREACHED_COLOUR: [u8; 3] = [0xc0, 0x39, 0x2b];
pub const RATING_COLOUR: [u8; 3] = [0xed, 0x9c, 0x28];
/// Columns right of the trend: SLA met, SLA breached, ratings 1 to 5.
pub const QUALITY_COLUMNS: u32 = 7;

/// The period's service quality, drawn beside the trend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quality {
    /// Response and resolution targets met / breached in the period.
    pub sla_met: usize,
    pub sla_breached: usize,
    /// Ratings of each score, 1 to 5.
    pub scores: [usize; 5],
}

impl Quality {
    /// Each column's value and colour, in order.
    pub fn columns(&self) -> [(usize, [u8; 3]); QUALITY_COLUMNS as usize] {
        let r = |i: usize| (self.scores[i], RATING_COLOUR);
        [
            (self.sla_met, MET_COLOUR),
            (self.sla_breached, BREACHED_COLOUR),
            r(0),
            r(1),
            r(2),
            r(3),
            r(4),
        ]
    }
}
const BACKGROUND: [u8; 3] = [0xff, 0xff, 0xff];
const GRID: [u8; 3] = [0xe4, 0xe4, 0xe4];
const AXIS: [u8; 3] = [0x88, 0x88, 0x88];
/// Room above the tallest bar.
const TOP: u32 = 6;

pub fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// An RGB image being drawn.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Canvas {
        let mut pixels = Vec::with_capacity((width * height * 3) as usize);
        for _ in 0..width * height {
            pixels.extend_from_slice(&BACKGROUND);
        }
        Canvas {
            width,
            height,
            pixels,
        }
    }

    /// Fills `[x0, x1) x [y0, y1)`, clipped to the canvas.
    fn fill(&mut self, x0: u32, y0: u32, x1: u32, y1: u32, c: [u8; 3]) {
        for y in y0.min(self.height)..y1.min(self.height) {
            for x in x0.min(self.width)..x1.min(self.width) {
                let i = ((y * self.width + x) * 3) as usize;
                self.pixels[i..i + 3].copy_from_slice(&c);
            }
        }
    }
}

/// The largest value the bars are scaled to: at least 1, so an empty fortnight draws flat.
pub fn scale(days: &[TrendDay]) -> usize {
    days.iter()
        .map(|d| d.new.max(d.resolved))
        .max()
        .unwrap_or(0)
        .max(1)
}

/// The chart as PNG bytes: `COLUMN_WIDTH` pixels per day and per quality column, `HEIGHT` high.
pub fn trend_png(days: &[TrendDay], quality: &Quality) -> Result<Vec<u8>> {
    let columns = days.len().max(1) as u32;
    let (width, height) = ((columns + QUALITY_COLUMNS) * COLUMN_WIDTH, HEIGHT);
    let mut c = Canvas::new(width, height);
    let base = height - 1;
    let room = base - TOP;
    // Gridlines at a quarter, half and three quarters of the scale.
    for q in 1..4 {
        let y = base - room * q / 4;
        c.fill(0, y, width, y + 1, GRID);
    }
    let max = scale(days) as u64;
    let bar = |v: usize| (v as u64 * room as u64 / max) as u32;
    let bar_width = (COLUMN_WIDTH - 10) / 2;
    for (i, d) in days.iter().enumerate() {
        let x = i as u32 * COLUMN_WIDTH + 4;
        let h = bar(d.new);
        c.fill(x, base - h, x + bar_width, base, NEW_COLOUR);
        let x = x + bar_width + 2;
        let h = bar(d.resolved);
        c.fill(x, base - h, x + bar_width, base, RESOLVED_COLOUR);
    }
    // The quality panel: a rule, then one wide bar a column, each group on its own scale (SLA
    // counts and ratings are not of one size).
    let left = columns * COLUMN_WIDTH;
    c.fill(left, 0, left + 1, height, AXIS);
    let cols = quality.columns();
    let sla_max = cols[0].0.max(cols[1].0).max(1) as u64;
    let rating_max = cols[2..].iter().map(|c| c.0).max().unwrap_or(0).max(1) as u64;
    for (i, (v, colour)) in cols.iter().enumerate() {
        let max = if i < 2 { sla_max } else { rating_max };
        let h = (*v as u64 * room as u64 / max) as u32;
        let x = left + i as u32 * COLUMN_WIDTH + 8;
        c.fill(x, base - h, x + COLUMN_WIDTH - 16, base, *colour);
    }
    c.fill(0, base, width, height, AXIS);

    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .context("writing the chart's PNG header")?;
        w.write_image_data(&c.pixels)
            .context("writing the chart's PNG data")?;
        w.finish().context("finishing the chart's PNG")?;
    }
    Ok(out)
}

/// Standard base64 (RFC 4648, with padding), for the `data:` URI of `loket digest --preview`.
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn bars_are_drawn_in_their_colours() {
        let d = |n, new, resolved| TrendDay {
            date: NaiveDate::from_ymd_opt(2026, 11, n).expect("date"),
            new,
            resolved,
        };
        let quality = Quality {
            sla_met: 3,
            sla_breached: 1,
            scores: [0, 0, 0, 1, 2],
        };
        let png_bytes = trend_png(&[d(1, 4, 0), d(2, 0, 2)], &quality).expect("png");
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        assert_eq!(
            (info.width, info.height),
            ((2 + QUALITY_COLUMNS) * COLUMN_WIDTH, HEIGHT)
        );
        let px = |x: u32, y: u32| {
            let i = ((y * info.width + x) * 3) as usize;
            [buf[i], buf[i + 1], buf[i + 2]]
        };
        // Day 1's "new" bar reaches the top of the scale; day 2's "resolved" bar half way.
        assert_eq!(px(6, TOP + 1), NEW_COLOUR);
        assert_eq!(
            px(COLUMN_WIDTH + 4 + (COLUMN_WIDTH - 10) / 2 + 2, HEIGHT - 5),
            RESOLVED_COLOUR
        );
        assert_eq!(
            px(COLUMN_WIDTH + 4 + (COLUMN_WIDTH - 10) / 2 + 2, TOP + 1),
            BACKGROUND
        );
        // Beside it: SLA met to the top, breached a third; ratings of 5 to the top, of 4 half.
        let q = |col: u32| 2 * COLUMN_WIDTH + col * COLUMN_WIDTH + 10;
        assert_eq!(px(q(0), TOP + 1), MET_COLOUR);
        assert_eq!(px(q(1), TOP + 1), BACKGROUND);
        assert_eq!(px(q(1), HEIGHT - 5), BREACHED_COLOUR);
        assert_eq!(px(q(6), TOP + 1), RATING_COLOUR);
        assert_eq!(px(q(5), TOP + 1), BACKGROUND);
        assert_eq!(px(q(5), HEIGHT - 5), RATING_COLOUR);
        assert_eq!(px(q(2), HEIGHT - 5), BACKGROUND);
    }
}
