//! The serving loop: HTTP/1 connections, at most [`ConnectionLimits::max_connections`]
//! at a time, each closed once it holds its slot without using it.
//!
//! A connection is always in one of three phases:
//! - **head**: from accept, or from the first byte after an idle spell, the
//!   client has `header_read_timeout` to finish the request line and headers;
//! - **busy**: a request is in the router. Handlers bound their own waits; the
//!   request body must have arrived `body_read_timeout` after the head
//!   ([`DeadlineBody`]), or reading it fails with [`BodyTimeout`] (408);
//! - **idle**: after a response, the connection is kept until no byte has
//!   moved either way for `idle_timeout`.
//!
//! A head or idle connection past its deadline is dropped (the socket closes;
//! nothing is in flight to lose). hyper's own header-read timeout is off: it
//! also runs while a kept-alive connection waits for its next request, so it
//! cannot tell a slow client from an idle one.
//!
//! Past the limit the loop stops accepting until a slot frees: waiting
//! connections queue in the kernel's backlog rather than being accepted and
//! closed, so a burst delays clients instead of failing them, and the
//! timeouts above bound how long anyone can keep a slot without using it.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one client may hold, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a request line and headers, counted from accept or from
    /// the first byte after an idle spell.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may stay silent between requests.
    pub idle_timeout: Duration,
    /// Time to send a request body, counted from the end of its headers.
    pub body_read_timeout: Duration,
    /// Connections open at once; past it, accepting waits for a slot.
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Longer than the 60 s most load balancers keep an idle upstream
    /// connection, so the balancer, not the server, closes it first and never
    /// sends a request on a connection the server is closing.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
    /// The largest body (8 MiB on `/api/v2/alerts`) at about 140 KB/s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serve `router` on `listener` until `shutdown` completes; then stop
/// accepting, let every connection finish its request in flight, and return
/// once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    // A semaphore counts permits in u32 when taking many at once.
    let slots_total = limits.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(slots_total));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            stream,
            router.clone(),
            limits,
            stop_rx.clone(),
            slot,
        ));
    }
    drop(listener);
    stop_tx.send_replace(true);
    // Each connection holds its slot until it closes: all slots back, all done.
    let _all = slots.acquire_many(slots_total as u32).await;
}

/// A connection that failed before it was taken is that client's problem;
/// anything else (out of file descriptors) calls for a pause, not a spin.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let phase = Arc::new(Phase::new(limits));
    let peer = stream.peer_addr().ok();
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: stream,
        phase: phase.clone(),
    });
    let service = ConnService {
        router,
        peer,
        phase: phase.clone(),
        body_read_timeout: limits.body_read_timeout,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            expired = phase.expired() => {
                tracing::debug!(?expired, "closing a connection past its deadline");
                metrics::counter!("firebell_http_connections_timed_out_total", "phase" => expired.as_str())
                    .increment(1);
                return;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                // Finishes the request in flight, then closes; an idle
                // connection closes at once.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Which deadline closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expired {
    Head,
    Idle,
}

impl Expired {
    fn as_str(self) -> &'static str {
        match self {
            Expired::Head => "head",
            Expired::Idle => "idle",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    Head { until: Instant },
    Busy { requests: usize },
    Idle { until: Instant },
}

/// One connection's phase, moved by its socket ([`Watched`]) and its
/// requests ([`ConnService`]), watched by [`Phase::expired`].
struct Phase {
    state: Mutex<State>,
    /// Told of every move that can bring a deadline closer; the one waiter
    /// keeps a missed notification as a permit.
    moved: Notify,
    limits: ConnectionLimits,
}

impl Phase {
    fn new(limits: ConnectionLimits) -> Phase {
        Phase {
            state: Mutex::new(State::Head {
                until: Instant::now() + limits.header_read_timeout,
            }),
            moved: Notify::new(),
            limits,
        }
    }

    fn update(&self, f: impl FnOnce(State) -> State) {
        let mut state = self.state.lock().expect("never poisoned");
        *state = f(*state);
    }

    /// Bytes arrived: after an idle spell they start the next request's head.
    fn read(&self) {
        let mut state = self.state.lock().expect("never poisoned");
        if let State::Idle { .. } = *state {
            *state = State::Head {
                until: Instant::now() + self.limits.header_read_timeout,
            };
            drop(state);
            self.moved.notify_one();
        }
    }

    /// Bytes left: an idle connection still sending its response is not idle.
    /// The deadline only moves later, so the watcher need not be told.
    fn wrote(&self) {
        let idle = self.limits.idle_timeout;
        self.update(|s| match s {
            State::Idle { .. } => State::Idle {
                until: Instant::now() + idle,
            },
            other => other,
        });
    }

    fn request_started(&self) {
        self.update(|s| match s {
            State::Busy { requests } => State::Busy {
                requests: requests + 1,
            },
            _ => State::Busy { requests: 1 },
        });
        self.moved.notify_one();
    }

    fn request_ended(&self) {
        let idle = self.limits.idle_timeout;
        self.update(|s| match s {
            State::Busy { requests } if requests > 1 => State::Busy {
                requests: requests - 1,
            },
            _ => State::Idle {
                until: Instant::now() + idle,
            },
        });
        self.moved.notify_one();
    }

    /// Resolves once the connection is past the deadline of its phase.
    async fn expired(&self) -> Expired {
        loop {
            let deadline = match *self.state.lock().expect("never poisoned") {
                State::Head { until } => Some((until, Expired::Head)),
                State::Idle { until } => Some((until, Expired::Idle)),
                State::Busy { .. } => None,
            };
            match deadline {
                Some((until, why)) if until <= Instant::now() => return why,
                Some((until, _)) => tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    () = self.moved.notified() => {}
                },
                None => self.moved.notified().await,
            }
        }
    }
}

/// The socket, reporting to the connection's [`Phase`] whenever bytes move.
struct Watched {
    inner: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.phase.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.phase.wrote();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.phase.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The router, as hyper calls it on one connection.
#[derive(Clone)]
struct ConnService {
    router: Router,
    /// The client's address, for handlers as axum's `ConnectInfo`.
    peer: Option<std::net::SocketAddr>,
    phase: Arc<Phase>,
    body_read_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<axum::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.phase.request_started();
        let until = Instant::now() + self.body_read_timeout;
        let mut req = req.map(|body| DeadlineBody::new(body, until, self.body_read_timeout));
        if let Some(peer) = self.peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let router = self.router.clone();
        let phase = self.phase.clone();
        Box::pin(async move {
            let response = router.oneshot(req).await;
            phase.request_ended();
            response
        })
    }
}

/// Reading a request body failed because it had not all arrived in time.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .limit.as_secs_f64())]
pub struct BodyTimeout {
    pub limit: Duration,
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes.
/// The timer is made only when the body is not already all there.
pub struct DeadlineBody {
    inner: Incoming,
    until: Instant,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, until: Instant, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            until,
            limit,
            timer: None,
        }
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let until = this.until;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout { limit: this.limit })))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
