//! A small SMTP sink for tests: listens on 127.0.0.1:0 and really speaks SMTP
//! (RFC 5321's minimum): the 220 greeting, EHLO/HELO, MAIL FROM, RCPT TO,
//! DATA (dot-stuffing undone, ended by the "." line), RSET, NOOP, QUIT. It
//! records every accepted message, envelope and raw data, and can be told to
//! answer the next transactions with an error at RCPT, at DATA or after the
//! data.
//!
//! Include it with `#[path = "common/smtp.rs"] mod smtp;`.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Longest command or data line accepted, in bytes (RFC 5321 says 1000 with
/// CRLF; a little slack).
const MAX_LINE: usize = 4096;
/// Largest message accepted, in bytes.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Received {
    /// The EHLO/HELO argument.
    pub helo: String,
    /// MAIL FROM's address, without the angle brackets or parameters.
    pub mail_from: String,
    /// RCPT TO's addresses, likewise.
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA, dot-stuffing undone, CRLF line ends,
    /// without the terminating "." line.
    pub data: Vec<u8>,
}

impl Received {
    pub fn data_str(&self) -> String {
        String::from_utf8(self.data.clone()).expect("message data is not UTF-8")
    }
}

/// Where in a transaction a queued failure answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The (first) RCPT TO.
    Rcpt,
    /// The DATA command itself, instead of 354.
    Data,
    /// The "." that ends the data, instead of 250: the message is dropped.
    EndOfData,
}

#[derive(Clone, Copy, Debug)]
struct Fault {
    stage: Stage,
    code: u16,
}

#[derive(Default)]
struct Shared {
    messages: Vec<Received>,
    faults: VecDeque<Fault>,
    /// Transactions answered with a queued failure.
    rejected: usize,
    connections: usize,
}

pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    shared.lock().unwrap().connections += 1;
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _ = session(stream, shared).await;
                    });
                }
            }
        });
        SmtpSink { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answer the next `n` transactions (counted from MAIL FROM) with `code`
    /// (4xx or 5xx) at `stage`.
    pub fn fail_next(&self, n: usize, stage: Stage, code: u16) {
        assert!((400..600).contains(&code), "not a failure code: {code}");
        let mut shared = self.shared.lock().unwrap();
        for _ in 0..n {
            shared.faults.push_back(Fault { stage, code });
        }
    }

    /// Accepted messages so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().unwrap().messages.clone()
    }

    /// Transactions answered with a queued failure so far.
    pub fn rejected(&self) -> usize {
        self.shared.lock().unwrap().rejected
    }

    pub fn connections(&self) -> usize {
        self.shared.lock().unwrap().connections
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn failure_text(code: u16) -> String {
    match code {
        400..=499 => format!("{code} 4.3.0 Temporary failure, try again later"),
        _ => format!("{code} 5.7.1 Rejected permanently"),
    }
}

/// The address inside `<...>` after a `MAIL FROM:` / `RCPT TO:` prefix
/// (matched case-insensitively), ignoring any parameters after it.
fn path_arg(line: &str, prefix: &str) -> Option<String> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = line[prefix.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_string())
}

async fn reply(w: &mut (impl AsyncWrite + Unpin), line: &str) -> std::io::Result<()> {
    w.write_all(line.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

/// Read one line (up to and including LF); `None` at EOF or when too long.
async fn read_line(
    r: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<()>> {
    buf.clear();
    let n = (&mut *r)
        .take(MAX_LINE as u64)
        .read_until(b'\n', buf)
        .await?;
    if n == 0 || !buf.ends_with(b"\n") {
        return Ok(None);
    }
    Ok(Some(()))
}

async fn session(stream: TcpStream, shared: Arc<Mutex<Shared>>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    reply(&mut w, "220 sink.test ESMTP Firebell test sink").await?;

    let mut helo: Option<String> = None;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut fault: Option<Fault> = None;
    let mut line = Vec::new();

    loop {
        if read_line(&mut r, &mut line).await?.is_none() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let verb = text
            .split(' ')
            .next()
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                let arg = text[4..].trim().to_string();
                if arg.is_empty() {
                    reply(&mut w, "501 5.5.4 Domain name required").await?;
                    continue;
                }
                mail_from = None;
                rcpt_to.clear();
                fault = None;
                if verb == "EHLO" {
                    reply(&mut w, &format!("250-sink.test greets {arg}")).await?;
                    reply(&mut w, "250-8BITMIME").await?;
                    reply(&mut w, &format!("250-SIZE {MAX_MESSAGE}")).await?;
                    reply(&mut w, "250 ENHANCEDSTATUSCODES").await?;
                } else {
                    reply(&mut w, "250 sink.test").await?;
                }
                helo = Some(arg);
            }
            "MAIL" => {
                if helo.is_none() {
                    reply(&mut w, "503 5.5.1 Say EHLO first").await?;
                } else if mail_from.is_some() {
                    reply(&mut w, "503 5.5.1 Nested MAIL command").await?;
                } else if let Some(addr) = path_arg(text, "MAIL FROM:") {
                    mail_from = Some(addr);
                    rcpt_to.clear();
                    fault = shared.lock().unwrap().faults.pop_front();
                    reply(&mut w, "250 2.1.0 Sender OK").await?;
                } else {
                    reply(&mut w, "501 5.5.4 Syntax: MAIL FROM:<address>").await?;
                }
            }
            "RCPT" => {
                if mail_from.is_none() {
                    reply(&mut w, "503 5.5.1 Need MAIL first").await?;
                } else if let Some(addr) = path_arg(text, "RCPT TO:") {
                    match fault {
                        Some(f) if f.stage == Stage::Rcpt => {
                            shared.lock().unwrap().rejected += 1;
                            fault = None;
                            reply(&mut w, &failure_text(f.code)).await?;
                        }
                        _ => {
                            rcpt_to.push(addr);
                            reply(&mut w, "250 2.1.5 Recipient OK").await?;
                        }
                    }
                } else {
                    reply(&mut w, "501 5.5.4 Syntax: RCPT TO:<address>").await?;
                }
            }
            "DATA" => {
                if mail_from.is_none() || rcpt_to.is_empty() {
                    reply(&mut w, "503 5.5.1 Need RCPT first").await?;
                    continue;
                }
                if let Some(f) = fault.filter(|f| f.stage == Stage::Data) {
                    shared.lock().unwrap().rejected += 1;
                    fault = None;
                    reply(&mut w, &failure_text(f.code)).await?;
                    continue;
                }
                reply(&mut w, "354 End data with <CR><LF>.<CR><LF>").await?;
                let mut data = Vec::new();
                loop {
                    if read_line(&mut r, &mut line).await?.is_none() {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    let content = line.strip_prefix(b".").unwrap_or(&line);
                    if data.len() + content.len() > MAX_MESSAGE {
                        reply(&mut w, "552 5.3.4 Message too big").await?;
                        return Ok(());
                    }
                    data.extend_from_slice(content);
                }
                let envelope_from = mail_from.take().unwrap_or_default();
                let recipients = std::mem::take(&mut rcpt_to);
                match fault.take() {
                    Some(f) if f.stage == Stage::EndOfData => {
                        shared.lock().unwrap().rejected += 1;
                        reply(&mut w, &failure_text(f.code)).await?;
                    }
                    _ => {
                        let id = {
                            let mut shared = shared.lock().unwrap();
                            shared.messages.push(Received {
                                helo: helo.clone().unwrap_or_default(),
                                mail_from: envelope_from,
                                rcpt_to: recipients,
                                data,
                            });
                            shared.messages.len()
                        };
                        reply(&mut w, &format!("250 2.0.0 OK queued as {id}")).await?;
                    }
                }
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                fault = None;
                reply(&mut w, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut w, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(&mut w, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => reply(&mut w, "502 5.5.2 Command not recognized").await?,
        }
    }
}
