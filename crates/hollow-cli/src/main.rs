//! `hollow`: the command-line tool for hollow datasets.
//!
//! Exit codes: 0 success, 1 error, 2 usage error (from clap). A closed pipe (`hollow … | head`)
//! ends the program quietly.

mod demo;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hollow: versioned datasets from one producer to many consumers, read zero-copy from
/// memory-mapped Cap'n Proto blobs.
#[derive(Debug, Parser)]
#[command(name = "hollow", version, about, long_about = None)]
struct Cli {
    /// Log more (-v: debug, -vv: trace) to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a snapshot of the movies benchmark dataset and read it back, with counts, bytes and
    /// timings.
    ///
    /// Example: hollow demo --movies 100000 --dir ./hollow-data/demo
    Demo(demo::DemoArgs),
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args, &mut out),
    };
    let result = result.and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
