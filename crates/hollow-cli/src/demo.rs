//! `hollow demo`: the README's main job. Generates the movies dataset in-process, writes a
//! snapshot into a local directory, reads it back through a memory mapping and reports.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hollow::{ReadState, SnapshotInfo, WriteOptions, WriteState};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `hollow demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Movies in the dataset (actors are a quarter of that).
    #[arg(long, default_value_t = 100_000)]
    movies: u64,
    /// Cycle of the dataset to write (0 is the initial catalog).
    #[arg(long, default_value_t = 0)]
    cycle: u64,
    /// Directory to write the snapshot into.
    #[arg(long, default_value = "hollow-data/demo")]
    dir: PathBuf,
    /// Write without pointer-aliasing dedup (to compare sizes).
    #[arg(long)]
    no_dedup: bool,
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

/// Writes `bytes` to `path` atomically (temporary file, then rename).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Runs the demo, printing the report to `out`.
pub fn run(args: &DemoArgs, out: &mut impl Write) -> Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let data = Dataset::new(args.movies);
    writeln!(
        out,
        "hollow demo: {} movies + {} actors (cycle {})",
        args.movies,
        data.actor_count(),
        args.cycle
    )?;

    // Produce: records -> write state -> snapshot blob.
    let started = Instant::now();
    let mut state = WriteState::builder("movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .options(WriteOptions {
            dedup: !args.no_dedup,
            ..WriteOptions::default()
        })
        .header_tag("source", "hollow demo")
        .build()?;
    let bar = progress(args.movies + data.actor_count(), "encoding");
    let mut message = capnp::message::Builder::new_default();
    let mut added = 0u64;
    let mut tick = |bar: &ProgressBar| {
        added += 1;
        if added.is_multiple_of(4096) {
            bar.set_position(added);
        }
    };
    for a in data.actors(args.cycle) {
        a.build(message.init_root::<actor::Builder>());
        state.add::<actor::Owned>(message.get_root_as_reader()?)?;
        tick(&bar);
    }
    for m in data.movies(args.cycle) {
        m.build(message.init_root::<movie::Builder>());
        state.add::<movie::Owned>(message.get_root_as_reader()?)?;
        tick(&bar);
    }
    bar.finish_and_clear();
    let populated = started.elapsed();
    let blob = state.write_snapshot(&SnapshotInfo {
        version: args.cycle + 1,
        tag: 0x5eed ^ args.cycle,
    })?;
    let written = started.elapsed();
    let path = args
        .dir
        .join(format!("snapshot-{:08}.blob", args.cycle + 1));
    write_atomically(&path, blob.as_slice())?;
    let compressed = zstd::bulk::compress(blob.as_slice(), 3)
        .context("compressing with zstd")?
        .len();
    writeln!(out, "wrote {}", path.display())?;
    writeln!(
        out,
        "  populate {}  write snapshot {}  blob {} raw, {} zstd-3",
        ms(populated),
        ms(written - populated),
        mib(blob.len() as u64),
        mib(compressed as u64)
    )?;
    drop(blob);
    drop(state);

    // Consume: map, verify what a lookup touches, look up.
    let started = Instant::now();
    let read = ReadState::open(&path)?;
    let movies = read.table::<movie::Owned>()?;
    let first_id = 100_000u64;
    let first = movies.get_by_key(first_id)?;
    let to_first_lookup = started.elapsed();
    writeln!(out, "opened {} (memory-mapped)", path.display())?;
    writeln!(
        out,
        "  open to first primary-key lookup {} (verifies the Movie sections)",
        ms(to_first_lookup)
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
            "  movie {first_id}: {:?} ({})",
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
        let id = first_id + (i * 7919) % args.movies.max(1);
        found += u32::from(movies.get_by_key(id)?.is_some());
    }
    #[allow(clippy::cast_precision_loss)]
    let per_lookup = started.elapsed().as_nanos() as f64 / lookups as f64;
    writeln!(
        out,
        "  {lookups} primary-key lookups: {found} found, {per_lookup:.0} ns/lookup"
    )?;
    let actors = read.table::<actor::Owned>()?;
    if let Some(a) = actors.get_by_key(1u64)? {
        writeln!(out, "  actor 1: {:?}", a.get_name()?.to_str()?)?;
    }
    Ok(())
}
