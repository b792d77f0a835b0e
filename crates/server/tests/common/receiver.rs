//! An in-test notification receiver: a small axum app on 127.0.0.1:0 that
//! records every request and answers from a script (a status, optionally
//! with `Retry-After`, or a hang), then 200 once the script runs out.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    RetryAfter(u16, u64),
    /// Never answer (until the sender's timeout).
    Hang,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Shared::default();
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, shared }
    }

    /// Answer the next requests like this, in order.
    pub fn script(&self, answers: &[Answer]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .extend(answers.iter().cloned());
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Bodies of requests that were answered 2xx (the ones that count as delivered).
    pub fn bodies(&self) -> Vec<Value> {
        self.received().into_iter().map(|r| r.body).collect()
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let answer = shared.script.lock().unwrap().pop_front();
    match answer {
        None => StatusCode::OK.into_response(),
        Some(Answer::Status(s)) => StatusCode::from_u16(s).unwrap().into_response(),
        Some(Answer::RetryAfter(s, secs)) => (
            StatusCode::from_u16(s).unwrap(),
            [("retry-after", secs.to_string())],
        )
            .into_response(),
        Some(Answer::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
    }
}
