//! `ADMIN_TOKEN`: the instance admin's token for the counting API.
//!
//! Only its SHA-256 hash is kept once the configuration is read, so the token cannot leak
//! through a `Debug` print or a core dump of the config. Unset means no instance admin: the
//! admin routes answer 403 saying so. A short token is refused at start: the admin may list,
//! export, import and change every counter.

use super::ConfigError;
use crate::store::TokenHash;

/// The shortest `ADMIN_TOKEN` accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

pub(super) fn parse_admin_token(token: Option<&str>) -> Result<Option<TokenHash>, ConfigError> {
    let Some(token) = token else {
        return Ok(None);
    };
    if token.len() < MIN_ADMIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
        return Err(ConfigError::new(
            "ADMIN_TOKEN",
            format!(
                "the given value is not valid (not shown); accepted: at least {MIN_ADMIN_TOKEN_LEN} characters without spaces, such as the output of `openssl rand -hex 32`"
            ),
        ));
    }
    Ok(Some(TokenHash::of(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_hash_and_refuses_short_tokens_without_showing_them() {
        assert_eq!(parse_admin_token(None).expect("unset is fine"), None);
        let hash = parse_admin_token(Some("correct-horse-battery"))
            .expect("valid")
            .expect("set");
        assert!(hash.matches(&TokenHash::of("correct-horse-battery")));
        assert!(!hash.matches(&TokenHash::of("correct-horse-battery!")));
        for bad in ["short", "has spaces in the token"] {
            let err = parse_admin_token(Some(bad)).expect_err(bad);
            assert_eq!(err.variable, "ADMIN_TOKEN");
            assert!(!err.to_string().contains(bad), "{err}");
        }
    }
}
