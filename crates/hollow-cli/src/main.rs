//! `hollow`: the command-line tool for hollow datasets.
//!
//! Exit codes, as grep: 0 found (or done), 1 nothing matched or not found (a key `get` or
//! `history` does not find, a `query` or `scan` with no records), 2 a usage error or any other
//! error. Messages go to stderr, data to stdout. A closed pipe (`hollow … | head`) ends the
//! program quietly.

mod data;
mod demo;
mod follow;
mod gc;
mod line_limit;
mod ls;
mod produce;
mod push;
mod remote;
mod serve;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hollow: versioned datasets from one producer to many consumers, read zero-copy from
/// memory-mapped Cap'n Proto blobs.
///
/// Store options (--store, --json, --cache, --no-cache, --store-opt) may also come before the
/// subcommand: hollow --store ./data/movies inspect
#[derive(Debug, Parser)]
#[command(name = "hollow", version)]
struct Cli {
    /// Log more (-v: debug, -vv: trace) to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The guided tour: produce cycles of the movies dataset (snapshot, deltas, an incremental
    /// cycle), follow them with a consumer, and print versions, blob sizes, refresh times, primary
    /// key and index lookups (checked against scans) and a diff summary.
    ///
    /// Examples: hollow demo --movies 100000 --dir ./hollow-data/demo
    ///           hollow demo --movies 1000 --cycles 3 --export /tmp/movies   (JSONL files only)
    #[command(verbatim_doc_comment)]
    Demo(demo::DemoArgs),
    /// Show the announced version, the pin, every blob, and the types of the newest version;
    /// `inspect blob KEY` shows one blob's header and sections and verifies its checksums.
    ///
    /// Example: hollow inspect --store hollow-data/demo
    #[command(verbatim_doc_comment)]
    Inspect {
        #[command(flatten)]
        store: data::StoreArgs,
        #[command(subcommand)]
        what: Option<data::InspectWhat>,
        /// Show this blob file (as `inspect blob --file`) instead of a store.
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// Print records by primary key as JSON (one value per key field, several records in a row).
    ///
    /// Example: hollow get Movie 100042 --version 3
    #[command(verbatim_doc_comment)]
    Get {
        #[command(flatten)]
        store: data::StoreArgs,
        /// The type.
        type_name: String,
        /// Key values, as `scan` prints them (a Data field in base64); negative numbers are
        /// values, not flags (`hollow get Customer -1`).
        #[arg(required = true, allow_negative_numbers = true)]
        keys: Vec<String>,
        /// The version to read (default: the pinned or announced one).
        #[arg(long)]
        version: Option<u64>,
        /// Read this snapshot file instead of a store (what `hollow filter --out` writes).
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// Print the records whose fields equal the given values, one JSON object per line. Uses the
    /// primary key or a secondary index when one covers exactly these fields and scans otherwise;
    /// says which on stderr (or in the JSON document). A field path through a list matches any
    /// element; enums take names; Data takes base64 (as `scan` prints it); a composite index
    /// takes one FIELD=VALUE per field;
    /// FIELD:=null asks for an unset Text/Data field (FIELD:=JSON takes any JSON scalar).
    ///
    /// Examples: hollow query Movie genres=Drama --limit 5
    ///           hollow query Movie castIds=42 --json
    ///           hollow query Movie year=1999 countryCode=US
    ///           hollow query Movie countryCode:=null
    #[command(verbatim_doc_comment)]
    Query {
        #[command(flatten)]
        store: data::StoreArgs,
        /// The type.
        type_name: String,
        /// Conditions, FIELD=VALUE.
        #[arg(required = true)]
        conditions: Vec<String>,
        /// Most records to print (all are counted).
        #[arg(long)]
        limit: Option<usize>,
        /// The version to read (default: the pinned or announced one).
        #[arg(long)]
        version: Option<u64>,
        /// Read this snapshot file instead of a store (what `hollow filter --out` writes).
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// Write a snapshot of a version holding only some of its types (same version, tag, schema
    /// and ordinals), readable with `ReadState::open`.
    ///
    /// Example: hollow filter --types Movie --out movies-only.blob
    #[command(verbatim_doc_comment)]
    Filter {
        #[command(flatten)]
        store: data::StoreArgs,
        /// Types to keep, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        types: Vec<String>,
        /// The file to write.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The version to read (default: the pinned or announced one).
        #[arg(long)]
        version: Option<u64>,
    },
    /// Print records in ordinal order, one JSON object per line.
    ///
    /// Example: hollow scan Actor --limit 10
    #[command(verbatim_doc_comment)]
    Scan {
        #[command(flatten)]
        store: data::StoreArgs,
        /// The type.
        type_name: String,
        /// Most records to print (stderr says how many there are).
        #[arg(long, default_value_t = 20, conflicts_with = "all")]
        limit: usize,
        /// Print every record.
        #[arg(long)]
        all: bool,
        /// The version to read (default: the pinned or announced one).
        #[arg(long)]
        version: Option<u64>,
        /// Read this snapshot file instead of a store (what `hollow filter --out` writes).
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// Print the state checksum of every type at a version.
    ///
    /// Example: hollow checksum 3
    #[command(verbatim_doc_comment)]
    Checksum {
        #[command(flatten)]
        store: data::StoreArgs,
        /// The version (default: the pinned or announced one).
        version: Option<u64>,
    },
    /// Pin consumers to a version (they move there, backwards if needed, and stay).
    ///
    /// Example: hollow pin 2
    #[command(verbatim_doc_comment)]
    Pin {
        #[command(flatten)]
        store: data::StoreArgs,
        /// The version.
        version: u64,
    },
    /// Re-verify every blob of a version range: every section checksum and the structure
    /// behind it.
    ///
    /// Example: hollow validate --from 2 --to 5
    #[command(verbatim_doc_comment)]
    Validate {
        #[command(flatten)]
        store: data::StoreArgs,
        /// Lowest version (default: all).
        #[arg(long)]
        from: Option<u64>,
        /// Highest version (default: all).
        #[arg(long)]
        to: Option<u64>,
    },
    /// Records added, removed and changed (with field-level differences) between two versions:
    /// counts per type first, then the first 20 changes (--limit N, --all, --stat). Two
    /// versions of the announced chain are compared through the deltas between them, reading
    /// only the records they touched.
    ///
    /// Example: hollow diff 1 3 --type Movie --stat
    #[command(verbatim_doc_comment)]
    Diff {
        #[command(flatten)]
        store: data::StoreArgs,
        /// The first version.
        from: u64,
        /// The second version.
        to: u64,
        /// Only this type.
        #[arg(long = "type")]
        type_name: Option<String>,
        /// Counts per type only.
        #[arg(long, conflicts_with_all = ["limit", "all"])]
        stat: bool,
        /// Most changes to print after the counts (stderr says how many there are).
        #[arg(long, default_value_t = 20, conflicts_with = "all")]
        limit: usize,
        /// Print every change.
        #[arg(long)]
        all: bool,
    },
    /// Every version in which a record was added, changed (with the field changes) or removed,
    /// following the deltas.
    ///
    /// Example: hollow history Movie 100042
    #[command(verbatim_doc_comment)]
    History {
        #[command(flatten)]
        store: data::StoreArgs,
        /// The type.
        type_name: String,
        /// Key values (one per key field), as `scan` prints them (a Data field in base64);
        /// negative numbers are values, not flags.
        #[arg(required = true, allow_negative_numbers = true)]
        key: Vec<String>,
    },
    /// Publish a version from your own records: JSONL or CSV through a run-time schema.
    ///
    /// The store is required (--store or HOLLOW_STORE): producing never defaults to the demo's.
    ///
    /// The schema is a .capnp file (compiled with the `capnp` tool; `import "hollow.capnp"`
    /// resolves to the bundled annotations) or a precompiled request (`capnp compile -o-
    /// schema.capnp > schema.bin`). Its top-level structs are the dataset's types (only the
    /// --type struct with --type), except a struct without a primary key that another struct
    /// uses as a field type (an address, an author: a value, not a type); mark identity with
    /// `$Hollow.primaryKey("id")`.
    ///
    /// JSONL: one object per line, `{"type":"Movie","id":1,"title":"…","genres":["Drama"]}`;
    /// "type" names the struct (not needed with --type). Values are what `hollow scan`
    /// prints: integers range-checked, floats (or "NaN", "Infinity"), strings, Data as base64,
    /// enums by name, nested objects for structs and groups, one member per union; null or a
    /// missing field leaves it unset. An unknown field, a wrong type or an out-of-range value is
    /// an error naming file:line, the field and the value.
    ///
    /// CSV: a header row of field names (dotted for nested fields: details.isbn); each cell is
    /// parsed by its field's type; an empty cell is unset; lists and structs as JSON text.
    /// Needs --type or a "type" column.
    ///
    /// Each file is one cycle. Without --incremental it is the full population: the producer
    /// restores the announced version, and records of a type missing from the file are
    /// removed. With --incremental, lines are upserts by primary key and
    /// `{"type":"Movie","$delete":{"id":5}}` deletes by key (the key's fields, nested
    /// objects for dotted key paths). Any error publishes nothing. The report gives the
    /// version, records added/updated/removed per type, blob bytes and stage timings; --json
    /// prints it as one JSON object per cycle, one per line.
    ///
    /// Examples:
    ///   hollow produce --schema schemas/movies.capnp --input cycle-0000.jsonl --store ./movies
    ///   hollow produce --schema books.capnp --type Book --input books.csv --store ./books --json
    ///   HOLLOW_STORE=./movies hollow produce --schema schemas/movies.capnp --incremental \
    ///       --input changes.jsonl
    ///   hollow produce --schema schemas/movies.capnp --watch ./incoming --store ./movies
    ///   (Ctrl-C stops a watch)
    #[command(verbatim_doc_comment)]
    #[command(verbatim_doc_comment)]
    Produce(produce::ProduceArgs),
    /// Remove the pin: consumers follow the announced version again.
    #[command(verbatim_doc_comment)]
    Unpin {
        #[command(flatten)]
        store: data::StoreArgs,
    },
    /// List the datasets under a store prefix (a dataset is a prefix holding an announcement)
    /// with their announced versions.
    ///
    /// Examples: hollow ls s3://bucket/datasets
    ///           hollow ls ./hollow-data --json
    #[command(verbatim_doc_comment)]
    Ls {
        /// The prefix to look under (default: --store).
        url: Option<String>,
        #[command(flatten)]
        store: data::StoreArgs,
        /// How many levels down to look.
        #[arg(long, default_value_t = 8)]
        depth: usize,
    },
    /// Follow a dataset as a long-running consumer (the process to run beside a service):
    /// refreshes on every announcement or pin, logs each refresh to stderr (version, duration,
    /// bytes fetched), keeps only the current version's blobs in its cache (plus
    /// --cache-keep-bytes), and exits 0 on SIGTERM or SIGINT.
    ///
    /// Example: hollow follow --store s3://bucket/movies --poll-interval 2s
    #[command(verbatim_doc_comment)]
    Follow(follow::FollowArgs),
    /// Retention: the blobs no retained version needs — the announced chain's before the
    /// snapshot the oldest kept version starts from, and blobs off the chain (failed cycles) —
    /// deleted, or reported with --dry-run. Never the announced or pinned version's chain, never
    /// a blob younger than --min-age.
    ///
    /// Examples: hollow gc --keep-snapshots 3 --dry-run
    ///           hollow gc --keep-snapshots 3 --keep-since 7d --min-age 2h
    #[command(verbatim_doc_comment)]
    Gc(gc::GcArgs),
    /// A read-only web explorer of the dataset: pages for the versions, every type, record,
    /// diff and history, a JSON API behind each page (/api/…), server-sent events when a new
    /// version arrives, Prometheus metrics (/metrics) and health checks (/healthz, /readyz).
    /// Follows the announcements as `hollow follow` does. Loopback only by default.
    ///
    /// Example: hollow serve --store hollow-data/demo --bind 127.0.0.1:7878
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),
    /// Print a shell completion script for hollow to stdout.
    ///
    /// Examples: hollow completions bash > ~/.local/share/bash-completion/completions/hollow
    ///           hollow completions zsh > ~/.zfunc/_hollow
    ///           hollow completions fish > ~/.config/fish/completions/hollow.fish
    #[command(verbatim_doc_comment)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print hollow's man page (roff) to stdout.
    ///
    /// Example: hollow man > ~/.local/share/man/man1/hollow.1 && man hollow
    #[command(verbatim_doc_comment)]
    Man,
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        // The producer's own "rolled back" warning repeats the error the CLI reports: say it once.
        0 => "warn,hollow::producer=error,hollow::follow=info,hollow::serve=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only for a person at a terminal: logs redirected to a file or a pipe stay plain
    // text, and NO_COLOR (https://no-color.org) turns colour off everywhere.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

fn run_data_command(command: Command, out: &mut impl Write) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            Command::Demo(_) | Command::Completions { .. } | Command::Man => Ok(()),
            Command::Produce(args) => produce::run(&args, out).await,
            Command::Inspect { store, what, file } => {
                let what = match (what, file) {
                    (None, Some(file)) => Some(data::InspectWhat::Blob {
                        key: None,
                        file: Some(file),
                    }),
                    (what, None) => what,
                    (Some(_), Some(_)) => {
                        anyhow::bail!("inspect --file PATH shows one blob: give no subcommand")
                    }
                };
                data::inspect(&store, what.as_ref(), out).await
            }
            Command::Get {
                store,
                type_name,
                keys,
                version,
                file,
            } => data::get(&store, &type_name, &keys, version, file.as_deref(), out).await,
            Command::Scan {
                store,
                type_name,
                limit,
                all,
                version,
                file,
            } => {
                let limit = (!all).then_some(limit);
                data::scan(&store, &type_name, limit, version, file.as_deref(), out).await
            }
            Command::Filter {
                store,
                types,
                out: path,
                version,
            } => data::filter(&store, &types, &path, version, out).await,
            Command::Query {
                store,
                type_name,
                conditions,
                limit,
                version,
                file,
            } => {
                let file = file.as_deref();
                data::query(&store, &type_name, &conditions, limit, version, file, out).await
            }
            Command::Checksum { store, version } => data::checksum(&store, version, out).await,
            Command::Pin { store, version } => data::pin(&store, Some(version), out).await,
            Command::Unpin { store } => data::pin(&store, None, out).await,
            Command::Ls { url, store, depth } => ls::run(url.as_deref(), &store, depth, out).await,
            Command::Follow(args) => follow::run(&args).await,
            Command::Serve(args) => serve::run(&args).await,
            Command::Gc(args) => gc::run(&args, out).await,
            Command::Validate { store, from, to } => data::validate(&store, from, to, out).await,
            Command::Diff {
                store,
                from,
                to,
                type_name,
                stat,
                limit,
                all,
            } => {
                let show = data::DiffShow {
                    stat,
                    limit: (!all).then_some(limit),
                };
                data::diff(&store, from, to, type_name.as_deref(), show, out).await
            }
            Command::History {
                store,
                type_name,
                key,
            } => data::history(&store, &type_name, &key, out).await,
        }
    })
}

/// Not an error but no result: exit status 1 (as grep's "no lines selected"), the message on
/// stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Options that take a value (as a separate argument) and may come before the subcommand.
const VALUE_OPTIONS: [&str; 3] = ["--store", "--cache", "--store-opt"];

/// Moves options written before the subcommand (`hollow --store X --json inspect`) to just
/// after it (`hollow inspect --store X --json`), where every subcommand that reads a store
/// declares them (and `-v` is global): kubectl's and cargo's "global flags anywhere".
fn hoist_leading_options(args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else {
            return args;
        };
        if arg == "--" {
            return args;
        }
        if VALUE_OPTIONS.contains(&arg) {
            i += 2;
        } else if arg.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    if i <= 1 || i >= args.len() {
        return args;
    }
    let mut reordered = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    reordered.extend(args.next());
    let leading: Vec<OsString> = args.by_ref().take(i - 1).collect();
    reordered.extend(args.next());
    reordered.extend(leading);
    reordered.extend(args);
    reordered
}

/// The top-level help's command list, grouped by what the commands do, one line each.
const GROUPS: [(&str, &[(&str, &str)]); 4] = [
    (
        "Publish",
        &[
            (
                "produce",
                "Publish a version from JSONL or CSV records through a schema",
            ),
            (
                "demo",
                "The guided tour: publish the movies dataset and follow it",
            ),
        ],
    ),
    (
        "Read",
        &[
            (
                "inspect",
                "Versions, pin, blobs and types of a dataset (or one blob)",
            ),
            ("get", "Records by primary key"),
            ("query", "Records whose fields equal values (index or scan)"),
            ("scan", "Records in ordinal order"),
            (
                "diff",
                "Records added, changed and removed between two versions",
            ),
            ("history", "One record through the versions"),
            ("checksum", "State checksum of every type at a version"),
            ("ls", "Datasets under a store prefix"),
            ("follow", "Follow a dataset as a long-running consumer"),
            ("serve", "Web explorer, JSON API and metrics of a dataset"),
        ],
    ),
    (
        "Admin",
        &[
            ("pin", "Pin consumers to a version"),
            ("unpin", "Remove the pin"),
            ("validate", "Re-verify every blob of a version range"),
            ("gc", "Delete blobs no retained version needs (retention)"),
            ("filter", "Write a snapshot holding only some types"),
        ],
    ),
    (
        "Shell",
        &[
            (
                "completions",
                "Print a completion script (bash, zsh, fish, …)",
            ),
            ("man", "Print the man page"),
        ],
    ),
];

/// The command with the grouped command list as its help (commands missing from [`GROUPS`]
/// are listed under "Other" with their own about line).
fn command() -> clap::Command {
    use clap::CommandFactory;
    let command = Cli::command();
    let mut listed = String::new();
    let mut seen = Vec::new();
    let width = command
        .get_subcommands()
        .map(|c| c.get_name().len())
        .max()
        .unwrap_or(0)
        + 2;
    for (heading, commands) in GROUPS {
        listed.push_str(&format!("{heading}:\n"));
        for (name, about) in commands {
            if command.find_subcommand(name).is_some() {
                listed.push_str(&format!("  {name:<width$}{about}\n"));
                seen.push(*name);
            }
        }
        listed.push('\n');
    }
    let others: Vec<String> = command
        .get_subcommands()
        .filter(|c| !seen.contains(&c.get_name()) && c.get_name() != "help")
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            let first = about.split(". ").next().unwrap_or_default().to_string();
            format!("  {:<width$}{first}\n", c.get_name())
        })
        .collect();
    if !others.is_empty() {
        listed.push_str("Other:\n");
        listed.extend(others);
        listed.push('\n');
    }
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{listed}\
         Options:\n{{options}}{{after-help}}"
    );
    command
        .help_template(template)
        .after_help("`hollow help COMMAND` (or COMMAND --help) describes a command with examples.")
}

fn main() -> ExitCode {
    use clap::FromArgMatches;
    let matches = command().get_matches_from(hoist_leading_options(std::env::args_os().collect()));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose);
    // Block-buffered when stdout is a pipe or a file (one write per 8 KiB, not per line);
    // line by line on a terminal. Flushed at the end (and by `produce --watch` per cycle).
    let stdout = std::io::stdout();
    let mut out: Box<dyn Write> = if stdout.is_terminal() {
        Box::new(stdout.lock())
    } else {
        Box::new(std::io::BufWriter::with_capacity(64 * 1024, stdout.lock()))
    };
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args, &mut out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "hollow", &mut out);
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(command())
            .render(&mut out)
            .map_err(anyhow::Error::from),
        command => run_data_command(command, &mut out),
    };
    let result = result.and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<NotFound>().is_some() => {
            let message = format!("{e:#}");
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoist(args: &[&str]) -> Vec<String> {
        hoist_leading_options(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect()
    }

    #[test]
    fn options_before_the_subcommand_move_after_it() {
        assert_eq!(
            hoist(&[
                "hollow", "--store", "inspect", "--json", "get", "Movie", "1"
            ]),
            [
                "hollow", "get", "--store", "inspect", "--json", "Movie", "1"
            ],
            "a value that looks like a subcommand stays the option's value"
        );
        assert_eq!(
            hoist(&["hollow", "--store=x", "-v", "inspect", "blob", "k"]),
            ["hollow", "inspect", "--store=x", "-v", "blob", "k"]
        );
        for unchanged in [
            &["hollow", "inspect", "--store", "x"][..],
            &["hollow", "--version"],
            &["hollow", "--store", "x"],
            &["hollow", "--", "inspect"],
        ] {
            assert_eq!(hoist(unchanged), unchanged);
        }
    }

    #[test]
    fn the_help_lists_every_command_once_under_a_heading() {
        let help = command().render_help().to_string();
        use clap::CommandFactory;
        for sub in Cli::command().get_subcommands() {
            let name = sub.get_name();
            if name == "help" {
                continue;
            }
            let lines = help
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("{name} ")))
                .count();
            assert_eq!(lines, 1, "{name} in\n{help}");
        }
        for heading in ["Publish:", "Read:", "Admin:"] {
            assert!(help.contains(heading), "{help}");
        }
    }

    #[test]
    fn hoisted_options_parse() {
        let cli = Cli::try_parse_from(hoist_leading_options(
            ["hollow", "--store", "some/dir", "--json", "inspect"]
                .iter()
                .map(OsString::from)
                .collect(),
        ))
        .expect("parses");
        match cli.command {
            Command::Inspect { store, .. } => {
                assert_eq!(store.store.as_deref(), Some("some/dir"));
                assert!(store.json);
            }
            other => panic!("{other:?}"),
        }
    }
}
