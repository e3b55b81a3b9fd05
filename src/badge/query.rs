//! [`BadgeQuery`]: the query string of a badge request, checked.
//!
//! Only `label`, `color`, `style` and `count` are read. Other parameters are ignored, because
//! people add cache busters (`?v=2`) to badge URLs in READMEs; one of the four given twice is
//! an error, since either choice would surprise someone.

use super::{
    BadgeColor, BadgeOptions, BadgeQueryError, BadgeStyle, color::COLOR_ACCEPTED, style::STYLES,
};

/// The parameters a badge request reads.
const PARAMETERS: [&str; 4] = ["label", "color", "style", "count"];

/// The label when the query names none: tally counts visitors.
pub const DEFAULT_LABEL: &str = "visitors";

/// The longest accepted label, in characters (Unicode scalar values). An empty label is
/// accepted and renders the count alone.
pub const LABEL_MAX_CHARS: usize = 64;

/// The accepted `count` values: the first two mean yes, the last two no.
pub const COUNT_VALUES: [&str; 4] = ["true", "1", "false", "0"];

/// Whether a badge request counts a hit when the query does not say.
pub const DEFAULT_COUNT: bool = true;

/// The checked parameters of a badge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeQuery {
    /// The left-hand text, as given (the renderer escapes it).
    pub label: String,
    pub options: BadgeOptions,
    /// Whether the request adds a hit before rendering the count.
    pub count: bool,
}

impl Default for BadgeQuery {
    fn default() -> Self {
        BadgeQuery {
            label: DEFAULT_LABEL.to_owned(),
            options: BadgeOptions::default(),
            count: DEFAULT_COUNT,
        }
    }
}

impl BadgeQuery {
    /// Reads a raw query string (without the `?`; empty when there is none), percent- and
    /// `+`-decoded the way HTML forms and axum's `Query` decode it.
    pub fn parse(raw: &str) -> Result<BadgeQuery, BadgeQueryError> {
        let mut query = BadgeQuery::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            let Some(parameter) = PARAMETERS.into_iter().find(|p| *p == name) else {
                continue;
            };
            if seen.contains(&parameter) {
                return Err(BadgeQueryError::new(
                    parameter,
                    "given more than once; give it at most once",
                ));
            }
            seen.push(parameter);
            match parameter {
                "label" => query.label = parse_label(&value)?,
                "color" => {
                    query.options.color = BadgeColor::parse(&value)
                        .ok_or_else(|| BadgeQueryError::invalid("color", &value, COLOR_ACCEPTED))?;
                }
                "style" => {
                    query.options.style = BadgeStyle::parse(&value).ok_or_else(|| {
                        BadgeQueryError::invalid("style", &value, &STYLES.join(", "))
                    })?;
                }
                // "count", the last of PARAMETERS.
                _ => query.count = parse_count(&value)?,
            }
        }
        Ok(query)
    }
}

fn parse_label(value: &str) -> Result<String, BadgeQueryError> {
    let chars = value.chars().count();
    if chars > LABEL_MAX_CHARS {
        return Err(BadgeQueryError::new(
            "label",
            format!("{chars} characters long; at most {LABEL_MAX_CHARS} are accepted"),
        ));
    }
    // XML 1.0 cannot carry most control characters, nor U+FFFE and U+FFFF, even escaped:
    // the SVG would not load.
    let unfit = |c: &char| c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}');
    if let Some(bad) = value.chars().find(unfit) {
        return Err(BadgeQueryError::new(
            "label",
            format!("contains {bad:?}, which an SVG cannot carry; accepted: printable text"),
        ));
    }
    Ok(value.to_owned())
}

fn parse_count(value: &str) -> Result<bool, BadgeQueryError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(BadgeQueryError::invalid(
            "count",
            value,
            "true, false, 1 or 0",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(raw: &str) -> BadgeQueryError {
        match BadgeQuery::parse(raw) {
            Ok(query) => panic!("{raw:?} was accepted as {query:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn an_empty_query_gives_the_defaults() {
        let query = BadgeQuery::parse("").expect("empty query");
        assert_eq!(query, BadgeQuery::default());
        assert_eq!(query.label, "visitors");
        assert_eq!(query.options.style, BadgeStyle::Flat);
        assert_eq!(query.options.color.svg_hex(), "#007ec6");
        assert!(query.count);
    }

    #[test]
    fn every_parameter_is_read_and_decoded() {
        let query =
            BadgeQuery::parse("label=page+views%21&color=%23FF5500&style=for-the-badge&count=0")
                .expect("valid query");
        assert_eq!(query.label, "page views!");
        assert_eq!(query.options.color, BadgeColor::Hex("ff5500".into()));
        assert_eq!(query.options.style, BadgeStyle::ForTheBadge);
        assert!(!query.count);
        let query = BadgeQuery::parse("color=critical&count=1&style=flat-square").expect("valid");
        assert_eq!(query.options.color.svg_hex(), "#e05d44");
        assert!(query.count);
        assert_eq!(query.options.style, BadgeStyle::FlatSquare);
    }

    #[test]
    fn count_accepts_exactly_its_four_values() {
        for (value, expected) in COUNT_VALUES.into_iter().zip([true, true, false, false]) {
            let query = BadgeQuery::parse(&format!("count={value}")).expect(value);
            assert_eq!(query.count, expected, "{value}");
        }
        for value in ["", "yes", "no", "TRUE", "False", "2", "-1", " 1"] {
            let error = rejected(&format!("count={value}"));
            assert_eq!(error.parameter, "count");
            assert!(error.message.contains("true, false, 1 or 0"), "{error}");
        }
    }

    #[test]
    fn labels_up_to_the_limit_and_empty_ones_are_accepted() {
        let longest = "é".repeat(LABEL_MAX_CHARS);
        let query = BadgeQuery::parse(&format!("label={longest}")).expect("64 characters");
        assert_eq!(query.label, longest);
        assert_eq!(BadgeQuery::parse("label=").expect("empty").label, "");
        assert_eq!(
            BadgeQuery::parse("label=a%3Cb%26c").expect("markup").label,
            "a<b&c"
        );
    }

    #[test]
    fn long_labels_and_control_characters_are_rejected() {
        let error = rejected(&format!("label={}", "x".repeat(LABEL_MAX_CHARS + 1)));
        assert_eq!(
            error.to_string(),
            "invalid label: 65 characters long; at most 64 are accepted"
        );
        let error = rejected("label=a%00b");
        assert_eq!(error.parameter, "label");
        assert_eq!(
            error.message,
            r"contains '\0', which an SVG cannot carry; accepted: printable text"
        );
        for label in ["a%0Ab", "%7F", "%C2%85", "%EF%BF%BF"] {
            assert_eq!(
                rejected(&format!("label={label}")).parameter,
                "label",
                "{label}"
            );
        }
    }

    #[test]
    fn bad_colours_and_styles_say_what_is_accepted() {
        let error = rejected("color=purple");
        assert_eq!(error.parameter, "color");
        assert!(
            error
                .message
                .starts_with(r#""purple" is not valid; accepted: brightgreen,"#)
        );
        assert!(error.message.contains("3- or 6-digit hex"), "{error}");
        let error = rejected("style=plastic");
        assert_eq!(
            error.to_string(),
            r#"invalid style: "plastic" is not valid; accepted: flat, flat-square, for-the-badge"#
        );
    }

    #[test]
    fn unknown_parameters_are_ignored_and_repeated_ones_rejected() {
        let query = BadgeQuery::parse("v=2&colour=nonsense&label=hits").expect("cache buster");
        assert_eq!(query.label, "hits");
        let error = rejected("color=red&color=blue");
        assert_eq!(
            error.to_string(),
            "invalid color: given more than once; give it at most once"
        );
    }
}
