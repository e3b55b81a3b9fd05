//! What a client may ask for, checked before anything is queued: a bad request (an unknown
//! kind, a target URI tally cannot parse) is refused at once, never a queued job that fails.

use serde_json::{Value, json};

use crate::{
    config::{redact, target_store},
    store::{
        StoreError,
        job::{JobId, JobKind, NewJob},
        now_millis,
    },
};

/// Attempts a job gets before it stays `failed`.
pub const MAX_ATTEMPTS: u32 = 3;

/// A job a client asked for (the import, whose input is a body, has its own path:
/// [`super::upload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRequest {
    Export,
    /// Every counter into the store `target` names.
    Copy {
        target: String,
    },
    Maintenance,
}

impl JobRequest {
    /// Reads `{"kind": "export"}`, `{"kind": "copy", "target": "<store URI>"}` or
    /// `{"kind": "maintenance"}`; the error says what is wrong, with any password hidden.
    pub fn from_json(body: &Value) -> Result<JobRequest, String> {
        let Some(object) = body.as_object() else {
            return Err(r#"send a JSON object such as {"kind": "export"}"#.to_owned());
        };
        let kind = match object.get("kind") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err("`kind` must be a string".to_owned()),
            None => return Err("`kind` is missing; one of: export, copy, maintenance".to_owned()),
        };
        let allowed: &[&str] = match kind.as_str() {
            "copy" => &["kind", "target"],
            _ => &["kind"],
        };
        if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(format!("unknown field `{unknown}` for a {kind} job"));
        }
        match JobKind::parse(kind).map_err(|err| err.to_string())? {
            JobKind::Export => Ok(JobRequest::Export),
            JobKind::Maintenance => Ok(JobRequest::Maintenance),
            JobKind::Import => Err(
                "an import job is started with POST /api/v1/jobs/import and the NDJSON as the body"
                    .to_owned(),
            ),
            JobKind::Copy => match object.get("target") {
                Some(Value::String(target)) => {
                    target_store(target)?;
                    Ok(JobRequest::Copy {
                        target: target.clone(),
                    })
                }
                Some(_) => Err("`target` must be a string: a store URI".to_owned()),
                None => Err(
                    "a copy needs `target`: postgres://…, sqlite://… or redis://… of the store to copy into"
                        .to_owned(),
                ),
            },
        }
    }

    pub fn kind(&self) -> JobKind {
        match self {
            JobRequest::Export => JobKind::Export,
            JobRequest::Copy { .. } => JobKind::Copy,
            JobRequest::Maintenance => JobKind::Maintenance,
        }
    }

    /// The job to enqueue.
    pub fn into_job(self) -> NewJob {
        let kind = self.kind();
        let params = match self {
            JobRequest::Copy { target } => json!({ "target": target }),
            JobRequest::Export | JobRequest::Maintenance => json!({}),
        };
        new_job(kind, params)
    }
}

/// A job of `kind` with `params`, queued now with [`MAX_ATTEMPTS`].
pub fn new_job(kind: JobKind, params: Value) -> NewJob {
    NewJob {
        id: JobId::new(),
        kind,
        params,
        max_attempts: MAX_ATTEMPTS,
        unique_key: None,
        created_at: now_millis(),
    }
}

/// The import job whose input was uploaded under `id` ([`super::chunks::INPUT`]): `bytes`
/// long, queued now.
pub fn import_job(id: JobId, bytes: u64) -> NewJob {
    NewJob {
        id,
        ..new_job(JobKind::Import, json!({ "bytes": bytes }))
    }
}

/// `params` as the API and the dashboard show them: a copy's target with its password hidden.
pub fn shown_params(params: &Value) -> Value {
    let mut shown = params.clone();
    if let Some(Value::String(target)) = shown.get_mut("target") {
        *target = redact(target);
    }
    shown
}

/// The copy target stored in `params`.
pub fn target_of(params: &Value) -> Result<&str, StoreError> {
    params
        .get("target")
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::invalid_input("the copy job has no `target`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_before_anything_is_queued() {
        assert_eq!(
            JobRequest::from_json(&json!({"kind": "export"})),
            Ok(JobRequest::Export)
        );
        assert_eq!(
            JobRequest::from_json(&json!({"kind": "copy", "target": "redis://cache:6379/1"})),
            Ok(JobRequest::Copy {
                target: "redis://cache:6379/1".into()
            })
        );
        for (body, says) in [
            (json!({"kind": "bake"}), "export, import, copy, maintenance"),
            (json!({}), "`kind` is missing"),
            (json!([]), "JSON object"),
            (json!({"kind": "copy"}), "needs `target`"),
            (json!({"kind": "copy", "target": 5}), "must be a string"),
            (
                json!({"kind": "export", "target": "x"}),
                "unknown field `target`",
            ),
            (json!({"kind": "import"}), "POST /api/v1/jobs/import"),
        ] {
            let err = JobRequest::from_json(&body).expect_err("refused");
            assert!(err.contains(says), "{body}: {err}");
        }
        let err =
            JobRequest::from_json(&json!({"kind": "copy", "target": "mysql://u:hunter2@db/x"}))
                .expect_err("refused");
        assert!(
            err.contains("postgres://") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn shown_params_hide_the_password() {
        let shown = shown_params(&json!({"target": "postgres://u:hunter2@db/x"}));
        assert_eq!(shown, json!({"target": "postgres://u:***@db/x"}));
    }
}
