//! Abacus's shields, `/hit/{namespace}/{key}/shield` (counts) and
//! `/get/{namespace}/{key}/shield` (shows), drawn by tally's own badge ([`crate::badge`]).
//!
//! Abacus's parameters are mapped onto tally's badge and go through its checks:
//!
//! - `text` is the label (Abacus's default, `counter`);
//! - `bgcolor` is the value's colour: Abacus's hex colours (3 or 6 digits, `#` optional), and
//!   tally's named ones besides; anything else is a 400 (Abacus answered 500);
//! - `style`: `flat` and `flat-square` as they are, `plastic` drawn `flat` (tally draws no
//!   plastic badge), `*-simple` the same style with the value alone, tally's `for-the-badge`
//!   too, anything else `flat`, as Abacus fell back;
//! - `textcolor`, `font` and `fontsize` are ignored: tally's badges are shields.io's, white
//!   Verdana 11.
//!
//! A missing counter is created by the counting shield (like a hit) and a 404
//! `{"error": "Key not found"}` for the other. Both are never cached, so GitHub's image proxy
//! neither skips counts nor shows an old value.

use std::sync::Arc;

use axum::{Extension, extract::State, response::Response};

use super::{
    countapi::key_not_found,
    named::{Abacus, Named},
    reply::{Answer, Failure, Params, Reply},
    stats::Stats,
};
use crate::{
    badge::{BadgeQuery, BadgeStyle, render_svg},
    web::{AppState, HitVisitor},
};

/// The label when `text` is not given: Abacus's.
pub const DEFAULT_TEXT: &str = "counter";

/// `GET /hit/{namespace}/{key}/shield`: +1 (creating the counter at 0 first), as an SVG badge.
pub async fn hit(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    visitor: HitVisitor,
    Named { name, params, .. }: Named<Abacus>,
) -> Response {
    Reply::json()
        .never_cached()
        .run(name, move |name| async move {
            let badge = badge_query(&params)?;
            let value = state
                .store
                .increment_from(&name, 1, visitor.as_ref())
                .await?;
            stats.updated();
            Ok(Answer::Svg(render_svg(&badge.label, value, &badge.options)))
        })
        .await
}

/// `GET /get/{namespace}/{key}/shield`: the value as an SVG badge.
pub async fn get(
    State(state): State<AppState>,
    Named { name, params, .. }: Named<Abacus>,
) -> Response {
    Reply::json()
        .never_cached()
        .run(name, move |name| async move {
            let badge = badge_query(&params)?;
            let record = state.store.info(&name).await?.ok_or_else(key_not_found)?;
            Ok(Answer::Svg(render_svg(
                &badge.label,
                record.value,
                &badge.options,
            )))
        })
        .await
}

/// Abacus's parameters as a checked tally badge query; a 400 names Abacus's parameter.
fn badge_query(params: &Params) -> Result<BadgeQuery, Failure> {
    let (style, simple) = style(params.get("style"));
    let label = if simple {
        ""
    } else {
        params.get("text").unwrap_or(DEFAULT_TEXT)
    };
    // Written as tally's own badge query, so the label and colour pass the same checks.
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("label", label);
    if let Some(color) = params.get("bgcolor") {
        query.append_pair("color", color);
    }
    query.append_pair("style", style.as_str());
    query.append_pair("count", "false");
    BadgeQuery::parse(&query.finish()).map_err(|err| {
        let parameter = match err.parameter {
            "label" => "text",
            "color" => "bgcolor",
            other => other,
        };
        Failure::bad_request(format!("invalid {parameter}: {}", err.message))
    })
}

/// Abacus's `style` as tally's badge style, and whether the value is shown alone.
fn style(value: Option<&str>) -> (BadgeStyle, bool) {
    match value.unwrap_or_default() {
        "flat-square" => (BadgeStyle::FlatSquare, false),
        "flat-square-simple" => (BadgeStyle::FlatSquare, true),
        "flat-simple" | "plastic-simple" => (BadgeStyle::Flat, true),
        "for-the-badge" => (BadgeStyle::ForTheBadge, false),
        // `flat`, `plastic` (not drawn by tally), and whatever Abacus fell back from.
        _ => (BadgeStyle::Flat, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> Result<BadgeQuery, String> {
        badge_query(&Params::parse(Some(raw))).map_err(|failure| match failure {
            Failure::Json(status, body) => format!("{} {body}", status.as_u16()),
            Failure::App(err) => err.to_string(),
        })
    }

    #[test]
    fn abacus_parameters_map_onto_the_badge() {
        let badge = query("").expect("defaults");
        assert_eq!(badge.label, DEFAULT_TEXT);
        assert_eq!(badge.options.style, BadgeStyle::Flat);
        assert_eq!(badge.options.color.svg_hex(), "#007ec6");

        let badge =
            query("text=views&bgcolor=%23FF5500&style=flat-square&textcolor=000&font=arial")
                .expect("valid");
        assert_eq!(badge.label, "views");
        assert_eq!(badge.options.color.svg_hex(), "#ff5500");
        assert_eq!(badge.options.style, BadgeStyle::FlatSquare);

        for (style, expected, label) in [
            ("flat", BadgeStyle::Flat, DEFAULT_TEXT),
            ("plastic", BadgeStyle::Flat, DEFAULT_TEXT),
            ("flat-simple", BadgeStyle::Flat, ""),
            ("plastic-simple", BadgeStyle::Flat, ""),
            ("flat-square-simple", BadgeStyle::FlatSquare, ""),
            ("for-the-badge", BadgeStyle::ForTheBadge, DEFAULT_TEXT),
            ("social", BadgeStyle::Flat, DEFAULT_TEXT),
        ] {
            let badge = query(&format!("style={style}")).expect(style);
            assert_eq!(
                (badge.options.style, badge.label.as_str()),
                (expected, label),
                "{style}"
            );
        }
        assert_eq!(
            query("bgcolor=red").expect("named").options.color.svg_hex(),
            "#e05d44"
        );
    }

    #[test]
    fn bad_colours_and_labels_are_400s_naming_abacus_parameters() {
        let error = query("bgcolor=purple").expect_err("purple");
        assert!(
            error.starts_with(r#"400 {"error":"invalid bgcolor: \"purple\" is not valid"#),
            "{error}"
        );
        let error = query(&format!("text={}", "x".repeat(65))).expect_err("long");
        assert!(
            error.starts_with(r#"400 {"error":"invalid text: 65 characters"#),
            "{error}"
        );
    }
}
