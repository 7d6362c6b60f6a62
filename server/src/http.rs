//! The HTTP/1.1 and HTTP/2 server loop (hyper) around the poem endpoint, with the bounds
//! poem's own `Server` lacks: a client has [`Limits::header_timeout`] to send each
//! request's headers (counted from the connection's start, or from the previous response
//! on a kept-alive connection), so neither a slow sender nor an idle connection holds a
//! socket for long; at most [`Limits::max_connections`] are open at once, and past that
//! new ones wait in the listen queue instead of taking the process's last file
//! descriptors. A connection that sends nothing is dropped after the header timeout
//! as well.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, Response};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What one client may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The time a client has to send a request's headers; an idle kept-alive connection
    /// is closed after it too.
    pub header_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long requests in flight may take to finish once shutdown begins.
    pub grace: Duration,
}

/// Serves `endpoint` on `listener` until `shutdown` completes, then lets the requests in
/// flight finish (up to [`Limits::grace`]).
///
/// # Errors
/// When the listener's address cannot be read.
///
/// # Panics
/// Never: the connection semaphore is never closed.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static, Response>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = LocalAddr(Addr::SocketAddr(listener.local_addr()?));
    let endpoint = Arc::new(endpoint);
    let mut http1 = auto::Builder::new(TokioExecutor::new()).http1_only();
    http1
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut http2 = auto::Builder::new(TokioExecutor::new()).http2_only();
    http2
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let builders = Arc::new((http1, http2));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut full = false;
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let now_full = slots.available_permits() == 0;
        if now_full && !full {
            tracing::warn!(
                max = limits.max_connections,
                "connection limit reached; new connections wait"
            );
        }
        full = now_full;
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or memory, or the peer gave up already: wait a
                    // little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let builders = builders.clone();
        let service = {
            let (endpoint, local) = (endpoint.clone(), local.clone());
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let endpoint = endpoint.clone();
                let request = poem::Request::from((
                    req,
                    local.clone(),
                    RemoteAddr(Addr::SocketAddr(remote)),
                    Scheme::HTTP,
                ));
                async move {
                    let response: hyper::Response<_> = endpoint.get_response(request).await.into();
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let watcher = graceful.watcher();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            // The slot is the connection's for as long as this task runs.
            let _slot = slot;
            let builder = match sniff(&stream, header_timeout).await {
                Some(Protocol::Http1) => &builders.0,
                Some(Protocol::Http2) => &builders.1,
                None => return,
            };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%remote, error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?limits.grace, "requests still in flight after the grace period");
    }
    Ok(())
}

/// How a connection speaks.
enum Protocol {
    Http1,
    /// HTTP/2 with prior knowledge (h2c): it opens with the connection preface.
    Http2,
}

/// The protocol, told by the first bytes; `None` when the client sent none that tell
/// within `limit` (hyper's own sniffing would wait for them forever).
async fn sniff(stream: &tokio::net::TcpStream, limit: Duration) -> Option<Protocol> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let decide = async {
        let mut buffer = [0; PREFACE.len()];
        loop {
            let n = stream.peek(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            if !PREFACE.starts_with(&buffer[..n]) {
                return Some(Protocol::Http1);
            }
            if n == PREFACE.len() {
                return Some(Protocol::Http2);
            }
            // Part of the preface: peeking again at once would see the same bytes.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(limit, decide).await.ok().flatten()
}
