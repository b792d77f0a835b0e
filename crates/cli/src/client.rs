//! A small client for the JSON API. Bodies are the server's own wire types
//! ([`firebell_server::wire`]), so a field renamed there fails to compile here.

use firebell_server::wire::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::commands::ClientArgs;
use crate::config::{ConfigFile, DEFAULT_URL};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach Firebell at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "no API token: pass --token or set FIREBELL_TOKEN (`firebell token create --role responder` makes one)"
    )]
    NoToken,
    #[error("unexpected response from {url}: {reason}")]
    BadResponse { url: String, reason: String },
}

/// A successful answer as the server sent it: `--json` prints it as it is,
/// everything else reads it through a wire type with [`Answer::read`].
pub struct Answer {
    url: String,
    body: Value,
}

impl Answer {
    pub fn json(&self) -> &Value {
        &self.body
    }

    pub fn read<R: DeserializeOwned>(self) -> Result<R, ClientError> {
        serde_json::from_value(self.body).map_err(|e| ClientError::BadResponse {
            url: self.url,
            reason: e.to_string(),
        })
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(args: &ClientArgs, file: &ConfigFile) -> Result<Client, ClientError> {
        let base = args
            .url
            .clone()
            .or_else(|| file.url.clone())
            .unwrap_or_else(|| DEFAULT_URL.into());
        // `http://host:port` only: a bare `host:port` would otherwise fail
        // later as "relative URL without a base".
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Unreachable {
                url: base.clone(),
                reason: "the server URL needs its scheme, e.g. http://127.0.0.1:8080".into(),
            });
        }
        // An empty FIREBELL_TOKEN is no token, not a malformed header.
        let token = args
            .token
            .clone()
            .or_else(|| file.token.clone())
            .filter(|t| !t.trim().is_empty())
            .ok_or(ClientError::NoToken)?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("firebell-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: format!("{}/api/v1", base.trim_end_matches('/')),
            token,
        })
    }

    /// `GET path?query`, read as `R`.
    pub async fn get<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<R, ClientError> {
        self.get_answer(path, query).await?.read()
    }

    pub async fn get_answer<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<Answer, ClientError> {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    /// `GET` an answer that is not JSON (CSV), as text.
    pub async fn get_text<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<String, ClientError> {
        let (_, text) = self
            .send_raw(self.http.get(self.url(path)).query(query))
            .await?;
        Ok(text)
    }

    pub async fn post_answer<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Answer, ClientError> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    /// `PUT` or `PATCH` (or any method) with a JSON body.
    pub async fn send_json<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<Answer, ClientError> {
        self.send(self.http.request(method, self.url(path)).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(self.url(path))).await.map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, ClientError> {
        let (url, text) = self.send_raw(req).await?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| ClientError::BadResponse {
                url: url.clone(),
                reason: format!("{e}: {text:.200}"),
            })?
        };
        Ok(Answer { url, body })
    }

    /// Send with the token; a 2xx answer's URL and text, or our error.
    async fn send_raw(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(String, String), ClientError> {
        let resp =
            req.bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: self.base.clone(),
                    reason: root_cause(&e),
                })?;
        let status = resp.status();
        let url = resp.url().to_string();
        let text = resp.text().await.map_err(|e| ClientError::BadResponse {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        if status.is_success() {
            return Ok((url, text));
        }
        // Not our error format (a proxy's, say): the HTTP status says it all.
        let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(ErrorBody { error }) => (error.code, error.message),
            Err(_) => (
                "unknown".to_string(),
                status
                    .canonical_reason()
                    .unwrap_or("request failed")
                    .to_string(),
            ),
        };
        Err(ClientError::Api {
            status: status.as_u16(),
            code,
            message,
        })
    }
}

/// The innermost error, which is the one a person can act on ("connection refused").
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
