//! A small typed client for the JSON API, used by the client commands.

use serde_json::Value;

use crate::ClientArgs;
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
        let token = args
            .token
            .clone()
            .or_else(|| file.token.clone())
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

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(self.url(path))).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
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
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| ClientError::BadResponse {
                url: url.clone(),
                reason: format!("{e}: {text:.200}"),
            })?
        };
        if status.is_success() {
            return Ok(body);
        }
        let err = &body["error"];
        Err(ClientError::Api {
            status: status.as_u16(),
            code: err["code"].as_str().unwrap_or("unknown").to_string(),
            message: err["message"]
                .as_str()
                .unwrap_or(status.canonical_reason().unwrap_or("request failed"))
                .to_string(),
        })
    }
}

/// The innermost error, which is the one a person can act on ("connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
