//! `hollow serve`: a read-only web explorer of a dataset — HTML pages with a JSON API behind
//! each (`/api/…`, the CLI's `--json` shapes), server-sent events when a new version arrives,
//! Prometheus metrics and health checks. One live consumer follows the announcements; a URL
//! naming `?version=N` is served from a small cache of states opened on demand.
//!
//! Modules: `explorer` (the consumer, the cache of pinned states, the timeline), `params`
//! (query strings), `error` (404/400/503 as JSON or a page), `model` (what each page shows,
//! serializable), `links` (record → related records), `html` (the pages, `maud`), `assets`
//! (CSS and JS compiled in), `metrics` (Prometheus registries and the listeners feeding them),
//! `router` (routes, limits, handlers).

mod assets;
mod error;
mod explorer;
mod html;
mod links;
pub mod metrics;
mod model;
mod params;
mod router;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tracing::info;

use crate::data::StoreArgs;

/// The target of serve's log lines.
pub const LOG_TARGET: &str = "hollow::serve";

/// `hollow serve`'s options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on. Loopback by default: the explorer has no authentication, so
    /// expose it beyond this machine only behind a proxy that has. Port 0 picks a free port
    /// (the address is logged: "listening on http://…").
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub bind: SocketAddr,
    /// How often to read the announcement: 500ms, 2s, 1m.
    #[arg(long, default_value = "1s", value_parser = crate::follow::duration)]
    pub poll_interval: Duration,
    /// /readyz fails when the announced (or pinned) version has been newer than the served
    /// one for longer than this: 500ms, 30s, 5m.
    #[arg(long, default_value = "30s", value_parser = crate::follow::duration)]
    pub ready_max_lag: Duration,
    /// States of versions named in URLs (`?version=N`) kept open besides the live one.
    #[arg(long, default_value_t = 4)]
    pub pinned_states: usize,
    #[command(flatten)]
    pub push: crate::push::PushArgs,
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(args: &ServeArgs) -> Result<()> {
    let stop = crate::follow::stop_signal()?;
    let explorer = explorer::Explorer::start(args).await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("--bind {}", args.bind))?;
    let address = listener.local_addr()?;
    info!(target: LOG_TARGET, store = args.store.location(), "listening on http://{address}");
    // Also on stderr whatever the log level: scripts (and the tests) read the port from it.
    eprintln!("listening on http://{address}");
    let explorer = Arc::new(explorer);
    explorer.warm_up();
    let app = router::router(explorer);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let signal = stop.await;
            info!(target: LOG_TARGET, signal, "stopping");
        })
        .await
        .context("serving")?;
    Ok(())
}
