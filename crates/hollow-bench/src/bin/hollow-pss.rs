//! `hollow-pss`: memory of N consumer processes serving the same version of a local store.
//!
//! ```text
//! cargo run --release -p hollow-bench --bin hollow-pss -- --movies 1000000 --processes 8
//! cargo run --release -p hollow-bench --bin hollow-pss -- --movies 1000000 --private
//! ```
//!
//! It publishes one version of the movies dataset into a local store, starts one consumer
//! process alone and then `--processes` together (this binary with `--child`), each of which
//! opens the store as a `Consumer` (blobs mapped in place, or copied into private memory with
//! `--private`), reads every movie and actor and looks each movie up by key, says `ready` on
//! stdout and holds its state until its stdin closes. The parent reads each child's PSS from
//! `/proc` once all are ready.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};

use clap::Parser;
use hollow::{BlobStore, Consumer, MemoryMode, Producer};
use hollow_bench::Result;
use hollow_bench::pss::{SharedMemoryReport, process_memory};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

/// Memory of many consumer processes serving one version.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Movies in the published version (actors are a quarter of that).
    #[arg(long, default_value_t = 100_000)]
    movies: u64,
    /// Consumer processes running together.
    #[arg(long, default_value_t = 8)]
    processes: usize,
    /// Consumers copy blobs into private memory (MemoryMode::Private) instead of mapping them.
    #[arg(long)]
    private: bool,
    /// Use (or create) the store in this directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Internal: run as a consumer child on the store DIR.
    #[arg(long, hide = true, value_name = "DIR")]
    child: Option<PathBuf>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Publishes one version of `movies` movies into `dir` unless a version is there already.
fn publish(dir: &Path, movies: u64) -> Result<()> {
    runtime()?.block_on(async {
        let store = BlobStore::local(dir)?;
        if store.announcement().await?.is_some() {
            return Ok(());
        }
        let producer = Producer::builder(store, "movies")
            .register::<movie::Owned>()
            .register::<actor::Owned>()
            .build()
            .await?;
        let data = Dataset::new(movies);
        producer
            .run_cycle(|cycle| {
                let mut message = capnp::message::Builder::new_default();
                for a in data.actors(0) {
                    a.build(message.init_root::<actor::Builder>());
                    cycle.add::<actor::Owned>(message.get_root_as_reader()?)?;
                }
                for m in data.movies(0) {
                    m.build(message.init_root::<movie::Builder>());
                    cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    })
}

/// The child: load, touch everything, say ready, hold until stdin closes.
fn child(dir: &Path, private: bool) -> Result<()> {
    let rt = runtime()?;
    let consumer = rt.block_on(async {
        let consumer = Consumer::builder(BlobStore::local(dir)?)
            .map_local_store_in_place(true)
            .memory_mode(if private {
                MemoryMode::Private
            } else {
                MemoryMode::Shared
            })
            .build()
            .await?;
        consumer.refresh().await?;
        Ok::<_, hollow_bench::Error>(consumer)
    })?;
    let state = consumer.state().ok_or("nothing announced")?;
    let movies = state.table::<movie::Owned>()?;
    let mut touched = 0u64;
    for (_, m) in movies.iter() {
        touched = touched.wrapping_add(m.get_title()?.len() as u64);
        let found = movies
            .get_by_key(m.get_id())?
            .ok_or("a movie's key not found")?;
        touched = touched.wrapping_add(found.get_id());
    }
    let actors = state.table::<actor::Owned>()?;
    for (_, a) in actors.iter() {
        touched = touched.wrapping_add(a.get_name()?.len() as u64);
    }
    println!("ready {touched}");
    std::io::stdout().flush()?;
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink)?;
    drop(consumer);
    Ok(())
}

struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

fn spawn(dir: &Path, private: bool) -> Result<Running> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("--child").arg(dir);
    if private {
        command.arg("--private");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    Ok(Running { child, stdout })
}

/// Waits for the child's `ready` line (the synchronisation point: no sleeps).
fn ready(running: &mut Running) -> Result<()> {
    let mut line = String::new();
    running.stdout.read_line(&mut line)?;
    if line.starts_with("ready") {
        Ok(())
    } else {
        Err(format!("consumer child did not get ready: {line:?}").into())
    }
}

fn stop(mut running: Running) -> Result<()> {
    drop(running.child.stdin.take());
    let status = running.child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("consumer child failed: {status}").into())
    }
}

fn measure(args: &Args, dir: &Path) -> Result<SharedMemoryReport> {
    let store = dir.canonicalize()?;
    let blob_bytes = walk_bytes(&store)?;
    let mut alone = spawn(&store, args.private)?;
    ready(&mut alone)?;
    let one = process_memory(alone.child.id(), &store)?;
    stop(alone)?;
    let mut running = Vec::with_capacity(args.processes);
    for _ in 0..args.processes {
        running.push(spawn(&store, args.private)?);
    }
    for r in &mut running {
        ready(r)?;
    }
    let each = running
        .iter()
        .map(|r| process_memory(r.child.id(), &store))
        .collect::<Result<Vec<_>>>()?;
    for r in running {
        stop(r)?;
    }
    Ok(SharedMemoryReport {
        mode: if args.private { "private" } else { "shared" }.to_string(),
        blob_bytes,
        one,
        each,
    })
}

fn walk_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += walk_bytes(&entry.path())?;
        } else if entry.path().extension().is_some_and(|e| e == "blob") {
            total += meta.len();
        }
    }
    Ok(total)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main_inner(args: &Args) -> Result<()> {
    if let Some(dir) = &args.child {
        return child(dir, args.private);
    }
    let temp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    publish(&dir, args.movies)?;
    let report = measure(args, &dir)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{} consumer processes, {} memory, {} movies, blobs {:.1} MiB",
        report.each.len(),
        report.mode,
        args.movies,
        mib(report.blob_bytes)
    );
    println!("| | PSS total | of it anonymous | of it blob mappings (RSS) |\n|---|--:|--:|--:|");
    println!(
        "| one process alone | {:.1} MiB | {:.1} MiB | {:.1} MiB ({:.1}) |",
        mib(report.one.pss),
        mib(report.one.pss_anon),
        mib(report.one.blob_pss),
        mib(report.one.blob_rss)
    );
    println!(
        "| {} processes together, sum | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        report.each.len(),
        mib(report.total_pss()),
        mib(report.total_anon()),
        mib(report.total_blob_pss())
    );
    println!(
        "sum of PSS / one process's PSS = {:.2}",
        report.total_ratio()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match main_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
