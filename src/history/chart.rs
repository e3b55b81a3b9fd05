//! The SVG bar chart of a counter's days (`/history.svg`): one bar of hits per day, the day's
//! unique visitors drawn darker inside it, oldest on the left, a title, the largest day and
//! the first and last dates. Each bar's `<title>` says its numbers, shown on hover.
//!
//! Plain SVG with attributes only (no script, no style element), every text escaped: it is
//! embedded as an image in READMEs and pages, and an image must not run anything.

use std::fmt::Write;

use super::DayCount;

/// Pixels the bars take together: a day is 8 px wide up to 120 days, narrower past that.
const MAX_BARS_WIDTH: f64 = 960.0;
const MIN_BARS_WIDTH: f64 = 120.0;
const DAY_WIDTH: f64 = 8.0;
/// The tallest bar.
const BARS_HEIGHT: f64 = 80.0;
const PAD: f64 = 8.0;
/// Room for the title above the bars and the dates below them.
const TITLE_HEIGHT: f64 = 18.0;
const AXIS_HEIGHT: f64 = 16.0;

const FONT: &str = "Verdana,Geneva,DejaVu Sans,sans-serif";
const HITS_COLOR: &str = "#9ecae1";
const UNIQUES_COLOR: &str = "#3182bd";
const TEXT_COLOR: &str = "#333";
const BASE_COLOR: &str = "#bbb";

/// The chart of `days` (oldest first), titled `title`, the zone named `zone`.
pub fn render_svg(title: &str, zone: &str, days: &[DayCount]) -> String {
    let count = days.len().max(1) as f64;
    let bars_width = (count * DAY_WIDTH).clamp(MIN_BARS_WIDTH, MAX_BARS_WIDTH);
    let slot = bars_width / count;
    let bar = (slot * 0.8).max(0.5);
    let width = bars_width + 2.0 * PAD;
    let height = TITLE_HEIGHT + BARS_HEIGHT + AXIS_HEIGHT + 2.0 * PAD;
    let top = PAD + TITLE_HEIGHT;
    let base = top + BARS_HEIGHT;
    let largest = days
        .iter()
        .map(|day| day.hits.max(0).unsigned_abs())
        .max()
        .unwrap_or(0);
    let scale = |value: u64| {
        if largest == 0 {
            0.0
        } else {
            BARS_HEIGHT * value as f64 / largest as f64
        }
    };
    let total: u64 = days.iter().fold(0u64, |sum, day| {
        sum.saturating_add(day.hits.max(0).unsigned_abs())
    });
    let heading = format!("{title}: {total} hits in {} days ({zone})", days.len());

    let mut svg = String::with_capacity(512 + days.len() * 220);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.1} {height:.1}" role="img" aria-label="{label}">"#,
        label = escape(&heading),
    );
    let _ = write!(svg, "<title>{}</title>", escape(&heading));
    let _ = write!(
        svg,
        r##"<rect width="100%" height="100%" fill="#fff"/><g font-family="{FONT}" font-size="11" fill="{TEXT_COLOR}">"##
    );
    let _ = write!(
        svg,
        r#"<text x="{PAD:.1}" y="{:.1}">{}</text>"#,
        PAD + 11.0,
        escape(&heading)
    );
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">max {largest}</text>"#,
        width - PAD,
        PAD + 11.0
    );
    for (index, day) in days.iter().enumerate() {
        let x = PAD + index as f64 * slot + (slot - bar) / 2.0;
        let hits = day.hits.max(0).unsigned_abs();
        let tip = format!(
            "{}: {} hits, {} unique visitors",
            day.date, hits, day.uniques
        );
        let _ = write!(svg, "<g><title>{}</title>", escape(&tip));
        let hits_height = scale(hits);
        let _ = write!(
            svg,
            r#"<rect x="{x:.2}" y="{:.2}" width="{bar:.2}" height="{hits_height:.2}" fill="{HITS_COLOR}"/>"#,
            base - hits_height,
        );
        // An estimate may pass the day's hits by a little; the dark bar stays inside.
        let uniques_height = scale(day.uniques.min(hits));
        let _ = write!(
            svg,
            r#"<rect x="{x:.2}" y="{:.2}" width="{bar:.2}" height="{uniques_height:.2}" fill="{UNIQUES_COLOR}"/></g>"#,
            base - uniques_height,
        );
    }
    let _ = write!(
        svg,
        r#"<line x1="{PAD:.1}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="{BASE_COLOR}"/>"#,
        width - PAD
    );
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = base + 13.0;
        let _ = write!(
            svg,
            r#"<text x="{PAD:.1}" y="{y:.1}">{}</text><text x="{:.1}" y="{y:.1}" text-anchor="end">{}</text>"#,
            escape(&first.date.to_string()),
            width - PAD,
            escape(&last.date.to_string()),
        );
    }
    svg.push_str("</g></svg>");
    svg
}

/// `text` safe inside an SVG element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn day(d: i8, hits: i64, uniques: u64) -> DayCount {
        DayCount {
            date: date(2025, 3, d),
            hits,
            uniques,
        }
    }

    #[test]
    fn one_bar_per_day_scaled_to_the_largest() {
        let svg = render_svg(
            "site/home",
            "UTC",
            &[day(1, 0, 0), day(2, 10, 4), day(3, 5, 5)],
        );
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<g><title>").count(), 3);
        assert!(svg.contains("<title>2025-03-02: 10 hits, 4 unique visitors</title>"));
        assert!(svg.contains("site/home: 15 hits in 3 days (UTC)"));
        assert!(svg.contains("max 10"));
        assert!(svg.contains(&format!(
            "height=\"{BARS_HEIGHT:.2}\" fill=\"{HITS_COLOR}\""
        )));
        assert!(svg.contains("2025-03-01</text>") && svg.contains("2025-03-03</text>"));
    }

    #[test]
    fn text_is_escaped_and_nothing_runs() {
        let svg = render_svg("<script>&\"'", "Europe/Berlin", &[day(1, 1, 1)]);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
        assert!(!svg.contains("style"), "{svg}");
        assert!(
            !svg.split(' ')
                .any(|token| token.starts_with("on") && token.contains('=')),
            "{svg}"
        );
    }

    #[test]
    fn no_hits_draws_empty_bars() {
        let svg = render_svg("a/b", "UTC", &[day(1, 0, 0)]);
        assert!(svg.contains("max 0"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
