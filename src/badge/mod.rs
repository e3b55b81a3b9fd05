//! Badges and the tracking pixel: what a counter looks like in a README or on a page.
//!
//! This module turns a badge request's query string into a checked [`BadgeQuery`], draws a
//! count as an SVG badge ([`render_svg`]) and holds the 1×1 transparent GIF
//! ([`PIXEL_GIF`]). It knows nothing of HTTP or of stores: the web layer reads the count,
//! calls these, and turns a [`BadgeQueryError`] into `400 {"error": "invalid_query", ...}`.
//!
//! # Why the `shields` crate
//!
//! Its output is checked byte for byte against img.shields.io, so tally's badges look like
//! every other badge in a README. It measures text with embedded Verdana metrics (no font
//! files, no I/O), XML-escapes label and value, and writes `role="img"` with an `aria-label`.
//! It is built without its `simple-icons` feature: tally draws no logos, and the icon table
//! is by far the largest part of the crate.
//!
//! # Why validate here
//!
//! The crate never fails: an unknown colour silently becomes its default blue, and any CSS
//! colour is accepted. A badge API that answers 200 with the wrong colour hides typos, and an
//! OpenAPI document cannot describe "any CSS colour". So tally accepts a closed set, exposed
//! as constants ([`COLOR_NAMES`], [`COLOR_PATTERN`], [`STYLES`], [`COUNT_VALUES`],
//! [`LABEL_MAX_CHARS`]) for the document, and passes the crate hex colours only.
//!
//! # Defaults
//!
//! - `label`: `visitors` ([`DEFAULT_LABEL`]), what tally counts; at most 64 characters, no
//!   control characters; empty shows the count alone.
//! - `color`: `blue` (`#007ec6`, [`DEFAULT_COLOR`]), shields.io's own default.
//! - `style`: `flat` ([`DEFAULT_STYLE`]), shields.io's default.
//! - `count`: `true` ([`DEFAULT_COUNT`]): a badge in a README is a hit counter unless asked
//!   otherwise.
//!
//! Other query parameters are ignored (cache busters); one of the four given twice is an
//! error.

mod color;
mod error;
mod pixel;
mod query;
mod style;
mod svg;

pub use self::{
    color::{BadgeColor, COLOR_NAMES, COLOR_PATTERN, DEFAULT_COLOR},
    error::BadgeQueryError,
    pixel::PIXEL_GIF,
    query::{BadgeQuery, COUNT_VALUES, DEFAULT_COUNT, DEFAULT_LABEL, LABEL_MAX_CHARS},
    style::{BadgeStyle, DEFAULT_STYLE, STYLES},
    svg::{BadgeOptions, render_svg},
};
