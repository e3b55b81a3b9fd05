//! The one HTTP client of the tests that talk to tally over a socket.
//!
//! The in-process app ([`TestApp`](crate::helpers::TestApp)) and the `tally` binary
//! ([`TallyProcess`](crate::helpers::TallyProcess)) both hold an [`Http`] and deref to it, so
//! a check reads the same against either, and a new kind of request (JSON bodies for the
//! `/api/` endpoints, say) is written once, here.

use reqwest::{
    Method, StatusCode,
    header::{CONTENT_TYPE, HeaderMap},
};

/// What a request carries.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    /// Sent serialized, with `content-type: application/json` unless the request's headers
    /// name another content type.
    Json(serde_json::Value),
    /// Sent as given, with only the headers the request names.
    Raw(String),
}

/// Where tally listens (`http://127.0.0.1:PORT`) and a client for it.
#[derive(Debug, Clone)]
pub struct Http {
    pub address: String,
    pub client: reqwest::Client,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Http {
    pub fn new(address: impl Into<String>) -> Http {
        Http {
            address: address.into(),
            client: reqwest::Client::new(),
        }
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends one request and reads the whole answer. `Err` when there is no answer (nothing
    /// listens, the connection dropped): for tests that wait for a server or expect it gone.
    pub async fn try_request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> reqwest::Result<Reply> {
        let mut request = self.client.request(method, self.url(path));
        if let Body::Json(value) = &body {
            let typed = headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(CONTENT_TYPE.as_str()));
            if !typed {
                request = request.header(CONTENT_TYPE, "application/json");
            }
            request = request.body(value.to_string());
        }
        if let Body::Raw(text) = &body {
            request = request.body(text.clone());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        Ok(Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await?,
        })
    }

    /// Like [`Http::try_request`], but panics (naming the request) when there is no answer.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let what = format!("{method} {path}");
        self.try_request(method, path, headers, body)
            .await
            .unwrap_or_else(|err| panic!("{what}: {err}"))
    }

    pub async fn try_get(&self, path: &str) -> reqwest::Result<Reply> {
        self.try_request(Method::GET, path, &[], Body::Empty).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(Method::GET, path, headers, Body::Empty).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    /// `method path` with `json` as the body.
    pub async fn send_json(&self, method: Method, path: &str, json: serde_json::Value) -> Reply {
        self.request(method, path, &[], Body::Json(json)).await
    }

    pub async fn count(&self) -> Reply {
        self.get("/count").await
    }

    pub async fn hello(&self) -> Reply {
        self.get("/hello").await
    }

    pub async fn readyz(&self) -> Reply {
        self.get("/readyz").await
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", self.body))
    }
}

/// The client sends what a test asks for: the method, the headers, and a JSON body with its
/// content type (the test's own content type wins). Checked against a server that echoes the
/// request, since no tally endpoint reads a body yet.
#[tokio::test]
async fn requests_carry_their_method_headers_and_json_body() {
    use serde_json::json;

    let echo = axum::Router::new().fallback(
        |method: Method, headers: HeaderMap, body: String| async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            axum::Json(json!({
                "method": method.as_str(),
                "content_type": header("content-type"),
                "x_test": header("x-test"),
                "body": body,
            }))
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let http = Http::new(format!(
        "http://{}",
        listener.local_addr().expect("the listener's address")
    ));
    tokio::spawn(async move { axum::serve(listener, echo).await });

    let reply = http
        .send_json(Method::PUT, "/api/things/1", json!({ "amount": 1 }))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({
            "method": "PUT",
            "content_type": "application/json",
            "x_test": null,
            "body": r#"{"amount":1}"#,
        })
    );

    let reply = http
        .request(
            Method::POST,
            "/",
            &[("content-type", "text/plain"), ("x-test", "yes")],
            Body::Json(json!([1, 2])),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({
            "method": "POST",
            "content_type": "text/plain",
            "x_test": "yes",
            "body": "[1,2]",
        })
    );

    let reply = http.request(Method::DELETE, "/", &[], Body::Empty).await;
    assert_eq!(
        reply.json(),
        json!({ "method": "DELETE", "content_type": null, "x_test": null, "body": "" })
    );
}
