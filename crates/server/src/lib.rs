//! Firebell's HTTP server: the JSON API, authentication, operations endpoints
//! and policy reload, around the pure core and the store.
//!
//! - [`api`]: `/api/v1` — incidents and their commands, policy, tokens, OpenAPI;
//!   and the ingest front doors: `/api/v2` (Alertmanager), `/v2/enqueue`
//!   (PagerDuty Events), `/api/v1/webhooks/{name}` (signed webhooks).
//! - [`console`]: `/`, `/login`, `/incidents/{id}` — the web console
//!   (sign in with a token; a session cookie).
//! - [`status_page`]: `/status` — the public status page, its Atom feed and
//!   Statuspage's JSON API (no token).
//! - [`ops`]: `/health`, `/ready`, `/metrics` (no token).
//! - [`auth`]: bearer tokens and roles.
//! - [`error`]: the one place errors become HTTP responses.
//! - [`health`]: heartbeats and HTTP/TCP health checks, reported as alerts.
//! - [`policy_source`]: the live policy, validated hot reload.
//! - [`clock`]: "now", injectable so tests drive time by hand; [`skew`]:
//!   the guard that stops a replica whose clock is wrong from claiming work.
//!
//! [`Server::open`] wires it together; [`Server::serve`] runs it on a listener
//! the caller bound (tests bind port 0) until the shutdown future completes.

pub mod api;
pub mod auth;
pub mod changes;
pub mod clock;
pub mod command;
pub mod connections;
pub mod console;
pub mod duties;
pub mod error;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod policy_source;
pub mod retention;
pub mod scheduler;
pub mod set_aside;
pub mod skew;
pub mod status_page;
pub mod tracker;
pub mod upstream;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use firebell_store::Store;
use tokio::net::TcpListener;

pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use connections::ConnectionLimits;
pub use policy_source::{PolicyHandle, PolicySource};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What handlers share, behind one `Arc`: axum clones the state for every
/// request, and cloning each handle inside it cost a fifth of the ingest
/// rate at one alert per request (a hundred contended reference counts).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The command path, the stores of state, and each background worker's
/// handle (a worker holds only its own).
pub struct Shared {
    /// The one path every change to an incident takes.
    pub incidents: command::Incidents,
    pub store: Store,
    pub policy: PolicyHandle,
    /// The clock every component reads: [`Shared::clock_guard`] seen as a
    /// [`Clock`].
    pub clock: Arc<dyn Clock>,
    /// The same clock with its measured offset from the database's.
    pub clock_guard: Arc<skew::ClockGuard>,
    /// Where every alert source hands its alerts (group commit).
    pub ingest: ingest::IngestQueue,
    /// The alert pipeline (reads settle the ingest log through it).
    pub pipeline: ingest::Pipeline,
    pub processor: ingest::processor::Processor,
    pub scheduler: scheduler::Scheduler,
    pub dispatcher: notify::dispatch::Dispatcher,
    /// Health checks and the heartbeat monitor, with their memory.
    pub monitors: health::Monitors,
    pub retention: retention::Retention,
    pub started_at: firebell_core::Timestamp,
    /// Recently verified API tokens (see [`auth::TokenCache`]).
    pub tokens: Arc<auth::TokenCache>,
    /// Signs and checks the links in notifications.
    pub links: Arc<notify::links::Links>,
    /// The public status page's renderings.
    pub status_pages: status_page::StatusPages,
    /// Wakes the subscribers' fan-out and outbox (a sign-up, new messages).
    pub subscriber_wake: Arc<tokio::sync::Notify>,
    /// The web console's templates.
    pub console: console::Console,
    /// Files action items as issues and reads them back.
    pub tracker: tracker::IssueTracker,
    /// Polls upstream providers' status pages.
    pub upstreams: upstream::Upstreams,
    /// Recurring duties: reminders, monitoring checks.
    pub duties: duties::Duties,
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub database_url: String,
    pub policy: PolicySource,
    /// How often the policy file's modification time is checked.
    pub policy_poll: std::time::Duration,
    /// Run the alert processor, the health checks and the heartbeat monitor
    /// in the background (off in tests that drive them by hand with
    /// `ingest::processor::process_pending`, `health::checks::run_check_once`
    /// and `health::heartbeats::check_heartbeats_once`).
    pub background_processing: bool,
    /// Base URL people reach this server at, for links in notifications;
    /// default `http://<the bound address>`.
    pub public_url: Option<String>,
    /// Timeouts and the connection limit that keep slow or silent clients
    /// from holding connections.
    pub connections: ConnectionLimits,
    /// Largest disagreement with the database's clock before this replica
    /// stops claiming timed work (see [`skew`]).
    pub max_clock_skew: std::time::Duration,
}

pub struct Server {
    pub state: AppState,
    hangup: policy_source::Hangup,
    ingest_rx: ingest::IngestReceiver,
    background_processing: bool,
    public_url: Option<String>,
    connections: ConnectionLimits,
}

impl Server {
    /// Connect and migrate the database and load the policy; fails with a
    /// readable message if either is unusable.
    pub async fn open(config: &ServerConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
        // Before anything is counted: what start-up records (the backlog a
        // crash left, the migrations' queries) is not lost.
        let _ = metrics::handle();
        let policy =
            PolicyHandle::load(config.policy.clone(), clock.now()).map_err(anyhow::Error::msg)?;
        let store = Store::connect(&config.database_url).await.map_err(|e| {
            anyhow::anyhow!("cannot open database {}: {e}", redact(&config.database_url))
        })?;
        store.lock_alerts().await.map_err(|e| {
            anyhow::anyhow!("cannot open database {}: {e}", redact(&config.database_url))
        })?;
        // Measured before any worker starts, so a replica started with a
        // wrong clock claims nothing even once.
        let clock_guard = Arc::new(skew::ClockGuard::new(clock, config.max_clock_skew));
        clock_guard.check(&store).await;
        let clock: Arc<dyn Clock> = clock_guard.clone();
        // Take over SIGHUP now, before anyone is told the server is up.
        let hangup = policy_source::Hangup::register();
        let (ingest, ingest_rx) = ingest::queue(policy.clone(), clock.clone());
        let started_at = clock.now();
        let schedule = scheduler::SchedulerWake::default();
        let deliver = notify::dispatch::DeliverWake::default();
        let link_key = store
            .setting_or_init("ack_link_key", &hex::encode(rand::random::<[u8; 32]>()))
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the link signing key: {e}"))?;
        let links = Arc::new(notify::links::Links::new(
            &link_key,
            config.public_url.as_deref().unwrap_or("http://127.0.0.1"),
        ));
        let replica: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let incidents = command::Incidents::new(
            store.clone(),
            policy.clone(),
            clock.clone(),
            schedule.clone(),
            deliver.clone(),
            links.clone(),
        );
        let pipeline = ingest::Pipeline {
            store: store.clone(),
            policy: policy.clone(),
            clock: clock.clone(),
            ingest: ingest.clone(),
            wake: Default::default(),
            urgent: Default::default(),
            fast_lane: Default::default(),
            incidents: incidents.clone(),
        };
        // A log left full by a crash counts against the backlog limit from
        // the first request on, not once the merger has drained it.
        ingest::refresh_backlog(&pipeline).await?;
        let state = AppState(Arc::new(Shared {
            processor: ingest::processor::Processor::new(incidents.clone(), pipeline.clone()),
            scheduler: scheduler::Scheduler::new(incidents.clone(), schedule),
            dispatcher: notify::dispatch::Dispatcher::new(
                store.clone(),
                policy.clone(),
                clock.clone(),
                links.clone(),
                deliver,
            ),
            monitors: health::Monitors::new(
                pipeline.clone(),
                health::HealthState::new()?,
                replica.clone(),
                started_at,
            ),
            tracker: tracker::IssueTracker::new(replica.clone()),
            upstreams: upstream::Upstreams::new(replica.clone()),
            duties: duties::Duties::new(replica.clone()),
            retention: retention::Retention {
                store: store.clone(),
                policy: policy.clone(),
                clock: clock.clone(),
                replica,
            },
            incidents,
            pipeline,
            store,
            policy,
            clock,
            clock_guard,
            ingest,
            started_at,
            tokens: Default::default(),
            links,
            status_pages: Default::default(),
            subscriber_wake: Default::default(),
            console: Default::default(),
        }));
        Ok(Server {
            state,
            hangup,
            ingest_rx,
            background_processing: config.background_processing,
            public_url: config.public_url.clone(),
            connections: config.connections,
        })
    }

    /// On an empty database, mint the first admin token and return its secret
    /// (to be shown once). `None` if any token already exists.
    pub async fn bootstrap_admin_token(&self) -> anyhow::Result<Option<String>> {
        if self.state.store.count_tokens().await? > 0 {
            return Ok(None);
        }
        let (_, secret) = auth::create_token(
            &self.state.store,
            "admin",
            auth::Role::Admin,
            self.state.clock.now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the first admin token: {e}"))?;
        Ok(Some(secret))
    }

    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serve until `shutdown` completes, then finish in-flight requests and
    /// close the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        policy_poll: std::time::Duration,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self.router();
        let Server {
            state,
            hangup,
            ingest_rx,
            background_processing,
            public_url,
            connections,
        } = self;
        if public_url.is_none()
            && let Ok(addr) = listener.local_addr()
        {
            state.links.set_base(&format!("http://{addr}"));
        }
        let mut tasks = vec![
            tokio::spawn(policy_source::watch(
                state.policy.clone(),
                state.clock.clone(),
                policy_poll,
                hangup,
            )),
            tokio::spawn(ingest::run_writer(state.pipeline.clone(), ingest_rx.all)),
            tokio::spawn(skew::run(state.clock_guard.clone(), state.store.clone())),
        ];
        let new_groups_writer = ingest::run_writer(state.pipeline.clone(), ingest_rx.new_groups);
        // Only a server that runs its workers needs the paging thread.
        let mut paging = None;
        if !background_processing {
            tasks.push(tokio::spawn(new_groups_writer));
        } else {
            let paging = paging.insert(PagingThread::start());
            // New groups' reports are on the paging path from the start.
            tasks.push(paging.spawn(new_groups_writer));
            tasks.push(tokio::spawn(ingest::run_merger(state.pipeline.clone())));
            tasks.push(tokio::spawn(ingest::processor::run(
                state.processor.clone(),
            )));
            tasks.push(paging.spawn(ingest::processor::run_fast_lane(state.processor.clone())));
            tasks.push(tokio::spawn(health::checks::run(state.monitors.clone())));
            tasks.push(tokio::spawn(health::heartbeats::run(
                state.monitors.clone(),
            )));
            tasks.push(paging.spawn(scheduler::run(state.scheduler.clone())));
            tasks.push(paging.spawn(notify::dispatch::run(state.dispatcher.clone())));
            tasks.push(tokio::spawn(retention::run(state.retention.clone())));
            tasks.push(tokio::spawn(status_page::subscribers::deliver::run(
                state.clone(),
            )));
            tasks.push(tokio::spawn(tracker::run(state.clone())));
            tasks.push(tokio::spawn(upstream::run(state.clone())));
            tasks.push(tokio::spawn(duties::run(state.clone())));
        }
        connections::serve(listener, app, connections, shutdown).await;
        for task in tasks {
            task.abort();
        }
        drop(paging);
        state.store.close().await;
        Ok(())
    }
}

/// The paging path's own thread: the fast lane, the scheduler and the
/// dispatcher run on a runtime of their own. Under a flood, parsing requests
/// keeps the main runtime's workers busy, and a woken task waits in their
/// queues behind it; a thread of its own is scheduled by the OS instead, so
/// a page is not delayed by the requests that caused it.
struct PagingThread {
    handle: Option<tokio::runtime::Handle>,
    /// Dropped to stop the runtime (its tasks are cancelled).
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl PagingThread {
    fn start() -> PagingThread {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, handle) = std::sync::mpsc::channel();
        let started = std::thread::Builder::new()
            .name("firebell-paging".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            });
        let handle = match started {
            Ok(_) => handle
                .recv()
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string())),
            Err(e) => Err(e.to_string()),
        };
        match handle {
            Ok(handle) => PagingThread {
                handle: Some(handle),
                _stop: Some(stop),
            },
            Err(e) => {
                tracing::warn!(error = %e, "no thread of its own for paging; it shares the main runtime");
                PagingThread {
                    handle: None,
                    _stop: None,
                }
            }
        }
    }

    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.handle {
            Some(handle) => handle.spawn(task),
            None => tokio::spawn(task),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let _ = metrics::handle();
    Router::new()
        .nest("/api/v1", api::router(state.clone()))
        .nest("/api/v2", api::alertmanager::router(state.clone()))
        // Senders that cannot send a bearer token authenticate otherwise: a
        // PagerDuty routing key, an HMAC signature.
        .merge(api::pagerduty::router())
        .merge(api::webhooks::router())
        // The signed token in the link is the credential.
        .merge(api::ack::router())
        // Public: what customers see.
        .merge(status_page::router())
        // People in a browser: a session cookie, not a bearer token.
        .merge(console::router(state.clone()))
        .merge(ops::router())
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(metrics::track_requests))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
