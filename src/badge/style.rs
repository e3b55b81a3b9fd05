//! The `style` parameter: three of the `shields` crate's five styles.
//!
//! `plastic` is dated and `social` is meant for star counts with a link, so tally offers the
//! flat styles and the large `for-the-badge` one. Names are matched exactly, like the crate's
//! own `FromStr`.

/// The accepted `style` values, for the OpenAPI `enum`; the first is the default.
pub const STYLES: [&str; 3] = ["flat", "flat-square", "for-the-badge"];

/// The style when the query names none.
pub const DEFAULT_STYLE: &str = STYLES[0];

/// A badge style tally renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadgeStyle {
    #[default]
    Flat,
    FlatSquare,
    ForTheBadge,
}

impl BadgeStyle {
    /// Every style, in the order of [`STYLES`].
    pub const ALL: [BadgeStyle; 3] = [
        BadgeStyle::Flat,
        BadgeStyle::FlatSquare,
        BadgeStyle::ForTheBadge,
    ];

    /// The style named `value` (one of [`STYLES`]), or `None`.
    pub fn parse(value: &str) -> Option<BadgeStyle> {
        BadgeStyle::ALL
            .into_iter()
            .find(|style| style.as_str() == value)
    }

    /// The name used in the query string.
    pub const fn as_str(self) -> &'static str {
        match self {
            BadgeStyle::Flat => "flat",
            BadgeStyle::FlatSquare => "flat-square",
            BadgeStyle::ForTheBadge => "for-the-badge",
        }
    }

    pub(super) const fn to_shields(self) -> shields::BadgeStyle {
        match self {
            BadgeStyle::Flat => shields::BadgeStyle::Flat,
            BadgeStyle::FlatSquare => shields::BadgeStyle::FlatSquare,
            BadgeStyle::ForTheBadge => shields::BadgeStyle::ForTheBadge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_round_trip_and_agree_with_the_crate() {
        for (style, name) in BadgeStyle::ALL.into_iter().zip(STYLES) {
            assert_eq!(style.as_str(), name);
            assert_eq!(BadgeStyle::parse(name), Some(style));
            assert_eq!(style.to_shields().as_str(), name);
        }
        assert_eq!(
            BadgeStyle::parse(DEFAULT_STYLE),
            Some(BadgeStyle::default())
        );
        for rejected in ["", "Flat", "flat ", "plastic", "social", "flat_square"] {
            assert_eq!(BadgeStyle::parse(rejected), None, "{rejected:?}");
        }
    }
}
