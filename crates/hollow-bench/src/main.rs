//! `hollow-bench`: measures hollow, SQLite and LMDB on the movies dataset and prints medians and
//! ratios (against ANCHORS.md's Netflix Hollow figures and the engines measured in the same run).
//!
//! ```text
//! cargo run --release -p hollow-bench -- --movies 100000
//! cargo run --release -p hollow-bench -- --movies 1000000 --json > bench-1m.json
//! ```

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use hollow_bench::measure::CountingAlloc;
use hollow_bench::{Config, run};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Side-by-side benchmark of hollow, SQLite and LMDB on the movies dataset.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Movies in cycle 0 (actors are a quarter of that).
    #[arg(long, default_value_t = 100_000)]
    movies: u64,
    /// Rounds over all engines; each figure's samples are pooled over the rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Repetitions of each read kernel per round (median of all samples reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Repetitions of each build per round.
    #[arg(long, default_value_t = 1)]
    build_reps: usize,
    /// Fresh opens timed per round for open → first primary-key lookup.
    #[arg(long, default_value_t = 7)]
    open_runs: usize,
    /// Random reads by ordinal per repetition.
    #[arg(long, default_value_t = 1_000_000)]
    ops: usize,
    /// Random primary-key lookups per repetition.
    #[arg(long, default_value_t = 200_000)]
    lookup_ops: usize,
    /// log2 of ordinals per hollow shard.
    #[arg(long, default_value_t = hollow::DEFAULT_SHARD_BITS)]
    shard_bits: u8,
    /// Measure hollow only (skip SQLite and LMDB).
    #[arg(long)]
    hollow_only: bool,
    /// Skip the "reads after N deltas" section.
    #[arg(long)]
    no_deltas: bool,
    /// Only the "reads after N deltas" section (plus one hollow round; for iterating).
    #[arg(long)]
    deltas_only: bool,
    /// Print the report as JSON instead of markdown.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file (the markdown still goes to stdout).
    #[arg(long, value_name = "PATH")]
    json_out: Option<std::path::PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        rounds: args.rounds,
        reps: args.reps,
        build_reps: args.build_reps,
        open_runs: args.open_runs,
        ops: args.ops,
        lookup_ops: args.lookup_ops,
        shard_bits: args.shard_bits,
        hollow_only: args.hollow_only,
        delta_reads: !args.no_deltas,
        deltas_only: args.deltas_only,
        ..Config::new(args.movies)
    };
    let started = std::time::Instant::now();
    let quiet = args.quiet;
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("[{:7.2} s] {line}", started.elapsed().as_secs_f64());
        }
    };
    let report = match run(&config, &mut progress) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("hollow-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.json_out {
        let json = serde_json::to_string_pretty(&report).expect("the report serialises to JSON");
        std::fs::write(path, json + "\n").expect("writing the JSON report");
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report).expect("the report serialises to JSON")
    } else {
        report.to_markdown()
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").expect("writing the report to stdout");
    ExitCode::SUCCESS
}
