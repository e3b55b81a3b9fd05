//! The `color` parameter: shields.io's named palette or a hex colour, nothing else.
//!
//! The `shields` crate also takes any CSS colour and silently replaces an unreadable one with
//! its default, so a typo would render a blue badge and answer 200. tally accepts exactly the
//! set [`COLOR_PATTERN`] describes, so the OpenAPI document and the validator say the same
//! thing, and hands the crate a hex value only.

/// shields.io's named colours and their aliases, in the order the API documents them. Names
/// are matched exactly (lower case), as [`COLOR_PATTERN`] does.
pub const COLOR_NAMES: [&str; 16] = [
    "brightgreen",
    "green",
    "yellowgreen",
    "yellow",
    "orange",
    "red",
    "blue",
    "grey",
    "gray",
    "lightgrey",
    "lightgray",
    "success",
    "important",
    "critical",
    "informational",
    "inactive",
];

/// The accepted `color` values as a regular expression (ECMA-262 and Rust `regex` read it the
/// same way), for the OpenAPI `pattern`. A test checks that it agrees with [`BadgeColor::parse`].
pub const COLOR_PATTERN: &str = "^(brightgreen|green|yellowgreen|yellow|orange|red|blue|grey|gray|lightgrey|lightgray|success|important|critical|informational|inactive|#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}))$";

/// What the error message lists as accepted.
pub(super) const COLOR_ACCEPTED: &str = "brightgreen, green, yellowgreen, yellow, orange, red, \
    blue, grey, gray, lightgrey, lightgray, success, important, critical, informational, \
    inactive, or a 3- or 6-digit hex colour with or without a leading # (sent as %23), such \
    as 4c1 or %23007ec6";

/// The colour when the query names none: shields.io's own default message colour.
pub const DEFAULT_COLOR: &str = "blue";

/// A validated badge colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadgeColor {
    /// One of [`COLOR_NAMES`], with the hex shields.io gives it.
    Named {
        name: &'static str,
        hex: &'static str,
    },
    /// 3 or 6 hex digits, lower-cased, without the `#`.
    Hex(String),
}

impl BadgeColor {
    /// The colour `value` names, or `None` when it is not in the accepted set.
    pub fn parse(value: &str) -> Option<BadgeColor> {
        if let Some((name, hex)) = named(value) {
            return Some(BadgeColor::Named { name, hex });
        }
        let digits = value.strip_prefix('#').unwrap_or(value);
        let is_hex = matches!(digits.len(), 3 | 6) && digits.bytes().all(|b| b.is_ascii_hexdigit());
        is_hex.then(|| BadgeColor::Hex(digits.to_ascii_lowercase()))
    }

    /// The value written into the SVG: `#` and the hex digits.
    pub fn svg_hex(&self) -> String {
        match self {
            BadgeColor::Named { hex, .. } => (*hex).to_owned(),
            BadgeColor::Hex(digits) => format!("#{digits}"),
        }
    }
}

impl Default for BadgeColor {
    fn default() -> Self {
        BadgeColor::parse(DEFAULT_COLOR).unwrap_or(BadgeColor::Named {
            name: "blue",
            hex: "#007ec6",
        })
    }
}

/// shields.io's palette (badge-maker's `namedColors` and `colorAliases`), resolved to hex.
fn named(value: &str) -> Option<(&'static str, &'static str)> {
    let hex = match value {
        "brightgreen" | "success" => "#4c1",
        "green" => "#97ca00",
        "yellowgreen" => "#a4a61d",
        "yellow" => "#dfb317",
        "orange" | "important" => "#fe7d37",
        "red" | "critical" => "#e05d44",
        "blue" | "informational" => "#007ec6",
        "grey" | "gray" => "#555",
        "lightgrey" | "lightgray" | "inactive" => "#9f9f9f",
        _ => return None,
    };
    let name = COLOR_NAMES.into_iter().find(|name| *name == value)?;
    Some((name, hex))
}

#[cfg(test)]
mod tests {
    use regex_automata::meta::Regex;

    use super::*;

    #[test]
    fn every_name_resolves_and_the_default_is_blue() {
        for name in COLOR_NAMES {
            assert!(
                matches!(BadgeColor::parse(name), Some(BadgeColor::Named { name: n, .. }) if n == name),
                "{name}"
            );
        }
        assert_eq!(BadgeColor::default().svg_hex(), "#007ec6");
    }

    #[test]
    fn hex_is_normalised_to_lower_case_with_one_hash() {
        assert_eq!(
            BadgeColor::parse("ABC").map(|c| c.svg_hex()).as_deref(),
            Some("#abc")
        );
        assert_eq!(
            BadgeColor::parse("#FF5500").map(|c| c.svg_hex()).as_deref(),
            Some("#ff5500")
        );
    }

    #[test]
    fn the_pattern_and_the_validator_agree() {
        let pattern = Regex::new(COLOR_PATTERN).expect("COLOR_PATTERN compiles");
        let accepted = COLOR_NAMES
            .into_iter()
            .chain(["4c1", "#4c1", "007ec6", "#007EC6", "AbC", "000", "#ffffff"]);
        let rejected = [
            "",
            "#",
            "##4c1",
            "#12",
            "1234",
            "12345",
            "1234567",
            "ggg",
            "#ggg",
            "12345g",
            "Blue",
            "BLUE",
            " blue",
            "blue ",
            "blueviolet",
            "purple",
            "lightblue",
            "rgb(0,0,0)",
            "4c1\n",
            "\n4c1",
            "greenish",
            "xgreen",
            "redred",
            "#blue",
            "0x4c1",
            "４c1",
        ];
        for value in accepted {
            assert!(pattern.is_match(value), "pattern rejects {value:?}");
            assert!(
                BadgeColor::parse(value).is_some(),
                "validator rejects {value:?}"
            );
        }
        for value in rejected {
            assert!(!pattern.is_match(value), "pattern accepts {value:?}");
            assert!(
                BadgeColor::parse(value).is_none(),
                "validator accepts {value:?}"
            );
        }
    }

    #[test]
    fn the_palette_matches_the_shields_crate() {
        // Rendering a name through the crate and its hex through tally gives the same SVG, so
        // the table above cannot drift from the crate's.
        for name in COLOR_NAMES {
            let ours = BadgeColor::parse(name).map(|c| c.svg_hex());
            let with_name = shields::render_badge_svg(&shields::BadgeParams {
                message_color: Some(name),
                ..shields::BadgeParams::new("l", "1")
            });
            let with_hex = shields::render_badge_svg(&shields::BadgeParams {
                message_color: ours.as_deref(),
                ..shields::BadgeParams::new("l", "1")
            });
            assert_eq!(with_name, with_hex, "{name}");
        }
    }
}
