//! The listener: accepts TCP connections and serves HTTP/1.1 on each, within bounds an
//! anonymous client cannot push past (README.md, "Connections").
//!
//! - A connection that has not sent a complete request head within `header_read_timeout_ms`
//!   of opening, or of its previous answer, is closed. hyper starts that timer whenever the
//!   connection waits for a request head, so it bounds silent sockets, slow request lines
//!   and idle keep-alive connections alike.
//! - At most `max_connections` are open. A connection beyond that closes the oldest one
//!   that is idle (no request in progress); when every one is busy, the new one is closed.
//! - Each connection's read buffer, which holds the request head, is capped at
//!   `max_request_head_bytes` (larger heads get 431).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use super::App;
use crate::config::ServerConfig;

/// How long open connections get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (at most [`DRAIN`]) and returns.
pub async fn serve(listener: TcpListener, app: App, limits: &ServerConfig, shutdown: impl Future<Output = ()>) {
    let table = Arc::new(ConnectionTable::default());
    let (stop, stopping) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_buf_size(limits.max_request_head_bytes)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let Some(connection) = table.admit(limits.max_connections) else {
            crate::metrics::record_connection_shed("refused");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            app.clone(),
            http.clone(),
            connection,
            Arc::clone(&table),
            stopping.clone(),
        ));
    }
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN, async {
        while !table.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = table.len(),
            "shutdown: connections still open after the drain time"
        );
    }
}

/// Accepting fails for the listener (out of file descriptors, say) or for one connection
/// that went away before it was accepted. Either way the loop goes on; after a listener
/// failure it first waits a little so a full descriptor table is not spun on.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::warn!(error = %e, "accept failed; pausing 50 ms");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    app: App,
    http: hyper::server::conn::http1::Builder,
    connection: Arc<Connection>,
    table: Arc<ConnectionTable>,
    mut stopping: watch::Receiver<bool>,
) {
    let busy = Arc::clone(&connection);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let guard = Busy::enter(Arc::clone(&busy));
        let app = app.clone();
        async move {
            let _guard = guard;
            Ok::<_, std::convert::Infallible>(app.answer(request.map(axum::body::Body::new)).await)
        }
    });
    let served = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => {}
        () = connection.evicted.notified() => crate::metrics::record_connection_shed("evicted"),
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
    }
    table.remove(connection.id);
}

/// One open connection, as the table sees it.
#[derive(Debug)]
struct Connection {
    id: u64,
    /// Requests being answered on it now.
    in_flight: AtomicUsize,
    /// Told when a newer connection takes its place.
    evicted: Notify,
}

/// Marks a connection busy while one of its requests is answered.
struct Busy(Arc<Connection>);

impl Busy {
    fn enter(connection: Arc<Connection>) -> Busy {
        connection.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(connection)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, oldest first.
#[derive(Debug, Default)]
struct ConnectionTable {
    open: Mutex<(u64, BTreeMap<u64, Arc<Connection>>)>,
}

impl ConnectionTable {
    /// Registers a new connection if there is room, making room by evicting the oldest
    /// idle one when the table is full. `None`: full, and every connection busy.
    fn admit(&self, max: usize) -> Option<Arc<Connection>> {
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (next_id, open) = &mut *guard;
        if open.len() >= max {
            let oldest_idle = open
                .iter()
                .find(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id)?;
            if let Some(victim) = open.remove(&oldest_idle) {
                victim.evicted.notify_one();
            }
        }
        *next_id += 1;
        let connection = Arc::new(Connection {
            id: *next_id,
            in_flight: AtomicUsize::new(0),
            evicted: Notify::new(),
        });
        open.insert(connection.id, Arc::clone(&connection));
        crate::metrics::set_connections_open(open.len());
        Some(connection)
    }

    fn remove(&self, id: u64) {
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.remove(&id);
        crate::metrics::set_connections_open(guard.1.len());
    }

    fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).1.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_evicts_the_oldest_idle_connection_and_refuses_when_all_are_busy() {
        let table = ConnectionTable::default();
        let first = table.admit(2).unwrap();
        let second = table.admit(2).unwrap();
        let _busy = Busy::enter(Arc::clone(&first));
        // The first is busy: the second, the oldest idle one, gives way.
        let third = table.admit(2).unwrap();
        assert_eq!(table.len(), 2);
        let open: Vec<u64> = table.open.lock().unwrap().1.keys().copied().collect();
        assert_eq!(open, vec![first.id, third.id]);
        let _busy_too = Busy::enter(Arc::clone(&third));
        assert!(table.admit(2).is_none());
        drop(second);
    }
}
