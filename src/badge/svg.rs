//! [`render_svg`]: a count as a shields.io-style SVG badge.

use super::{BadgeColor, BadgeStyle};

/// How a badge looks, apart from its texts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BadgeOptions {
    /// The background of the value (right-hand) side; the label side keeps shields.io's grey.
    pub color: BadgeColor,
    pub style: BadgeStyle,
}

/// The badge `label | value`. The value is the plain integer, without thousands separators,
/// as shields.io's dynamic badges print it. `label` is passed as is: the crate XML-escapes
/// it (escaping here too would show `&amp;` on the badge), and an empty one renders the value
/// alone. The SVG carries `role="img"`, an `aria-label` and a `<title>` of `label: value`
/// (`for-the-badge` upper-cases the label, there too, as shields.io does).
pub fn render_svg(label: &str, value: i64, options: &BadgeOptions) -> String {
    let message = value.to_string();
    let color = options.color.svg_hex();
    shields::render_badge_svg(&shields::BadgeParams {
        style: options.style.to_shields(),
        message_color: Some(&color),
        ..shields::BadgeParams::new(label, &message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(style: BadgeStyle, color: &str) -> BadgeOptions {
        BadgeOptions {
            color: BadgeColor::parse(color).expect("a valid colour"),
            style,
        }
    }

    #[test]
    fn every_style_renders_an_accessible_svg() {
        for style in BadgeStyle::ALL {
            let svg = render_svg("visitors", 1234567, &options(style, "blue"));
            assert!(
                svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
                "{style:?}: {svg}"
            );
            assert!(svg.ends_with("</svg>"), "{style:?}");
            assert!(svg.contains(r#"role="img""#), "{style:?}");
            // for-the-badge upper-cases the label, in the accessible text too (as shields.io).
            let label = if style == BadgeStyle::ForTheBadge {
                "VISITORS"
            } else {
                "visitors"
            };
            assert!(
                svg.contains(&format!(r#"aria-label="{label}: 1234567""#)),
                "{style:?}: {svg}"
            );
            assert!(
                svg.contains(&format!("<title>{label}: 1234567</title>")),
                "{style:?}"
            );
            assert!(
                svg.contains(&format!(">{label}</text>")),
                "{style:?}: {svg}"
            );
            assert!(svg.contains(">1234567</text>"), "{style:?}");
        }
        let flat = render_svg("x", 1, &options(BadgeStyle::Flat, "blue"));
        let square = render_svg("x", 1, &options(BadgeStyle::FlatSquare, "blue"));
        let big = render_svg("x", 1, &options(BadgeStyle::ForTheBadge, "blue"));
        assert_ne!(flat, square);
        assert_ne!(flat, big);
        assert_ne!(square, big);
    }

    #[test]
    fn the_label_is_escaped_exactly_once() {
        let svg = render_svg("a<b&c", 7, &BadgeOptions::default());
        assert!(svg.contains("a&lt;b&amp;c"), "{svg}");
        assert!(svg.contains(r#"aria-label="a&lt;b&amp;c: 7""#), "{svg}");
        assert!(!svg.contains("a<b"), "unescaped: {svg}");
        assert!(
            !svg.contains("&amp;lt;") && !svg.contains("&amp;amp;"),
            "twice: {svg}"
        );
        let svg = render_svg(r#"say "hi""#, 7, &BadgeOptions::default());
        assert!(!svg.contains(r#""hi""#), "quote unescaped: {svg}");
    }

    #[test]
    fn values_are_plain_integers() {
        for value in [0, -5, i64::MAX, i64::MIN] {
            let svg = render_svg("n", value, &BadgeOptions::default());
            assert!(svg.contains(&format!(">{value}</text>")), "{value}: {svg}");
        }
        assert!(!render_svg("n", 1234, &BadgeOptions::default()).contains("1,234"));
    }

    #[test]
    fn the_colour_is_declared() {
        for (color, hex) in [
            ("brightgreen", "#4c1"),
            ("inactive", "#9f9f9f"),
            ("#ABC", "#abc"),
            ("ff5500", "#ff5500"),
        ] {
            let svg = render_svg("c", 1, &options(BadgeStyle::Flat, color));
            assert!(svg.contains(&format!(r#"fill="{hex}""#)), "{color}: {svg}");
        }
        let svg = render_svg("c", 1, &BadgeOptions::default());
        assert!(svg.contains(r##"fill="#007ec6""##), "{svg}");
    }

    #[test]
    fn the_width_follows_the_text() {
        let width = |label: &str, value: i64| {
            let svg = render_svg(label, value, &BadgeOptions::default());
            let start = svg.find(" width=\"").expect("a width") + 8;
            let end = svg[start..].find('"').expect("a closing quote") + start;
            svg[start..end].parse::<f64>().expect("a number")
        };
        assert!(width("visitors", 1) < width("visitors", 1_000_000));
        assert!(width("hits", 1) < width("visitors", 1));
        assert!(width("", 1) < width("hits", 1));
    }
}
