//! `hollow demo`: the README's main job. A producer publishes several cycles of the movies
//! dataset (generated in-process) into a local directory; then the newest snapshot is mapped
//! back and read. Counts, bytes and timings are printed along the way.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hollow::{BlobStore, Consumer, CycleOutcome, Producer, RefreshEvent, WriteOptions};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

/// Arguments of `hollow demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Movies in the dataset (actors are a quarter of that).
    #[arg(long, default_value_t = 100_000)]
    movies: u64,
    /// Cycles to produce (each later cycle updates ~1%, removes ~0.5%, adds ~0.5% of movies).
    #[arg(long, default_value_t = 4)]
    cycles: u64,
    /// Directory of the dataset (a local store). An existing dataset there is restored and
    /// continued.
    #[arg(long, default_value = "hollow-data/demo")]
    dir: PathBuf,
    /// Write a snapshot every N cycles (deltas in between).
    #[arg(long, default_value_t = 4)]
    snapshot_every: u32,
    /// Write without pointer-aliasing dedup (to compare sizes).
    #[arg(long)]
    no_dedup: bool,
    /// After the cycles, one incremental cycle that renames this many movies (0: none).
    #[arg(long, default_value_t = 1000)]
    upserts: u64,
    /// Publish nothing: write the dataset's cycles `0..--cycles` as JSON Lines files
    /// (`DIR/cycle-0000.jsonl`, …: one record per line, as `hollow produce --input` reads
    /// them) and exit.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// One compact JSON document with every figure of the summary instead of the text.
    #[arg(long)]
    json: bool,
}

/// Milliseconds, for the JSON report.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.2} MiB")
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Resident and file-backed resident memory of this process in MiB (Linux `/proc`), if known.
fn resident_mib() -> Option<(f64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<f64>().ok());
    let (resident, shared) = (fields.next()??, fields.next()??);
    let page_mib = 4096.0 / (1024.0 * 1024.0);
    Some((resident * page_mib, shared * page_mib))
}

/// Runs the demo, printing the report to `out`.
pub fn run(args: &DemoArgs, out: &mut impl Write) -> Result<()> {
    let mut report = Map::new();
    // With --json the text goes nowhere and the figures into one document.
    let mut sink = std::io::sink();
    let text: &mut dyn Write = if args.json { &mut sink } else { out };
    if let Some(dir) = &args.export {
        export(args, dir, text, &mut report)?;
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(run_async(args, text, &mut report))?;
    }
    if args.json {
        serde_json::to_writer(&mut *out, &Value::Object(report))?;
        writeln!(out)?;
    }
    Ok(())
}

/// `--export DIR`: the cycles as JSON Lines files, no producer.
fn export(
    args: &DemoArgs,
    dir: &std::path::Path,
    out: &mut dyn Write,
    report: &mut Map<String, Value>,
) -> Result<()> {
    let data = Dataset::new(args.movies);
    let started = Instant::now();
    let paths = data
        .export_jsonl(dir, args.cycles)
        .with_context(|| format!("writing JSON Lines into {}", dir.display()))?;
    let mut files = Vec::new();
    for path in &paths {
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        writeln!(out, "{} ({})", path.display(), mib(bytes))?;
        files.push(json!({"path": path.display().to_string(), "bytes": bytes}));
    }
    report.insert("files".into(), files.into());
    report.insert("movies".into(), args.movies.into());
    report.insert("actors".into(), data.actor_count().into());
    report.insert("millis".into(), millis(started.elapsed()).into());
    writeln!(
        out,
        "exported {} cycles of {} movies + {} actors in {}",
        paths.len(),
        args.movies,
        data.actor_count(),
        ms(started.elapsed())
    )?;
    Ok(())
}

async fn run_async(
    args: &DemoArgs,
    out: &mut dyn Write,
    report: &mut Map<String, Value>,
) -> Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let store = BlobStore::local(&args.dir)?;
    let data = Dataset::new(args.movies);
    let started = Instant::now();
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .options(WriteOptions {
            dedup: !args.no_dedup,
            ..WriteOptions::default()
        })
        .snapshot_every(args.snapshot_every)
        .header_tag("source", "hollow demo")
        .build()
        .await?;
    let first_cycle = producer.version().await.unwrap_or(0);
    report.insert("dir".into(), args.dir.display().to_string().into());
    report.insert("movies".into(), args.movies.into());
    report.insert("actors".into(), data.actor_count().into());
    if first_cycle > 0 {
        report.insert("restored_version".into(), first_cycle.into());
    }
    let mut cycles = Vec::new();
    writeln!(
        out,
        "hollow demo: {} movies + {} actors into {}",
        args.movies,
        data.actor_count(),
        args.dir.display()
    )?;
    if first_cycle > 0 {
        writeln!(
            out,
            "  restored the producer at version {first_cycle} in {}",
            ms(started.elapsed())
        )?;
    }

    for cycle in first_cycle..first_cycle + args.cycles {
        let bar = progress(args.movies + data.actor_count(), &format!("cycle {cycle}"));
        let started = Instant::now();
        let outcome = producer
            .run_cycle(|c| {
                let mut message = capnp::message::Builder::new_default();
                let mut added = 0u64;
                for a in data.actors(cycle) {
                    a.build(message.init_root::<actor::Builder>());
                    c.add::<actor::Owned>(message.get_root_as_reader()?)?;
                    added += 1;
                }
                for m in data.movies(cycle) {
                    m.build(message.init_root::<movie::Builder>());
                    c.add::<movie::Owned>(message.get_root_as_reader()?)?;
                    added += 1;
                    if added.is_multiple_of(8192) {
                        bar.set_position(added);
                    }
                }
                Ok(())
            })
            .await?;
        bar.finish_and_clear();
        let total = started.elapsed();
        match outcome {
            CycleOutcome::Unchanged { version } => {
                cycles.push(json!({"cycle": cycle, "published": false, "version": version}));
                writeln!(out, "cycle {cycle}: unchanged (version {version})")?;
            }
            CycleOutcome::Published(r) => {
                let t = r.timings;
                cycles.push(json!({
                    "cycle": cycle, "published": true, "version": r.version, "millis": millis(total),
                    "types": r.types.iter().map(|(name, c)| json!({
                        "type": name, "added": c.added, "changed": c.updated, "removed": c.removed,
                    })).collect::<Vec<_>>(),
                    "snapshot_bytes": r.snapshot_bytes, "delta_bytes": r.delta_bytes,
                    "reverse_delta_bytes": r.reverse_delta_bytes,
                    "timings_millis": {
                        "populate": millis(t.populate), "encode": millis(t.encode),
                        "verify": millis(t.verify), "publish": millis(t.publish),
                        "announce": millis(t.announce),
                    },
                }));
                let changes: Vec<String> = r
                    .types
                    .iter()
                    .map(|(name, c)| format!("{name} +{} ~{} -{}", c.added, c.updated, c.removed))
                    .collect();
                writeln!(
                    out,
                    "cycle {cycle}: version {} in {} ({})",
                    r.version,
                    ms(total),
                    changes.join(", ")
                )?;
                let mut blobs = Vec::new();
                if let Some(b) = r.snapshot_bytes {
                    blobs.push(format!("snapshot {}", mib(b)));
                }
                if let Some(b) = r.delta_bytes {
                    blobs.push(format!("delta {}", mib(b)));
                }
                if let Some(b) = r.reverse_delta_bytes {
                    blobs.push(format!("reverse delta {}", mib(b)));
                }
                let t = r.timings;
                writeln!(
                    out,
                    "  {}; populate {}, encode {}, verify {}, publish {}, announce {}",
                    blobs.join(", "),
                    ms(t.populate),
                    ms(t.encode),
                    ms(t.verify),
                    ms(t.publish),
                    ms(t.announce)
                )?;
            }
        }
    }

    report.insert("cycles".into(), cycles.into());
    if args.upserts > 0 {
        let started = Instant::now();
        let last = first_cycle + args.cycles.saturating_sub(1);
        let renamed: Vec<hollow_movies::Movie> = data
            .movies(last)
            .take(usize::try_from(args.upserts).unwrap_or(usize::MAX))
            .collect();
        let outcome = producer
            .run_incremental(|inc| {
                let mut message = capnp::message::Builder::new_default();
                for m in &renamed {
                    let mut m = m.clone();
                    m.title = format!("{} (director's cut {})", m.title, first_cycle + args.cycles);
                    m.build(message.init_root::<movie::Builder>());
                    inc.upsert::<movie::Owned>(message.get_root_as_reader()?)?;
                }
                Ok(())
            })
            .await?;
        if let CycleOutcome::Published(r) = outcome {
            report.insert(
                "incremental".into(),
                json!({"upserted": renamed.len(), "version": r.version,
                       "millis": millis(started.elapsed()), "delta_bytes": r.delta_bytes}),
            );
            writeln!(
                out,
                "incremental: {} movies upserted, version {} in {} (delta {})",
                renamed.len(),
                r.version,
                ms(started.elapsed()),
                mib(r.delta_bytes.unwrap_or(0))
            )?;
        }
    }

    // Consume: a consumer loads the first version of this run, then follows every delta.
    let (announcement, _) = store
        .announcement()
        .await?
        .context("nothing was announced")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // The demo owns its store and nothing rewrites its blobs: map them in place, so the
    // consumer shares the producer's page cache (the resident-memory figures below show it).
    let consumer = Consumer::builder(store.clone())
        .map_local_store_in_place(true)
        .listener(move |e: &RefreshEvent| {
            let _ = tx.send(e.clone());
        })
        .build()
        .await?;
    let first_version = first_cycle.max(1);
    let started = Instant::now();
    consumer.refresh_to(first_version).await?;
    let read = consumer.state().context("the consumer holds no state")?;
    let first_state = std::sync::Arc::clone(&read);
    let found = read
        .table::<movie::Owned>()?
        .get_by_key(100_000u64)?
        .is_some();
    let to_first_lookup = started.elapsed();
    let mut refreshes = Vec::new();
    writeln!(
        out,
        "consumer: version {first_version} (movie 100000 {}) ",
        if found { "found" } else { "absent" }
    )?;
    writeln!(
        out,
        "  version {first_version} (memory-mapped) to first primary-key lookup in {}",
        ms(to_first_lookup)
    )?;
    for version in first_version + 1..=announcement.version {
        rx.try_iter().for_each(drop);
        let started = Instant::now();
        consumer.refresh_to(version).await?;
        let elapsed = started.elapsed();
        let plan = rx.try_iter().find_map(|e| match e {
            RefreshEvent::Started { plan, .. } => Some(plan),
            _ => None,
        });
        let plan = plan.unwrap_or_default();
        writeln!(
            out,
            "  refresh to version {version} in {} ({plan})",
            ms(elapsed),
        )?;
        refreshes.push(json!({"version": version, "millis": millis(elapsed), "plan": plan}));
    }
    let read = consumer.state().context("the consumer holds no state")?;
    let memory = resident_mib();
    report.insert(
        "consumer".into(),
        json!({
            "first_version": first_version,
            "first_lookup_millis": millis(to_first_lookup),
            "refreshes": refreshes,
            "resident_mib": memory.map(|m| m.0),
            "file_backed_mib": memory.map(|m| m.1),
        }),
    );
    report.insert("announced_version".into(), announcement.version.into());
    report.insert("served_version".into(), read.version().into());
    report.insert(
        "types".into(),
        read.types()
            .iter()
            .map(|t| {
                json!({"name": t.name, "records": t.record_count, "record_bytes": t.record_bytes,
                       "index_bytes": t.index_bytes, "checksum": format!("{:#018x}", t.checksum)})
            })
            .collect::<Vec<_>>()
            .into(),
    );
    if let Some((resident, shared)) = memory {
        writeln!(
            out,
            "  process resident memory {resident:.1} MiB, of which file-backed (blob mappings) {shared:.1} MiB"
        )?;
    }
    let movies = read.table::<movie::Owned>()?;
    let first = movies.get_by_key(100_000u64)?;
    writeln!(
        out,
        "announced version {}; the consumer serves version {}",
        announcement.version,
        read.version()
    )?;
    for t in read.types() {
        writeln!(
            out,
            "  {:<6} {:>9} records  {:>10} records  {:>10} index  checksum {:#018x}",
            t.name,
            t.record_count,
            mib(t.record_bytes),
            mib(t.index_bytes),
            t.checksum
        )?;
    }
    if let Some(m) = first {
        writeln!(
            out,
            "  movie 100000: {:?} ({})",
            m.get_title()?.to_str()?,
            m.get_year()
        )?;
    }
    let started = Instant::now();
    let mut year_sum = 0u64;
    for (_, m) in movies.iter() {
        year_sum += u64::from(m.get_year());
    }
    let scan = started.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let per_record = scan.as_nanos() as f64 / f64::from(movies.len().max(1));
    report.insert(
        "scan".into(),
        json!({"records": movies.len(), "millis": millis(scan), "ns_per_record": per_record}),
    );
    writeln!(
        out,
        "  scan of {} movies summing year: {} ({per_record:.1} ns/record, sum {year_sum})",
        movies.len(),
        ms(scan)
    )?;
    let started = Instant::now();
    let mut found = 0u32;
    let lookups = 10_000u64;
    for i in 0..lookups {
        let id = 100_000 + (i * 7919) % args.movies.max(1);
        found += u32::from(movies.get_by_key(id)?.is_some());
    }
    #[allow(clippy::cast_precision_loss)]
    let per_lookup = started.elapsed().as_nanos() as f64 / lookups as f64;
    report.insert(
        "lookups".into(),
        json!({"count": lookups, "found": found, "ns_per_lookup": per_lookup}),
    );
    let mut genre_index = Vec::new();
    writeln!(
        out,
        "  {lookups} primary-key lookups: {found} found, {per_lookup:.0} ns/lookup"
    )?;
    let actors = read.table::<actor::Owned>()?;
    if let Some(a) = actors.get_by_key(1u64)? {
        writeln!(out, "  actor 1: {:?}", a.get_name()?.to_str()?)?;
    }
    // Secondary hash indexes shipped in the snapshot and kept through the deltas: every movie
    // of a genre, of an actor. The demo checks each answer against a scan.
    for genre in ["Drama", "Western"] {
        let started = Instant::now();
        let count = movies.matching("genres", genre)?.count();
        let elapsed = started.elapsed();
        let scanned = movies
            .iter()
            .filter(|(_, m)| {
                m.get_genres()
                    .is_ok_and(|g| g.iter().any(|x| x.is_ok_and(|x| x == genre)))
            })
            .count();
        if count != scanned {
            bail!(
                "self-check failed: the genres index finds {count} {genre} movies, a scan {scanned}"
            );
        }
        writeln!(
            out,
            "  genre index: {count} {genre} movies in {} (a scan agrees)",
            ms(elapsed)
        )?;
        genre_index.push(json!({"genre": genre, "movies": count, "millis": millis(elapsed)}));
    }
    report.insert("genre_index".into(), genre_index.into());
    let started = Instant::now();
    let with_actor_1 = movies.matching("castIds", 1u64)?.count();
    let elapsed = started.elapsed();
    let scanned = movies
        .iter()
        .filter(|(_, m)| m.get_cast_ids().is_ok_and(|c| c.iter().any(|a| a == 1)))
        .count();
    if with_actor_1 != scanned {
        bail!(
            "self-check failed: the castIds index finds {with_actor_1} movies of actor 1, a scan {scanned}"
        );
    }
    writeln!(
        out,
        "  cast index: actor 1 plays in {with_actor_1} movies ({}, a scan agrees)",
        ms(elapsed)
    )?;
    report.insert(
        "cast_index".into(),
        json!({"actor": 1, "movies": with_actor_1, "millis": millis(elapsed)}),
    );
    // What changed over the whole run, from the consumer's first version to its last.
    if first_state.version() != read.version() {
        let started = Instant::now();
        // Through the deltas between the two versions: only the records they touched are read.
        let touched =
            hollow::tools::touched_between(&store, first_state.version(), read.version()).await?;
        let diffs =
            hollow::tools::changes(&first_state, &read, None, touched.as_ref().map(|(t, _)| t))?;
        let summary: Vec<String> = diffs
            .iter()
            .map(|d| {
                format!(
                    "{} +{} -{} ~{}",
                    d.name,
                    d.added.len(),
                    d.removed.len(),
                    d.changed.len()
                )
            })
            .collect();
        report.insert(
            "diff".into(),
            json!({
                "from": first_state.version(), "to": read.version(),
                "millis": millis(started.elapsed()),
                "types": diffs.iter().map(|d| json!({
                    "type": d.name, "added": d.added.len(), "removed": d.removed.len(),
                    "changed": d.changed.len(),
                })).collect::<Vec<_>>(),
            }),
        );
        writeln!(
            out,
            "  diff {} → {}: {} (in {})",
            first_state.version(),
            read.version(),
            summary.join(", "),
            ms(started.elapsed())
        )?;
    }
    Ok(())
}
