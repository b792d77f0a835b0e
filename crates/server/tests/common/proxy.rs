//! A TCP proxy between the server and its database, so a test can take the
//! database away without touching the shared PostgreSQL server: [`Proxy::cut`]
//! severs every proxied connection at once and stops listening (new
//! connections are refused, as from a server that is down), and
//! [`Proxy::restore`] listens again on the same port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: String,
    /// Bumped on every cut; each connection's pipe ends when it changes.
    generation: watch::Sender<u64>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// Listen on an ephemeral port of 127.0.0.1 and forward to `upstream`
    /// (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (generation, _) = watch::channel(0);
        let proxy = Proxy {
            addr,
            upstream: upstream.to_string(),
            generation,
            accept: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    /// `url` (a database URL naming the upstream) pointed at the proxy.
    pub fn url(&self, url: &str) -> String {
        let mut url = reqwest::Url::parse(url).unwrap();
        url.set_host(Some(&self.addr.ip().to_string())).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.to_string()
    }

    /// The database "goes away": every open connection is closed and new ones
    /// are refused until [`Proxy::restore`].
    pub fn cut(&self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// The database is back, on the same address.
    pub async fn restore(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        // The aborted accept task drops its listener asynchronously.
        let mut tries = 0;
        while let Err(e) = socket.bind(self.addr) {
            tries += 1;
            assert!(tries < 100, "cannot listen on {} again: {e}", self.addr);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.serve(socket.listen(128).unwrap());
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream.clone();
        let generation = self.generation.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                let mut cut = generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }
}

/// `host:port` of a database URL.
pub fn host_port(url: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap_or(5432)
    )
}
