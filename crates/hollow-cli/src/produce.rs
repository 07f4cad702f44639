//! `hollow produce`: publish a version from JSONL or CSV records through a run-time schema
//! (a `.capnp` file compiled with `capnp`, or a precompiled `CodeGeneratorRequest`).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, Write};

use crate::line_limit::LineLimited;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use hollow::encode::{EncodeError, RecordEncoder, parse_cell};
use hollow::{CycleOutcome, FnValidator, Producer, Schema, ValidationInput};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::data::StoreArgs;

/// `schemas/hollow.capnp`, written next to a schema that imports it without having it beside.
const HOLLOW_CAPNP: &str = include_str!("../../../schemas/hollow.capnp");

/// The member of a JSONL line that names its struct (unless `--type` is given).
const TYPE_MEMBER: &str = "type";
/// The member of an incremental JSONL line that deletes by primary key.
const DELETE_MEMBER: &str = "$delete";

/// Arguments of `hollow produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The schema: a `.capnp` file (compiled with `capnp`) or a precompiled request
    /// (`capnp compile -o- schema.capnp > schema.bin`).
    #[arg(long)]
    schema: PathBuf,
    /// The input: one `.jsonl` file (one JSON object per line) or `.csv` file (header row of
    /// field names).
    #[arg(long, required_unless_present = "watch", conflicts_with = "watch")]
    input: Option<PathBuf>,
    /// Every record is of this struct (JSONL lines need no "type" member; CSV needs no
    /// "type" column). Only this type is registered with the producer.
    #[arg(long = "type")]
    type_name: Option<String>,
    /// Lines are upserts by primary key (and `{"type":"T","$delete":{…key…}}` deletes);
    /// records not mentioned stay. Without it every file is the full population.
    #[arg(long)]
    incremental: bool,
    /// Watch a directory: run one cycle per `.jsonl` / `.csv` file, in name order (files there
    /// at start first), polling for new ones until Ctrl-C.
    ///
    /// Contract: write each file elsewhere (or under a name the watcher ignores: a dotfile,
    /// `*.tmp`, `*.partial`), then rename it into place. A file is taken only once its size
    /// and modification time are unchanged across two polls. Produced files are listed in
    /// DIR/.hollow-produced and never produced again; a file that fails is moved to
    /// DIR/.hollow-failed/ with its error in NAME.error (move it back to retry). If another
    /// producer announced meanwhile, the watcher restores that version and runs the file again.
    #[arg(long, value_name = "DIR")]
    watch: Option<PathBuf>,
    /// With --watch: poll interval in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    poll_ms: u64,
    /// With --watch: stop after this many files.
    #[arg(long, value_name = "N")]
    max_cycles: Option<usize>,
    /// With --watch: serve the producer's Prometheus metrics (cycles published, unchanged and
    /// failed, stage durations, blob bytes, records added/changed/removed) at
    /// http://ADDR/metrics, e.g. 127.0.0.1:9464 (port 0 picks one; the address is printed on
    /// stderr).
    #[arg(long, value_name = "ADDR", requires = "watch")]
    metrics_bind: Option<std::net::SocketAddr>,
    /// The dataset's name (default: the announced dataset's, else the schema file's stem).
    #[arg(long)]
    dataset: Option<String>,
    /// Sets (or replaces) a struct's primary key for a schema without `$Hollow.primaryKey`:
    /// `--primary-key Book=isbn` or `--primary-key Place=country,code`. Repeatable. The key is
    /// part of the schema the blobs embed.
    #[arg(long, value_name = "TYPE=FIELD[,FIELD]", value_parser = parse_primary_key)]
    primary_key: Vec<(String, String)>,
    /// Guard against truncated input: refuse a full cycle that would remove more than this
    /// share of any type's records (0.0 to 1.0). Incremental cycles delete only what they name.
    #[arg(long, default_value_t = 0.5, value_name = "RATIO", value_parser = parse_ratio)]
    max_removed_ratio: f64,
    /// Guard against truncated input: refuse a full cycle that would leave fewer than N
    /// records in the dataset (all types together). An input file with no records at all is
    /// refused too, for a new dataset as well (unless --allow-mass-delete).
    #[arg(long, default_value_t = 1, value_name = "N")]
    min_records: u64,
    /// Publish full cycles even when the guards (--max-removed-ratio, --min-records, an input
    /// with no records) refuse them: for a dataset that really shrank or is really empty.
    #[arg(long)]
    allow_mass_delete: bool,
    /// Caps on the input and on what a cycle publishes, NAME=VALUE (repeatable; VALUE may end
    /// in KiB, MiB or GiB): `line-bytes` (longest input line, default 64MiB), `list-len` (most
    /// elements of one list, default 16777216), `nesting` (deepest pointer level, at most and
    /// by default 62), `records-per-type` (most ordinals of one type, default 268435456),
    /// `blob-bytes` (largest blob, default 64GiB). Input past a cap is refused with its line;
    /// a cycle past one is not published.
    #[arg(long = "limit", value_name = "NAME=VALUE", value_parser = parse_limit)]
    limits: Vec<(hollow::LimitKind, u64)>,
    #[command(flatten)]
    push: crate::push::PushArgs,
}

/// `NAME=VALUE` of `--limit`.
fn parse_limit(s: &str) -> std::result::Result<(hollow::LimitKind, u64), String> {
    let names = || {
        hollow::LimitKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE (names: {})", names()))?;
    let kind = hollow::LimitKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| format!("no limit is named {name:?} (names: {})", names()))?;
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => value.split_at(at),
        None => (value, ""),
    };
    let scale: u64 = match unit {
        "" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("{value:?}: the unit must be KiB, MiB or GiB")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))?;
    let n = n
        .checked_mul(scale)
        .ok_or_else(|| format!("{value:?} is too large"))?;
    hollow::Limits::default().set(kind, n)?;
    Ok((kind, n))
}

impl ProduceArgs {
    /// The caps `--limit` sets, over the defaults.
    fn limits(&self) -> hollow::Limits {
        self.limits
            .iter()
            .fold(hollow::Limits::default(), |l, (k, v)| {
                // Each value was checked against its cap by `parse_limit`.
                l.set(*k, *v).unwrap_or(l)
            })
    }
}

fn parse_ratio(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a ratio between 0.0 and 1.0")),
    }
}

/// Validators for full cycles: a truncated export must not wipe a dataset.
fn guard_full_cycles(
    mut builder: hollow::ProducerBuilder,
    args: &ProduceArgs,
) -> hollow::ProducerBuilder {
    if args.incremental || args.allow_mass_delete {
        return builder;
    }
    let ratio = args.max_removed_ratio;
    builder = builder.validator(FnValidator::new(
        "--max-removed-ratio",
        move |input: &ValidationInput| {
            for t in &input.types {
                let removed = f64::from(t.changes.removed);
                if t.before > 0 && removed / f64::from(t.before) > ratio {
                    return Err(format!(
                        "this full cycle would remove {} of {} {} records ({:.1}%), more than \
                         --max-removed-ratio {ratio} allows; if the input really is the whole \
                         dataset, pass --allow-mass-delete (or a larger --max-removed-ratio)",
                        t.changes.removed,
                        t.before,
                        t.name,
                        removed * 100.0 / f64::from(t.before)
                    ));
                }
            }
            Ok(())
        },
    ));
    let min = args.min_records;
    builder.validator(FnValidator::new(
        "--min-records",
        move |input: &ValidationInput| {
            let after: u64 = input.types.iter().map(|t| u64::from(t.after)).sum();
            if after < min {
                return Err(format!(
                    "this full cycle would leave {after} records, fewer than --min-records \
                     {min}; if the input really is the whole dataset, pass --allow-mass-delete \
                     (or a smaller --min-records)"
                ));
            }
            Ok(())
        },
    ))
}

fn parse_primary_key(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((t, f)) if !t.is_empty() && !f.is_empty() => Ok((t.to_string(), f.to_string())),
        _ => Err(format!("{s:?} is not TYPE=FIELD[,FIELD] (e.g. Book=isbn)")),
    }
}

/// The compiled schema and the structs the producer registers.
struct LoadedSchema {
    schema: Schema,
    /// Top-level structs of the requested file(s), in schema order.
    top_level: Vec<String>,
}

fn capnp_installed() -> bool {
    std::process::Command::new("capnp")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Which Cap'n Proto compiler `produce --schema x.capnp` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compiler {
    /// The system's `capnp` (on PATH).
    System,
    /// The compiler embedded in this binary as WebAssembly (feature `embedded-capnp`).
    #[cfg(feature = "embedded-capnp")]
    Embedded,
}

/// The error for a schema that needs the system `capnp` where there is none.
fn no_system_capnp(path: &Path) -> anyhow::Error {
    anyhow!(
        "compiling {} needs the Cap'n Proto compiler `capnp`, which is not installed{}: install \
         it (`apt install capnproto` or `brew install capnp`), or pass a precompiled schema \
         (`capnp compile -o- {} > schema.bin`, then --schema schema.bin)",
        path.display(),
        if cfg!(feature = "embedded-capnp") {
            " (HOLLOW_CAPNP=system asks for it; unset it to use the embedded one)"
        } else {
            " (and this build has no embedded one)"
        },
        path.display()
    )
}

/// The system `capnp` when installed, else the embedded one; `HOLLOW_CAPNP=system|embedded`
/// chooses.
fn compiler(path: &Path) -> Result<Compiler> {
    let choice = std::env::var("HOLLOW_CAPNP").unwrap_or_default();
    match choice.as_str() {
        "system" if capnp_installed() => return Ok(Compiler::System),
        "system" => return Err(no_system_capnp(path)),
        #[cfg(feature = "embedded-capnp")]
        "embedded" => return Ok(Compiler::Embedded),
        "" => {}
        other => bail!(
            "HOLLOW_CAPNP={other:?}: the compilers are `system` (capnp on PATH){}",
            if cfg!(feature = "embedded-capnp") {
                " and `embedded`"
            } else {
                " (this build has no embedded compiler)"
            }
        ),
    }
    if capnp_installed() {
        return Ok(Compiler::System);
    }
    #[cfg(feature = "embedded-capnp")]
    {
        Ok(Compiler::Embedded)
    }
    #[cfg(not(feature = "embedded-capnp"))]
    Err(no_system_capnp(path))
}

/// Compiles a `.capnp` file into a `CodeGeneratorRequest` (as `capnp compile -o-` does), with
/// the system `capnp` or the embedded compiler; `hollow.capnp` resolves whether the
/// schema imports it as `"hollow.capnp"` (a sibling) or `"/hollow.capnp"` (an import path).
fn compile(path: &Path) -> Result<Vec<u8>> {
    let compiler = compiler(path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    std::fs::write(tmp.path().join("hollow.capnp"), HOLLOW_CAPNP)
        .context("writing hollow.capnp to a temporary directory")?;
    // A relative import resolves only beside the importing file: without a hollow.capnp there,
    // compile a copy of the schema's directory (its .capnp files) next to ours.
    let (src_dir, target) = if dir.join("hollow.capnp").exists() {
        (dir.to_path_buf(), path.to_path_buf())
    } else {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "capnp") && p.is_file() {
                std::fs::copy(&p, tmp.path().join(entry.file_name()))
                    .with_context(|| format!("copying {}", p.display()))?;
            }
        }
        (tmp.path().to_path_buf(), tmp.path().join(file))
    };
    #[cfg(feature = "embedded-capnp")]
    if compiler == Compiler::Embedded {
        tracing::debug!(schema = %path.display(), "compiling with the embedded capnp");
        let tmp_prefix = format!("{}/", src_dir.display());
        return capnpc_embedded::CompileCommand::new()
            .src_prefix(&src_dir)
            .import_path(tmp.path())
            .import_path(dir)
            .file(&target)
            .compile()
            .map_err(|e| {
                anyhow!(
                    "capnp could not compile {}:\n{}",
                    path.display(),
                    e.to_string().replace(&tmp_prefix, "").trim_end()
                )
            });
    }
    let out = std::process::Command::new("capnp")
        .arg("compile")
        .arg("-o-")
        .arg(format!("--src-prefix={}", src_dir.display()))
        .arg("-I")
        .arg(tmp.path())
        .arg("-I")
        .arg(dir)
        .arg(&target)
        .output()
        .context("running capnp compile")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tmp_prefix = format!("{}/", src_dir.display());
        bail!(
            "capnp could not compile {}:\n{}",
            path.display(),
            stderr.replace(&tmp_prefix, "").trim_end()
        );
    }
    Ok(out.stdout)
}

/// Loads `--schema`: `.capnp` source is compiled, anything else is read as a precompiled
/// `CodeGeneratorRequest` (and compiled after all if it does not parse but looks like source).
fn load_schema(path: &Path) -> Result<LoadedSchema> {
    let is_source = path.extension().is_some_and(|e| e == "capnp");
    let bytes = if is_source {
        compile(path)?
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading schema {}", path.display()))?;
        let looks_like_source =
            std::str::from_utf8(&bytes).is_ok_and(|s| s.trim_start().starts_with("@0x"));
        if Schema::from_code_generator_request(&bytes).is_err() && looks_like_source {
            compile(path)?
        } else {
            bytes
        }
    };
    let schema = Schema::from_code_generator_request(&bytes).with_context(|| {
        format!(
            "{} is not a compiled Cap'n Proto schema (capnp compile -o-)",
            path.display()
        )
    })?;
    let top_level = top_level_structs(&bytes, &schema)?;
    Ok(LoadedSchema { schema, top_level })
}

/// Names of the structs declared at the top level of the requested files.
fn top_level_structs(bytes: &[u8], schema: &Schema) -> Result<Vec<String>> {
    let mut slice = bytes;
    let message = capnp::serialize::read_message_from_flat_slice(
        &mut slice,
        capnp::message::ReaderOptions::new(),
    )?;
    let request: capnp::schema_capnp::code_generator_request::Reader<'_> = message.get_root()?;
    let files: BTreeSet<u64> = request
        .get_requested_files()?
        .iter()
        .map(|f| f.get_id())
        .collect();
    let mut names = Vec::new();
    for node in request.get_nodes()? {
        if files.contains(&node.get_scope_id())
            && let Some(info) = schema.struct_by_id(node.get_id())
            && !info.is_group
        {
            names.push(info.name.clone());
        }
    }
    Ok(names)
}

/// A JSON value parsed refusing duplicate object members (`serde_json::Value` keeps the last
/// one silently).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        serde::Deserialize::deserialize(d).map(|Strict(v)| v)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate member {key:?} (each member may appear once)"
                )));
            }
            let Strict(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }
}

/// Parses JSON text refusing duplicate members.
fn parse_strict(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str::<Strict>(text).map(|Strict(v)| v)
}

/// One input record.
enum Record {
    Upsert(String, Value),
    Delete(String, Value),
}

/// Where a record came from, for error messages.
fn at(file: &Path, line: u64) -> String {
    format!("{}:{line}", file.display())
}

/// Reads records from a file and hands each (with its line) to `f`.
struct Input<'a> {
    path: &'a Path,
    /// The longest line (`--limit line-bytes`).
    max_line_bytes: usize,
    type_name: Option<&'a str>,
    incremental: bool,
    encoders: &'a HashMap<String, RecordEncoder>,
    /// Primary-key field paths by type (keyless types absent).
    keys: &'a HashMap<String, Vec<String>>,
}

impl Input<'_> {
    /// Encodes the record of line `line` (checking its primary key is given) and hands its root
    /// to `add` (a cycle's or an incremental cycle's); errors name the place.
    fn with_record(
        &self,
        type_name: &str,
        value: &Value,
        line: u64,
        add: impl FnOnce(capnp::any_pointer::Reader<'_>) -> Result<(), hollow::CycleError>,
    ) -> Result<()> {
        let encoder = self.encoder(type_name, line)?;
        self.check_key(type_name, value, line)?;
        let message = encoder
            .encode(value)
            .map_err(|e| encode_error(self.path, line, &e))?;
        let root: capnp::any_pointer::Reader<'_> = message.get_root_as_reader()?;
        match add(root) {
            Ok(()) => Ok(()),
            Err(e @ hollow::CycleError::DuplicateKey { .. }) => {
                let first = self
                    .first_with_key(type_name, value, line)
                    .map_or(String::new(), |l| {
                        format!(" (the first is at {})", at(self.path, l))
                    });
                Err(anyhow::Error::from(e).context(format!(
                    "{}: {type_name} record{first}",
                    at(self.path, line)
                )))
            }
            Err(e) => Err(anyhow::Error::from(e)
                .context(format!("{}: {type_name} record", at(self.path, line)))),
        }
    }

    /// The lines of the `type_name` records of the file whose values under the unique index
    /// `index` render as `key` (read again from the file: only when a violation is reported).
    /// Records whose index fields go through a list are not matched.
    fn lines_with_index_key(&self, type_name: &str, index: &str, key: &str) -> Vec<u64> {
        let Some(encoder) = self.encoders.get(type_name) else {
            return Vec::new();
        };
        let Ok(paths) = encoder.schema().indexes(encoder.type_info().id) else {
            return Vec::new();
        };
        let Some(path) = paths.into_iter().find(|p| p.name() == index) else {
            return Vec::new();
        };
        let fields: Vec<String> = path.field_paths().map(str::to_string).collect();
        let mut lines = Vec::new();
        let _ = self.for_each(|l, record| {
            let Record::Upsert(t, v) = record else {
                return Ok(());
            };
            if t != type_name {
                return Ok(());
            }
            let mut values = Vec::with_capacity(fields.len());
            for f in &fields {
                let at = f
                    .split('.')
                    .try_fold(&v, |at, part| at.as_object().and_then(|o| o.get(part)));
                match at {
                    Some(Value::String(s)) => values.push(s.clone()),
                    Some(n @ (Value::Number(_) | Value::Bool(_))) => values.push(n.to_string()),
                    _ => return Ok(()),
                }
            }
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            if path
                .encode_strings(&refs)
                .is_ok_and(|k| path.render(&k) == key)
            {
                lines.push(l);
            }
            Ok(())
        });
        lines
    }

    /// The line of the first `type_name` record before `line` with the primary key of `value`
    /// (read again from the file: only when a duplicate is reported).
    fn first_with_key(&self, type_name: &str, value: &Value, line: u64) -> Option<u64> {
        let paths = self.keys.get(type_name)?;
        let key_of = |v: &Value| -> Vec<Value> {
            paths
                .iter()
                .map(|p| {
                    p.split('.')
                        .fold(v, |at, part| at.get(part).unwrap_or(&Value::Null))
                        .clone()
                })
                .collect()
        };
        let wanted = key_of(value);
        let mut found = None;
        // The scan stops at the first match by returning an error; any other error ends it too.
        let _ = self.for_each(|l, record| {
            if l >= line {
                bail!("not before the duplicate");
            }
            if let Record::Upsert(t, v) = record
                && t == type_name
                && key_of(&v) == wanted
            {
                found = Some(l);
                bail!("found");
            }
            Ok(())
        });
        found
    }

    /// Fails when an upserted record lacks a primary-key field (absent or null): the encoder
    /// would otherwise store the field's default and silently make it the key.
    fn check_key(&self, type_name: &str, value: &Value, line: u64) -> Result<()> {
        let Some(paths) = self.keys.get(type_name) else {
            return Ok(());
        };
        for path in paths {
            let mut v = value;
            for part in path.split('.') {
                v = v.get(part).unwrap_or(&Value::Null);
            }
            if v.is_null() {
                bail!(
                    "{}: the {type_name} record has no value for its primary-key field {path}",
                    at(self.path, line)
                );
            }
        }
        Ok(())
    }
}

/// The bar of the first stage of a cycle, "reading FILE": bytes read of the file's size.
/// Drawn only when stderr is a terminal (indicatif's stderr target hides itself otherwise);
/// no ETA (early estimates of a seconds-long job are noise).
fn progress(len: u64, path: &Path) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(8));
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:.bold} {wide_bar} {binary_bytes}/{binary_total_bytes} ({elapsed})",
    ) {
        bar.set_style(style);
    }
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    bar.set_prefix(format!("reading {name}"));
    bar
}

impl Input<'_> {
    fn encoder(&self, type_name: &str, line: u64) -> Result<&RecordEncoder> {
        self.encoders.get(type_name).ok_or_else(|| {
            let mut known: Vec<&str> = self.encoders.keys().map(String::as_str).collect();
            known.sort_unstable();
            anyhow!(
                "{}: type {type_name} is not a type of this dataset (registered: {})",
                at(self.path, line),
                known.join(", ")
            )
        })
    }

    fn for_each(&self, mut f: impl FnMut(u64, Record) -> Result<()>) -> Result<u64> {
        let is_csv = self.path.extension().is_some_and(|e| e == "csv");
        if is_csv {
            self.csv(&mut f)
        } else {
            self.jsonl(&mut f)
        }
    }

    fn jsonl(&self, f: &mut impl FnMut(u64, Record) -> Result<()>) -> Result<u64> {
        let file = std::fs::File::open(self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        let bar = progress(file.metadata().map_or(0, |m| m.len()), self.path);
        let mut reader = std::io::BufReader::new(LineLimited::new(file, self.max_line_bytes));
        let mut text = String::new();
        let mut records = 0;
        let mut line = 0u64;
        loop {
            text.clear();
            let n = reader
                .read_line(&mut text)
                .with_context(|| format!("{}: reading", at(self.path, line + 1)))?;
            if n == 0 {
                break;
            }
            line += 1;
            bar.inc(n as u64);
            // A UTF-8 byte-order mark (some editors and exports write one) is not content.
            let content = if line == 1 {
                text.strip_prefix('\u{feff}').unwrap_or(&text)
            } else {
                &text
            };
            if content.trim().is_empty() {
                continue;
            }
            let value = parse_strict(content)
                .with_context(|| format!("{}: malformed JSON", at(self.path, line)))?;
            let record = self.classify(value, line)?;
            f(line, record)?;
            records += 1;
        }
        bar.finish_and_clear();
        Ok(records)
    }

    /// Splits a JSONL object into its type and an upsert or a delete.
    fn classify(&self, value: Value, line: u64) -> Result<Record> {
        let Value::Object(mut object) = value else {
            bail!(
                "{}: expected a JSON object, found {}",
                at(self.path, line),
                short(&value)
            );
        };
        let type_name = match self.type_name {
            Some(t) => {
                // "type" is the discriminator unless the struct has a field of that name.
                let has_field = self
                    .encoders
                    .get(t)
                    .is_some_and(|e| e.type_info().field(TYPE_MEMBER).is_some());
                if !has_field
                    && let Some(named) = object.remove(TYPE_MEMBER)
                    && named.as_str() != Some(t)
                {
                    bail!(
                        "{}: the line's \"type\" is {} but --type is {t}",
                        at(self.path, line),
                        short(&named)
                    );
                }
                t.to_string()
            }
            None => match object.remove(TYPE_MEMBER) {
                Some(Value::String(s)) => s,
                Some(other) => bail!(
                    "{}: \"type\" must be a string naming a struct, found {}",
                    at(self.path, line),
                    short(&other)
                ),
                None => bail!(
                    "{}: the line has no \"type\" member naming its struct (or pass --type)",
                    at(self.path, line)
                ),
            },
        };
        if let Some(key) = object.remove(DELETE_MEMBER) {
            if !self.incremental {
                bail!(
                    "{}: \"$delete\" lines need --incremental (a full cycle deletes by omission)",
                    at(self.path, line)
                );
            }
            if let Some(extra) = object.keys().next() {
                bail!(
                    "{}: a \"$delete\" line holds only \"type\" and \"$delete\", not {extra:?}",
                    at(self.path, line)
                );
            }
            return Ok(Record::Delete(type_name, key));
        }
        Ok(Record::Upsert(type_name, Value::Object(object)))
    }

    fn csv(&self, f: &mut impl FnMut(u64, Record) -> Result<()>) -> Result<u64> {
        let file = std::fs::File::open(self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        let bar = progress(file.metadata().map_or(0, |m| m.len()), self.path);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(LineLimited::new(file, self.max_line_bytes));
        let headers: Vec<String> = reader
            .headers()
            .with_context(|| format!("{}: reading the header row", at(self.path, 1)))?
            .iter()
            .map(str::to_string)
            .collect();
        for (i, h) in headers.iter().enumerate() {
            if let Some(j) = headers[..i].iter().position(|x| x == h) {
                bail!(
                    "{}: the header row names column {h:?} twice (columns {} and {})",
                    at(self.path, 1),
                    j + 1,
                    i + 1
                );
            }
        }
        let type_column = headers.iter().position(|h| h == TYPE_MEMBER);
        let fixed_type = match (self.type_name, type_column) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => bail!(
                "{}: CSV input needs --type (or a \"type\" column naming each row's struct)",
                self.path.display()
            ),
        };
        // A "type" column is the discriminator unless --type's struct has a field "type".
        let discriminator = type_column.filter(|_| {
            fixed_type
                .as_deref()
                .and_then(|t| self.encoders.get(t))
                .is_none_or(|e| e.type_info().field(TYPE_MEMBER).is_none())
        });
        let mut records = 0;
        let mut row = csv::StringRecord::new();
        loop {
            let more = match reader.read_record(&mut row) {
                Ok(more) => more,
                Err(e) => {
                    // The line the offending record starts on, as the error places it.
                    let line = e
                        .position()
                        .map_or_else(|| reader.position().line(), csv::Position::line);
                    return Err(anyhow::Error::from(e)
                        .context(format!("{}: reading CSV", at(self.path, line))));
                }
            };
            if !more {
                break;
            }
            let line = row.position().map_or(0, csv::Position::line);
            bar.set_position(row.position().map_or(0, csv::Position::byte));
            let type_name = match (&fixed_type, discriminator) {
                (Some(t), _) => t.clone(),
                (None, Some(c)) => row.get(c).unwrap_or_default().to_string(),
                (None, None) => unreachable!("checked above"),
            };
            let encoder = self.encoder(&type_name, line)?;
            let mut object = Map::new();
            for (column, (header, cell)) in headers.iter().zip(row.iter()).enumerate() {
                if Some(column) == discriminator {
                    continue;
                }
                let column_error = |e: &dyn std::fmt::Display| {
                    anyhow!(
                        "{}: column {} ({header}): {e}",
                        at(self.path, line),
                        column + 1
                    )
                };
                let ty = encoder
                    .field_type(header)
                    .ok_or_else(|| column_error(&format!("{type_name} has no field {header}")))?;
                let Some(value) =
                    parse_cell(encoder.schema(), ty, header, cell).map_err(|e| column_error(&e))?
                else {
                    continue;
                };
                insert_path(&mut object, header, value);
            }
            // Encode here so that errors name the column.
            if let Err(e) = encoder.encode(&Value::Object(object.clone())) {
                let column = headers
                    .iter()
                    .position(|h| {
                        e.path == *h
                            || e.path.starts_with(&format!("{h}."))
                            || e.path.starts_with(&format!("{h}["))
                    })
                    .map_or(String::new(), |c| {
                        format!(" column {} ({})", c + 1, headers[c])
                    });
                bail!("{}:{column}: {e}", at(self.path, line));
            }
            f(line, Record::Upsert(type_name, Value::Object(object)))?;
            records += 1;
        }
        bar.finish_and_clear();
        Ok(records)
    }
}

/// Sets `value` at a dotted path inside `object`, creating nested objects.
fn insert_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = object
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(map) = child {
                insert_path(map, rest, value);
            }
        }
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// A record error with its place.
fn encode_error(path: &Path, line: u64, e: &EncodeError) -> anyhow::Error {
    anyhow!("{}: {e}", at(path, line))
}

/// Ends a populate closure early; the detailed error (with its place) is kept aside.
fn stop() -> hollow::CycleError {
    hollow::CycleError::aborted("input rejected")
}

/// Runs one cycle from one file; returns the report as JSON.
async fn cycle(
    producer: &Producer,
    args: &ProduceArgs,
    encoders: &HashMap<String, RecordEncoder>,
    keys: &HashMap<String, Vec<String>>,
    file: &Path,
) -> Result<Value> {
    let input = Input {
        path: file,
        max_line_bytes: args.limits().input_line_bytes(),
        type_name: args.type_name.as_deref(),
        incremental: args.incremental,
        encoders,
        keys,
    };
    let started = Instant::now();
    let mut failure: Option<anyhow::Error> = None;
    // The second stage, once the file is read: the producer encodes, verifies, writes and
    // announces (a spinner with the records read; hidden when stderr is not a terminal).
    let mut publishing: Option<ProgressBar> = None;
    let next = producer.version().await.map_or(1, |v| v + 1);
    let mut stage = |records: u64| {
        publishing = Some(crate::data::spinner(&format!(
            "encoding, verifying and publishing version {next} ({records} records read)"
        )));
    };
    let mut counts = (0u64, 0u64); // records, deletes
    let outcome = if args.incremental {
        producer
            .run_incremental(|inc| {
                let result = input.for_each(|line, record| match record {
                    Record::Upsert(t, value) => {
                        input.with_record(&t, &value, line, |root| inc.upsert_dynamic(&t, root))?;
                        counts.0 += 1;
                        Ok(())
                    }
                    Record::Delete(t, key) => {
                        let encoder = input.encoder(&t, line)?;
                        let values = encoder
                            .key_values(&key)
                            .map_err(|e| encode_error(file, line, &e))?;
                        let refs: Vec<_> = values.iter().map(|v| v.as_key_value()).collect();
                        inc.delete_key(&t, &refs)
                            .with_context(|| format!("{}: deleting a {t}", at(file, line)))?;
                        counts.1 += 1;
                        Ok(())
                    }
                });
                if result.is_ok() {
                    stage(counts.0 + counts.1);
                }
                result.map(|_| ()).map_err(|e| {
                    failure = Some(e);
                    stop()
                })
            })
            .await
    } else {
        producer
            .run_cycle(|cycle| {
                let result = input.for_each(|line, record| match record {
                    Record::Upsert(t, value) => {
                        input.with_record(&t, &value, line, |root| cycle.add_dynamic(&t, root))?;
                        counts.0 += 1;
                        Ok(())
                    }
                    Record::Delete(..) => unreachable!("rejected without --incremental"),
                });
                let result = result.and_then(|n| {
                    if n == 0 && !args.allow_mass_delete {
                        bail!(
                            "{} holds no records: a full cycle from it would remove every record \
                             of the dataset (an empty or truncated export?); pass \
                             --allow-mass-delete to publish an empty dataset",
                            file.display()
                        );
                    }
                    Ok(n)
                });
                if result.is_ok() {
                    stage(counts.0);
                }
                result.map(|_| ()).map_err(|e| {
                    failure = Some(e);
                    stop()
                })
            })
            .await
    };
    if let Some(bar) = publishing.take() {
        bar.finish_and_clear();
    }
    let outcome = match (outcome, failure) {
        (_, Some(e)) => return Err(e.context(format!("nothing published for {}", file.display()))),
        (Err(e), None) => {
            let mut e = anyhow::Error::from(e);
            if let Some(hollow::CycleError::UniqueViolation {
                type_name,
                index,
                key,
            }) = e.downcast_ref::<hollow::CycleError>()
            {
                let lines = input.lines_with_index_key(type_name, index, key);
                if !lines.is_empty() {
                    let places: Vec<String> = lines.iter().map(|l| at(file, *l)).collect();
                    let context = format!("the {type_name} records at {}", places.join(" and "));
                    e = e.context(context);
                }
            }
            return Err(e.context(format!("nothing published for {}", file.display())));
        }
        (Ok(o), None) => o,
    };
    let total = started.elapsed();
    let mut value = json!({
        "file": file.display().to_string(),
        "records": counts.0,
        "deletes": counts.1,
        "millis": millis(total),
    });
    match outcome {
        CycleOutcome::Unchanged { version } => {
            value["published"] = json!(false);
            value["version"] = json!(version);
        }
        CycleOutcome::Published(r) => {
            value["published"] = json!(true);
            value["version"] = json!(r.version);
            value["tag"] = json!(format!("{:#018x}", r.tag));
            value["types"] = r
                .types
                .iter()
                .map(|(name, c)| {
                    json!({"type": name, "added": c.added, "changed": c.updated, "removed": c.removed})
                })
                .collect();
            value["snapshot_bytes"] = json!(r.snapshot_bytes);
            value["delta_bytes"] = json!(r.delta_bytes);
            value["reverse_delta_bytes"] = json!(r.reverse_delta_bytes);
            value["stored_bytes"] = json!(r.stored_bytes);
            let t = r.timings;
            value["timings_millis"] = json!({
                "populate": millis(t.populate), "validate": millis(t.validate),
                "encode": millis(t.encode), "verify": millis(t.verify),
                "publish": millis(t.publish), "announce": millis(t.announce),
            });
        }
    }
    Ok(value)
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn print_report(out: &mut impl Write, json_output: bool, r: &Value) -> Result<()> {
    if json_output {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
        return Ok(());
    }
    let file = r["file"].as_str().unwrap_or_default();
    let records = &r["records"];
    if r["published"] == json!(false) {
        writeln!(
            out,
            "{file}: {records} records, nothing changed: still version {} (nothing published)",
            r["version"]
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{file}: {records} records, {} deletes → version {} (tag {})",
        r["deletes"],
        r["version"],
        r["tag"].as_str().unwrap_or_default()
    )?;
    for t in r["types"].as_array().map(Vec::as_slice).unwrap_or_default() {
        writeln!(
            out,
            "  {:<16} +{} added  ~{} changed  -{} removed",
            t["type"].as_str().unwrap_or_default(),
            t["added"],
            t["changed"],
            t["removed"]
        )?;
    }
    let bytes = |k: &str| match r[k].as_u64() {
        Some(n) => indicatif::HumanBytes(n).to_string(),
        None => "-".into(),
    };
    writeln!(
        out,
        "  snapshot {}  delta {}  reverse delta {}  ({} stored)",
        bytes("snapshot_bytes"),
        bytes("delta_bytes"),
        bytes("reverse_delta_bytes"),
        bytes("stored_bytes")
    )?;
    let t = &r["timings_millis"];
    writeln!(
        out,
        "  timings (ms): read+populate {}  validate {}  encode {}  verify {}  publish {}  announce {}  total {}",
        t["populate"],
        t["validate"],
        t["encode"],
        t["verify"],
        t["publish"],
        t["announce"],
        r["millis"]
    )?;
    Ok(())
}

/// The journal of files a watcher has produced, one name per line, inside the watched directory.
const WATCH_JOURNAL: &str = ".hollow-produced";

fn remember(journal: &Path, file: &Path) -> Result<()> {
    use std::io::Write as _;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal)
        .with_context(|| format!("recording {name} in {}", journal.display()))?;
    writeln!(f, "{name}")?;
    Ok(())
}

/// Where a watcher moves files it could not produce, inside the watched directory.
const WATCH_FAILED: &str = ".hollow-failed";

/// Whether an error (anywhere in its chain) is a lost race with another producer.
fn is_conflict(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<hollow::CycleError>(),
            Some(hollow::CycleError::Conflict { .. })
        ) || matches!(
            c.downcast_ref::<hollow::StoreError>(),
            Some(hollow::StoreError::Conflict { .. })
        )
    })
}

/// Moves a file that failed into `DIR/.hollow-failed/` with a note of the error beside it
/// (`NAME.error`); returns its new path.
fn set_aside(dir: &Path, file: &Path, e: &anyhow::Error) -> Result<PathBuf> {
    let failed = dir.join(WATCH_FAILED);
    std::fs::create_dir_all(&failed).with_context(|| format!("creating {}", failed.display()))?;
    let name = file.file_name().context("the file has no name")?;
    let to = failed.join(name);
    let mut note = to.clone().into_os_string();
    note.push(".error");
    std::fs::write(&note, format!("{e:#}\n"))
        .with_context(|| format!("writing {}", Path::new(&note).display()))?;
    std::fs::rename(file, &to).with_context(|| format!("moving it to {}", to.display()))?;
    Ok(to)
}

/// Input files of a watched directory, in name order, with their size and modification time.
/// Dotfiles and names not ending in `.jsonl` or `.csv` (`*.tmp`, `*.partial`, …) are ignored.
#[allow(clippy::type_complexity)]
fn watched_files(dir: &Path) -> Result<Vec<(PathBuf, (u64, Option<std::time::SystemTime>))>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden || !path.extension().is_some_and(|e| e == "jsonl" || e == "csv") {
            continue;
        }
        // A file renamed away or deleted since listing is simply not a candidate.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            files.push((path, (meta.len(), meta.modified().ok())));
        }
    }
    files.sort();
    Ok(files)
}

/// `hollow produce`.
pub async fn run(args: &ProduceArgs, out: &mut impl Write) -> Result<()> {
    args.store
        .require_for(crate::data::Access::Create, "produce")?;
    let mut loaded = load_schema(&args.schema)?;
    for (type_name, fields) in &args.primary_key {
        loaded.schema = loaded
            .schema
            .with_primary_key(type_name, fields)
            .with_context(|| format!("--primary-key {type_name}={fields}"))?;
    }
    let names: Vec<String> = match &args.type_name {
        Some(t) => {
            if loaded.schema.struct_by_name(t).is_none() {
                bail!(
                    "--type {t}: the schema has no struct {t} (structs: {})",
                    loaded.schema.struct_names().collect::<Vec<_>>().join(", ")
                );
            }
            vec![t.clone()]
        }
        // A struct used only as a field type (an address, an author) is a value inside the
        // records of other types, not a dataset type of its own.
        None => {
            let nested = loaded.schema.field_type_structs();
            loaded
                .top_level
                .iter()
                .filter(|name| {
                    loaded.schema.struct_by_name(name).is_some_and(|info| {
                        info.primary_key_annotation.is_some() || !nested.contains(&info.id)
                    })
                })
                .cloned()
                .collect()
        }
    };
    if names.is_empty() {
        bail!("{} declares no struct", args.schema.display());
    }
    let mut encoders = HashMap::new();
    for name in &names {
        encoders.insert(
            name.clone(),
            RecordEncoder::new(&loaded.schema, name)
                .map_err(|e| anyhow!("{name}: {e}"))?
                .with_limits(args.limits()),
        );
    }
    let mut keys = HashMap::new();
    for name in &names {
        if let Some(info) = loaded.schema.struct_by_name(name)
            && let Some(key) = loaded.schema.primary_key(info.id)?
        {
            keys.insert(
                name.clone(),
                key.fields
                    .iter()
                    .map(|f| f.path.clone())
                    .collect::<Vec<_>>(),
            );
        } else if let Some(info) = loaded.schema.struct_by_name(name) {
            // Keyless types work, but users usually meant to key them: say so once.
            let hint = info
                .fields
                .iter()
                .find(|f| f.name == "id" || f.name.ends_with("Id") || f.name == "key")
                .map_or_else(
                    || "$Hollow.primaryKey(\"field\") or --primary-key".to_string(),
                    |f| format!("--primary-key {name}={}", f.name),
                );
            eprintln!(
                "note: {name} has no primary key: its records are identified by their whole \
                 content (a changed record is a removal plus an addition; `get` and `history` \
                 need a key). To key it: {hint}"
            );
        }
    }
    let store = args
        .store
        .open_for(crate::data::Access::Create, "produce")?;
    let dataset = match &args.dataset {
        Some(d) => d.clone(),
        None => match store.announcement().await? {
            Some((a, _)) => a.dataset,
            None => args
                .schema
                .file_stem()
                .map_or("dataset".into(), |s| s.to_string_lossy().into_owned()),
        },
    };
    let push = args.push.connect(Some(&dataset)).await?;
    let metrics = match args.metrics_bind {
        Some(bind) => {
            let m = std::sync::Arc::new(crate::serve::metrics::ProducerMetrics::default());
            crate::serve::metrics::serve_producer(bind, m.clone()).await?;
            Some(m)
        }
        None => None,
    };
    let build = || async {
        let mut builder = Producer::builder(store.clone(), &dataset).schema(loaded.schema.clone());
        builder = guard_full_cycles(builder, args).limits(args.limits());
        if let Some(m) = &metrics {
            let m = m.clone();
            builder = builder.listener(move |e: &hollow::CycleEvent<'_>| {
                hollow::CycleListener::on_cycle(m.as_ref(), e);
            });
        }
        if let Some(push) = &push {
            builder = builder.push(push.clone());
        }
        for name in &names {
            builder = builder.register_name(name);
        }
        builder.build().await.with_context(|| {
            format!(
                "starting a producer for {} (restoring its announced version)",
                args.store.location()
            )
        })
    };
    let mut producer = build().await?;

    let Some(dir) = &args.watch else {
        let file = args
            .input
            .as_deref()
            .context("--input or --watch is required")?;
        let report = cycle(&producer, args, &encoders, &keys, file).await?;
        return print_report(out, args.store.json, &report);
    };
    // Files already produced (in an earlier run too) are listed in DIR/.hollow-produced, so a
    // restarted watcher never publishes an old file again.
    let journal = dir.join(WATCH_JOURNAL);
    let mut done: BTreeSet<PathBuf> = match std::fs::read_to_string(&journal) {
        Ok(text) => text.lines().map(|l| dir.join(l)).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => {
            return Err(anyhow::Error::from(e).context(format!("reading {}", journal.display())));
        }
    };
    let (mut cycles, mut failed) = (0usize, 0usize);
    let limit = args.max_cycles.unwrap_or(usize::MAX);
    let poll = Duration::from_millis(args.poll_ms.max(10));
    // (size, mtime) of each candidate at the previous poll: a file is taken only once it is
    // unchanged across two polls (a writer still appending is waited for).
    let mut seen: HashMap<PathBuf, (u64, Option<std::time::SystemTime>)> = HashMap::new();
    'watch: while cycles < limit {
        for (file, stamp) in watched_files(dir)? {
            if cycles >= limit {
                break 'watch;
            }
            if done.contains(&file) {
                continue;
            }
            if seen.insert(file.clone(), stamp) != Some(stamp) {
                eprintln!(
                    "note: {}: waiting until it stops changing ({} bytes)",
                    file.display(),
                    stamp.0
                );
                continue;
            }
            seen.remove(&file);
            done.insert(file.clone());
            cycles += 1;
            let mut result = cycle(&producer, args, &encoders, &keys, &file).await;
            // Lost a race with another producer: restore the version it announced and run
            // the file again on top of it (a few times, if the race repeats).
            for _ in 0..3 {
                let Err(e) = &result else { break };
                let announced = store.announcement().await?.map(|(a, _)| a.version);
                if announced == producer.version().await && !is_conflict(e) {
                    break;
                }
                eprintln!(
                    "note: {}: the store moved to version {} (another producer?): restoring it \
                     and producing the file again",
                    file.display(),
                    announced.map_or("-".into(), |v| v.to_string())
                );
                producer = build().await?;
                result = cycle(&producer, args, &encoders, &keys, &file).await;
            }
            match result {
                Ok(report) => {
                    remember(&journal, &file)?;
                    print_report(out, args.store.json, &report)?;
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("error: {e:#}");
                    match set_aside(dir, &file, &e) {
                        Ok(to) => eprintln!(
                            "note: moved {} to {} (the error is beside it): fix it and move it \
                             back to produce it",
                            file.display(),
                            to.display()
                        ),
                        Err(m) => eprintln!(
                            "error: could not move {} aside ({m:#}): it is skipped until the \
                             watcher restarts",
                            file.display()
                        ),
                    }
                }
            }
            out.flush()?;
        }
        if cycles >= limit {
            break;
        }
        // The directory is polled (--poll-ms): a portable watch with no extra dependency; new
        // files are picked up within two intervals. Ctrl-C ends the wait at once.
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {cycles} file(s) failed: nothing was published for them (see {})",
            dir.join(WATCH_FAILED).display()
        );
    }
    Ok(())
}
