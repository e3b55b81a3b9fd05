//! What the counting API answers, as types: the handlers serialize these, and the OpenAPI
//! document (`openapi.rs`) describes the same types, so the two cannot drift apart.

use serde::Serialize;
use utoipa::ToSchema;

/// `201` of `create`: the new counter and its owner token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    pub namespace: String,
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    pub key: String,
    #[schema(minimum = 0)]
    pub value: i64,
    /// The owner token: 32 random bytes, URL-safe base64. Only its SHA-256 is stored.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub admin_token: String,
}

/// A counter as `GET` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    pub namespace: String,
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    pub key: String,
    #[schema(minimum = 0)]
    pub value: i64,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339, UTC, milliseconds: the last change of the value.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A counter's value after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Value {
    #[schema(minimum = 0)]
    pub value: i64,
}

/// `200` of `set`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetResult {
    #[schema(minimum = 0)]
    pub value: i64,
    #[schema(minimum = 0)]
    pub old_value: i64,
}

/// One counter of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Listed {
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    pub namespace: String,
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    pub key: String,
    #[schema(minimum = 0)]
    pub value: i64,
}

/// One page of a namespace, by key.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page {
    pub counters: Vec<Listed>,
    /// The `cursor` of the next page; null on the last one.
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    pub next_cursor: Option<String>,
}

/// Every error: a code to branch on and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// e.g. `bad_request`, `unauthorized`, `forbidden`, `counter_not_found`, `already_exists`,
    /// `conflict`, `rate_limited`, `store_unavailable`.
    pub error: String,
    pub message: String,
}

/// `200` of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct Imported {
    #[schema(minimum = 0)]
    pub imported: u64,
}
