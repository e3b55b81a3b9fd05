//! [`redact`]: hides passwords in URIs before they reach an error line.
//!
//! `DATABASE_URI`, `REDIS_URL` and `HEALTHCHECK_URL` may carry a password, and what tally
//! prints ends up in terminals, CI logs and bug reports; echoing the value back with only its
//! secret replaced still lets people see which value was wrong.

/// Hides secrets in a URI for error messages: `scheme://user:password@host/…?password=…`
/// becomes `scheme://user:***@host/…?password=***`.
pub fn redact(uri: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (uri, None),
    };
    let mut redacted = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => base.to_owned(),
            },
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _value)) if is_secret_key(key) => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&params.join("&"));
    }
    redacted
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "key"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_userinfo_passwords_and_secret_query_parameters() {
        assert_eq!(
            redact("postgres://app:s3cret@db/app"),
            "postgres://app:***@db/app"
        );
        assert_eq!(
            redact("postgres://db/app?password=s3cret&sslmode=require"),
            "postgres://db/app?password=***&sslmode=require"
        );
        assert_eq!(redact("redis://cache:6379/0"), "redis://cache:6379/0");
    }
}
