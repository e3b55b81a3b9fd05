//! Who may change a counter: its owner, by the token `create` returned once, or the instance
//! admin, by `ADMIN_TOKEN`.
//!
//! Tokens are 32 random bytes from the operating system, URL-safe base64 without padding (43
//! characters). Only their SHA-256 is stored (a random 256-bit secret needs no slow hash: there
//! is nothing to guess from the hash), and comparisons are constant-time. A token is taken from
//! `Authorization: Bearer …`; a missing one is 401, a wrong one 403, both with a JSON body that
//! says which. Tokens never reach a log: the request line logged is the path, and this module
//! logs nothing about them.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::super::AppError;
use crate::store::{CounterRecord, TokenHash};

/// A new owner token and its hash; the token is shown once, the hash is stored.
pub fn new_token() -> Result<(String, TokenHash), AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| {
        AppError::Internal(format!("the operating system gave no random bytes: {err}").into())
    })?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = TokenHash::of(&token);
    Ok((token, hash))
}

/// The bearer token of the request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// The 401 of a route that needs an owner's token.
pub fn missing_token() -> AppError {
    AppError::Unauthorized(
        "this needs the counter's admin_token (or the instance's ADMIN_TOKEN) as Authorization: Bearer <token>".to_owned(),
    )
}

/// Checks that the request may change `counter`: its owner's token or the admin's.
pub fn require_owner(
    headers: &HeaderMap,
    admin: Option<&TokenHash>,
    counter: &CounterRecord,
) -> Result<(), AppError> {
    let token = bearer(headers).ok_or_else(missing_token)?;
    let presented = TokenHash::of(token);
    let is_owner = counter
        .owner
        .as_ref()
        .is_some_and(|owner| owner.matches(&presented));
    let is_admin = admin.is_some_and(|admin| admin.matches(&presented));
    if is_owner || is_admin {
        return Ok(());
    }
    Err(AppError::Forbidden(match counter.owner {
        Some(_) => format!("the token does not own the counter {}", counter.name),
        None => format!(
            "the counter {} was created by a hit and has no owner: only the instance admin may change it",
            counter.name
        ),
    }))
}

/// Checks that the request carries the instance admin's token.
pub fn require_admin(headers: &HeaderMap, admin: Option<&TokenHash>) -> Result<(), AppError> {
    let Some(admin) = admin else {
        return Err(AppError::Forbidden(
            "ADMIN_TOKEN is not set on this server, so nobody may use the admin routes".to_owned(),
        ));
    };
    let token = bearer(headers).ok_or_else(|| {
        AppError::Unauthorized(
            "this needs the instance's ADMIN_TOKEN as Authorization: Bearer <token>".to_owned(),
        )
    })?;
    if admin.matches(&TokenHash::of(token)) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "the token is not the instance's ADMIN_TOKEN".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_differ() {
        let (a, hash_a) = new_token().expect("token");
        let (b, _) = new_token().expect("token");
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, b);
        assert!(hash_a.matches(&TokenHash::of(&a)));
    }

    #[test]
    fn bearer_needs_the_scheme_and_a_value() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().expect("value"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().expect("value"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer tok".parse().expect("value"));
        assert_eq!(bearer(&headers), Some("tok"));
    }
}
