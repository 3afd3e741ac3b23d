//! Threads for the executor, and [`Background`]: a whole server on its own threads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use smol::Executor;
use smol::channel::{Receiver, Sender};

use crate::config::{ConfigError, ServeConfig};
use crate::server::{ServeError, Server};

/// Runs a server on `threads` executor threads (the caller's included) until `shutdown`
/// yields or closes, applying each configuration from `reloads`. `ready` gets the bound
/// address once the server listens.
pub fn run_server(
    config: ServeConfig,
    threads: usize,
    shutdown: Receiver<()>,
    reloads: Receiver<Result<ServeConfig, ConfigError>>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let ex = Arc::new(Executor::new());
    let (stop_workers, workers_stop) = smol::channel::bounded::<()>(1);
    let mut workers = Vec::new();
    for i in 1..threads.max(1) {
        let ex = Arc::clone(&ex);
        let stop = workers_stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("torpor-{i}"))
            .spawn(move || smol::block_on(ex.run(async { while stop.recv().await.is_ok() {} })))
            .map_err(ServeError::Io)?;
        workers.push(handle);
    }
    let result = smol::block_on(ex.run(async {
        let server = Server::bind(config, Arc::clone(&ex)).await?;
        ready(server.local_addr().map_err(ServeError::Io)?);
        server
            .run(
                async {
                    let _ = shutdown.recv().await;
                },
                reloads,
            )
            .await;
        Ok(())
    }));
    drop(stop_workers);
    for w in workers {
        let _ = w.join();
    }
    result
}

/// A server running on its own threads, for tests, benches and embedders.
pub struct Background {
    addr: SocketAddr,
    stop: Sender<()>,
    reloads: Sender<Result<ServeConfig, ConfigError>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl Background {
    /// Binds and starts serving; returns once the server listens.
    pub fn start(config: ServeConfig, threads: usize) -> Result<Self, ServeError> {
        let (stop, stopped) = smol::channel::bounded(1);
        let (reloads, reloaded) = smol::channel::unbounded();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("torpor-server".into())
            .spawn(move || {
                run_server(config, threads, stopped, reloaded, move |addr| {
                    let _ = addr_tx.send(addr);
                })
            })
            .map_err(ServeError::Io)?;
        match addr_rx.recv() {
            Ok(addr) => Ok(Self {
                addr,
                stop,
                reloads,
                thread: Some(thread),
            }),
            // The server failed before listening: its error says why.
            Err(_) => Err(thread
                .join()
                .ok()
                .and_then(Result::err)
                .unwrap_or_else(|| ServeError::Core("server thread ended".to_owned()))),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies a reloaded configuration, as SIGHUP does for the binary.
    pub fn reload(&self, config: ServeConfig) {
        let _ = self.reloads.try_send(Ok(config));
    }

    /// Graceful shutdown; returns when the server has stopped.
    pub fn stop(mut self) -> Result<(), ServeError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ServeError> {
        let _ = self.stop.try_send(());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(ServeError::Core("server thread panicked".to_owned()))),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
