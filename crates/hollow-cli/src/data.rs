//! Commands that read a dataset in a store: `inspect`, `get`, `scan`, `query`, `diff`,
//! `history`, `filter`, `checksum`, `pin`, `unpin`, `validate`. Each is a thin layer over the library (store listing, a consumer refreshed to the
//! asked version, the schema-driven view); `--json` gives machine output.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use hollow::format::BlobLayout;
use hollow::{BlobKey, BlobStore, Consumer, ReadState, StateId};
use serde_json::{Value, json};

/// Where the dataset is and how to print.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The dataset's store: a local directory, a file URL (file:///dir or file:/dir), or an
    /// object store URL (s3://bucket/prefix, …). Commands that write (produce, pin, unpin)
    /// need it (or HOLLOW_STORE); reading commands default to the demo's `hollow-data/demo`
    /// and say so on stderr. Only producing creates a local directory.
    #[arg(long, global = true, env = "HOLLOW_STORE", value_name = "STORE")]
    pub(crate) store: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// What `hollow inspect` shows.
#[derive(Debug, clap::Subcommand)]
pub enum InspectWhat {
    /// One blob's header and sections, with every checksum verified.
    ///
    /// Example: hollow inspect blob snapshots/00000000000000000001-1f2e3d4c5b6a7988.blob
    Blob {
        /// The blob's key relative to the store (as `hollow inspect` lists them).
        key: String,
    },
}

/// The store reading commands use when none is named: the one `hollow demo` publishes.
pub const DEMO_STORE: &str = "hollow-data/demo";

/// What a command does to its store: a write needs the store named explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading: the demo store is the default (named on stderr).
    Read,
    /// Writing an existing dataset (pin, unpin): `--store` or `HOLLOW_STORE` is required.
    Write,
    /// Producing: as `Write`, and a local directory is created.
    Create,
}

impl StoreArgs {
    /// Fails for a write when no store was named (checked before any other work).
    pub(crate) fn require_for(&self, access: Access, command: &str) -> Result<()> {
        if self.store.is_none() && access != Access::Read {
            bail!(
                "`hollow {command}` writes to a store: name it with --store DIR|URL or the \
                 HOLLOW_STORE environment variable (the demo's is --store {DEMO_STORE})"
            );
        }
        Ok(())
    }

    /// The store's location as given, or the demo store.
    pub(crate) fn location(&self) -> &str {
        self.store.as_deref().unwrap_or(DEMO_STORE)
    }

    /// Opens the store; a local directory is created only for `Access::Create` (producing),
    /// so a mistyped path given to a read command is an error, not a new empty dataset.
    /// A write without `--store`/`HOLLOW_STORE` is refused rather than touching the demo
    /// dataset; a read without one says on stderr that it reads the demo store.
    pub(crate) fn open_for(&self, access: Access, command: &str) -> Result<BlobStore> {
        self.require_for(access, command)?;
        if self.store.is_none() {
            eprintln!(
                "note: reading the demo store {DEMO_STORE} (choose one with --store or HOLLOW_STORE)"
            );
        }
        let create = access == Access::Create;
        let location = self.location();
        if location
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("memory://"))
        {
            bail!(
                "--store {location}: an in-memory store lives only as long as one command, so \
                 nothing would be kept; give a directory or an object store URL"
            );
        }
        let local =
            if location.starts_with("file:") {
                let url = url::Url::parse(location)
                    .with_context(|| format!("--store {location} is not a valid file URL"))?;
                Some(url.to_file_path().map_err(|()| {
                    anyhow::anyhow!("--store {location}: the URL names no local path")
                })?)
            } else if location.contains("://") {
                None
            } else {
                Some(std::path::PathBuf::from(location))
            };
        if !create
            && let Some(dir) = &local
            && !dir.is_dir()
        {
            bail!(
                "no dataset at {}: the directory does not exist",
                dir.display()
            );
        }
        BlobStore::from_url(location).with_context(|| format!("opening the store {location}"))
    }
}

fn store(args: &StoreArgs) -> Result<BlobStore> {
    args.open_for(Access::Read, "")
}

fn print(
    out: &mut impl Write,
    args: &StoreArgs,
    value: &Value,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    } else {
        text(out)?;
    }
    Ok(())
}

/// A spinner on stderr for work that may take a while (loading a version from a remote store,
/// walking deltas, diffing): drawn only when stderr is a terminal.
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        None,
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    bar
}

async fn state_at(store: &BlobStore, version: Option<u64>) -> Result<Arc<ReadState>> {
    let bar = spinner(&match version {
        Some(v) => format!("loading version {v}"),
        None => "loading the announced version".to_string(),
    });
    let state = load_state(store, version).await;
    bar.finish_and_clear();
    state
}

async fn load_state(store: &BlobStore, version: Option<u64>) -> Result<Arc<ReadState>> {
    let consumer = Consumer::builder(store.clone()).build().await?;
    match version {
        Some(v) => {
            consumer.refresh_to(v).await?;
        }
        None => {
            consumer
                .refresh()
                .await?
                .context("nothing has been announced in this store")?;
        }
    }
    consumer.state().context("the consumer holds no state")
}

/// `hollow inspect`: the announcement, the pin, the blobs, and the types of the newest version.
pub async fn inspect(
    args: &StoreArgs,
    what: Option<&InspectWhat>,
    out: &mut impl Write,
) -> Result<()> {
    let store = store(args)?;
    if let Some(InspectWhat::Blob { key }) = what {
        return inspect_blob(&store, args, key, out).await;
    }
    let Some((announcement, _)) = store.announcement().await? else {
        bail!(
            "nothing has been announced in {}: run a producer (e.g. `hollow demo`) first",
            args.location()
        );
    };
    let pin = store.pinned().await?;
    let mut blobs = Vec::new();
    for key in store.list_blobs().await? {
        let bytes = store.get_blob(&key).await?;
        blobs.push((key, bytes.len()));
    }
    let state = state_at(&store, None).await?;
    let mut details = Vec::new();
    for t in state.dataset_types() {
        let fields = schema_fields(state.schema(), &t.name);
        let mut indexes = Vec::new();
        for (name, kind) in state.dyn_table(&t.name)?.indexes()? {
            let bytes = t
                .secondary_indexes
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, _, b)| *b);
            indexes.push((name, kind, bytes));
        }
        details.push((fields, indexes));
    }
    let types: Vec<Value> = state
        .dataset_types()
        .into_iter()
        .zip(&details)
        .map(|(t, (fields, indexes))| {
            json!({"name": t.name, "records": t.record_count, "ordinalCapacity": t.ordinal_capacity,
                   "primaryKey": t.primary_key, "recordBytes": t.record_bytes, "indexBytes": t.index_bytes,
                   "checksum": format!("{:#018x}", t.checksum),
                   "fields": fields.iter().map(|(n, ty)| json!({"name": n, "type": ty})).collect::<Vec<_>>(),
                   "indexes": indexes.iter().map(|(n, k, b)| json!({"name": n, "kind": k.name(), "bytes": b})).collect::<Vec<_>>()})
        })
        .collect();
    let value = json!({
        "announcement": announcement.to_json(),
        "pin": pin.map(|p| json!({"version": p.version, "tag": format!("{:#018x}", p.tag)})),
        "blobs": blobs.iter().map(|(k, n)| json!({"key": k.relative(), "bytes": n})).collect::<Vec<_>>(),
        "types": types,
    });
    print(out, args, &value, |out| {
        writeln!(
            out,
            "dataset {} at version {} (tag {:#018x})",
            announcement.dataset, announcement.version, announcement.tag
        )?;
        writeln!(
            out,
            "  schema fingerprint {:#018x}",
            announcement.schema_fingerprint
        )?;
        match pin {
            Some(p) => writeln!(out, "  pinned to version {}", p.version)?,
            None => writeln!(out, "  not pinned")?,
        }
        writeln!(out, "blobs:")?;
        for (key, bytes) in &blobs {
            let what = match key {
                BlobKey::Snapshot { state } => format!("snapshot      {}", state.version),
                BlobKey::Delta { from, to } => {
                    format!("delta         {} → {}", from.version, to.version)
                }
                BlobKey::ReverseDelta { from, to } => {
                    format!("reverse delta {} → {}", from.version, to.version)
                }
            };
            writeln!(out, "  {what:<24} {bytes:>12} bytes  {}", key.relative())?;
        }
        writeln!(out, "types at version {}:", state.version())?;
        for (t, (fields, indexes)) in state.dataset_types().into_iter().zip(&details) {
            writeln!(
                out,
                "  {:<16} {:>10} records  {:>12} record bytes  {:>12} index bytes  key ({})",
                t.name,
                t.record_count,
                t.record_bytes,
                t.index_bytes,
                t.primary_key.join(", ")
            )?;
            let fields: Vec<String> = fields.iter().map(|(n, ty)| format!("{n}: {ty}")).collect();
            writeln!(out, "    fields: {}", fields.join(", "))?;
            for (name, kind, bytes) in indexes {
                match bytes {
                    Some(b) => writeln!(out, "    {} index {name}: {b} bytes", kind.name())?,
                    None => writeln!(
                        out,
                        "    {} index {name}: declared after the snapshot (lookups scan)",
                        kind.name()
                    )?,
                }
            }
        }
        Ok(())
    })
}

/// The fields of a struct as `(name, type)`, types written as in a `.capnp` file.
fn schema_fields(schema: &hollow::Schema, type_name: &str) -> Vec<(String, String)> {
    fn render(schema: &hollow::Schema, ty: &hollow::schema::FieldType) -> String {
        use hollow::schema::FieldType as T;
        match ty {
            T::List(inner) => format!("List({})", render(schema, inner)),
            T::Enum(id) => schema
                .enum_by_id(*id)
                .map_or_else(|| format!("enum {id:#x}"), |e| e.name.clone()),
            T::Struct(id) => schema
                .struct_by_id(*id)
                .map_or_else(|| format!("struct {id:#x}"), |s| s.name.clone()),
            T::UInt8 => "UInt8".into(),
            T::UInt16 => "UInt16".into(),
            T::UInt32 => "UInt32".into(),
            T::UInt64 => "UInt64".into(),
            other => format!("{other:?}"),
        }
    }
    let Some(info) = schema.struct_by_name(type_name) else {
        return Vec::new();
    };
    info.fields
        .iter()
        .map(|f| {
            let ty = match &f.kind {
                hollow::schema::FieldKind::Slot { ty, .. } => render(schema, ty),
                hollow::schema::FieldKind::Group { .. } => "group".to_string(),
                _ => "?".to_string(),
            };
            (f.name.clone(), ty)
        })
        .collect()
}

async fn inspect_blob(
    store: &BlobStore,
    args: &StoreArgs,
    key: &str,
    out: &mut impl Write,
) -> Result<()> {
    let key = BlobKey::parse(key).with_context(|| {
        format!("{key} is not a blob key (snapshots/…, deltas/…, reverse-deltas/…)")
    })?;
    let bytes = store.get_blob(&key).await?;
    let blob = bytes.as_slice();
    let layout = BlobLayout::parse(blob, &key.relative())?;
    let mut sections = Vec::new();
    let mut all_ok = true;
    for s in &layout.sections {
        let ok = s.verify(blob, &key.relative(), None).is_ok();
        all_ok &= ok;
        sections.push(json!({"kind": s.kind.name(), "type": s.type_index, "part": s.part, "offset": s.offset,
                             "bytes": s.len, "checksum": format!("{:#018x}", s.checksum), "verified": ok}));
    }
    let h = layout.header;
    let value = json!({
        "key": key.relative(), "kind": h.kind.name(), "formatVersion": h.format_version,
        "from": {"version": h.from_version, "tag": format!("{:#018x}", h.from_tag)},
        "to": {"version": h.to_version, "tag": format!("{:#018x}", h.to_tag)},
        "schemaFingerprint": format!("{:#018x}", h.schema_fingerprint), "bytes": blob.len(),
        "sections": sections, "verified": all_ok,
    });
    print(out, args, &value, |out| {
        writeln!(
            out,
            "{} ({} bytes): {}, format version {}",
            key.relative(),
            blob.len(),
            h.kind.name(),
            h.format_version
        )?;
        writeln!(
            out,
            "  from version {} (tag {:#018x}) to version {} (tag {:#018x})",
            h.from_version, h.from_tag, h.to_version, h.to_tag
        )?;
        for (s, entry) in layout.sections.iter().zip(&sections) {
            let ty = if s.type_index == hollow::format::NO_TYPE {
                "-".to_string()
            } else {
                s.type_index.to_string()
            };
            let status = if entry["verified"] == json!(true) {
                "ok"
            } else {
                "CHECKSUM MISMATCH"
            };
            writeln!(
                out,
                "  {:<20} type {ty:>3} part {:>4} offset {:>10} {:>10} bytes  {:#018x}  {status}",
                s.kind.name(),
                s.part,
                s.offset,
                s.len,
                s.checksum
            )?;
        }
        Ok(())
    })?;
    if !all_ok {
        bail!("{} failed checksum verification", key.relative());
    }
    Ok(())
}

/// `hollow get TYPE KEY…`: records by primary key, as JSON.
pub async fn get(
    args: &StoreArgs,
    type_name: &str,
    keys: &[String],
    version: Option<u64>,
    out: &mut impl Write,
) -> Result<()> {
    let state = state_at(&store(args)?, version).await?;
    let table = state.dyn_table(type_name)?;
    let key_fields = table.primary_key();
    if key_fields.is_empty() {
        bail!("type {type_name} has no primary key: use `hollow scan {type_name}`");
    }
    if !keys.len().is_multiple_of(key_fields.len()) {
        bail!(
            "{type_name}'s key has {} field(s) ({}): give that many values per record",
            key_fields.len(),
            key_fields.join(", ")
        );
    }
    let mut missing = Vec::new();
    for values in keys.chunks(key_fields.len()) {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        match table.get_by_key_strings(&refs)? {
            Some((_, record)) => {
                if args.json {
                    write_record(out, &record)?;
                } else {
                    serde_json::to_writer_pretty(&mut *out, &record)?;
                    writeln!(out)?;
                }
            }
            None => {
                // A line per key, found or not, so a script can line keys up with results.
                if args.json {
                    #[derive(serde::Serialize)]
                    struct Missing<'a> {
                        key: &'a [String],
                        found: bool,
                    }
                    serde_json::to_writer(
                        &mut *out,
                        &Missing {
                            key: values,
                            found: false,
                        },
                    )?;
                    writeln!(out)?;
                }
                missing.push(values.join(", "));
            }
        }
    }
    if !missing.is_empty() {
        return Err(crate::NotFound(format!(
            "no {type_name} with key {} at version {}",
            missing.join("; "),
            state.version()
        ))
        .into());
    }
    Ok(())
}

/// `hollow query TYPE FIELD=VALUE…`: records whose fields equal the values, through the primary
/// key or a secondary index when one covers exactly these fields, else a scan. The plan goes to
/// stderr (text) or into the JSON document (`--json`).
pub async fn query(
    args: &StoreArgs,
    type_name: &str,
    conditions: &[String],
    limit: Option<usize>,
    version: Option<u64>,
    out: &mut impl Write,
) -> Result<()> {
    let mut pairs: Vec<(&str, Option<String>)> = Vec::with_capacity(conditions.len());
    for c in conditions {
        let Some((field, value)) = c.split_once('=') else {
            bail!("\"{c}\" is not FIELD=VALUE (for example genres=Drama)");
        };
        // FIELD:=JSON takes a JSON value: null (an unset Text/Data field), a string, a number.
        match field.strip_suffix(':') {
            Some(field) => {
                let json: Value = serde_json::from_str(value).with_context(|| {
                    format!("\"{c}\": after := comes a JSON value (null, \"text\", 42)")
                })?;
                let value = match json {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    other => bail!("\"{c}\": {other} is not a single value"),
                };
                pairs.push((field.trim(), value));
            }
            None => pairs.push((field.trim(), Some(value.to_string()))),
        }
    }
    let pairs: Vec<(&str, Option<&str>)> = pairs.iter().map(|(f, v)| (*f, v.as_deref())).collect();
    let state = state_at(&store(args)?, version).await?;
    let table = state.dyn_table(type_name)?;
    let started = std::time::Instant::now();
    let found = table.query_nullable(&pairs)?;
    let plan = found.plan.clone();
    // Records stream out as they are found (JSONL); the count, the plan and the time follow
    // on stderr: a line of text, or with --json one JSON document.
    let mut shown = 0usize;
    let mut total = 0usize;
    for (_, record) in found {
        total += 1;
        if limit.is_none_or(|l| shown < l) {
            write_record(out, &record)?;
            shown += 1;
        }
    }
    let elapsed = started.elapsed();
    if args.json {
        let summary = QuerySummary {
            version: state.version(),
            type_name,
            plan: plan.to_string(),
            uses_index: !matches!(
                plan,
                hollow::QueryPlan::Scan | hollow::QueryPlan::Index { shipped: false, .. }
            ),
            matches: total,
            shown,
            millis: elapsed.as_secs_f64() * 1e3,
        };
        eprintln!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "{total} {type_name} record(s) at version {} via {plan} in {:.3} ms{}",
            state.version(),
            elapsed.as_secs_f64() * 1e3,
            if shown < total {
                format!(" ({shown} shown)")
            } else {
                String::new()
            }
        );
    }
    if total == 0 {
        // The count is on stderr (or in the document) already.
        return Err(crate::NotFound(String::new()).into());
    }
    Ok(())
}

/// What `hollow query --json` says on stderr after the records.
#[derive(serde::Serialize)]
struct QuerySummary<'a> {
    version: u64,
    #[serde(rename = "type")]
    type_name: &'a str,
    plan: String,
    uses_index: bool,
    matches: usize,
    shown: usize,
    millis: f64,
}

/// `n` with thousands separators: 99,949.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One record as a line of JSON, streamed into `out` (members in schema order).
pub(crate) fn write_record(out: &mut impl Write, record: &hollow::DynRecord<'_>) -> Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `hollow filter --types A,B --out FILE`: a snapshot of a version with only some types.
pub async fn filter(
    args: &StoreArgs,
    types: &[String],
    out_path: &std::path::Path,
    version: Option<u64>,
    out: &mut impl Write,
) -> Result<()> {
    let state = state_at(&store(args)?, version).await?;
    let known: Vec<String> = state.dataset_types().into_iter().map(|t| t.name).collect();
    if let Some(missing) = types.iter().find(|t| !known.contains(t)) {
        bail!(
            "version {} has no type {missing} (types: {})",
            state.version(),
            known.join(", ")
        );
    }
    let blob = hollow::tools::filter(&state, |t| types.iter().any(|k| k == t))?;
    std::fs::write(out_path, blob.as_slice())
        .with_context(|| format!("writing {}", out_path.display()))?;
    let value = json!({
        "version": state.version(),
        "types": types,
        "bytes": blob.len(),
        "path": out_path.display().to_string(),
    });
    print(out, args, &value, |out| {
        writeln!(
            out,
            "wrote {} ({} bytes): version {} with {}",
            out_path.display(),
            blob.len(),
            state.version(),
            types.join(", ")
        )?;
        Ok(())
    })
}

/// `hollow scan TYPE`: records in ordinal order, one JSON object per line.
pub async fn scan(
    args: &StoreArgs,
    type_name: &str,
    limit: Option<usize>,
    version: Option<u64>,
    out: &mut impl Write,
) -> Result<()> {
    let state = state_at(&store(args)?, version).await?;
    let table = state.dyn_table(type_name)?;
    let mut shown = 0usize;
    for (_, record) in table.iter().take(limit.unwrap_or(usize::MAX)) {
        write_record(out, &record)?;
        shown += 1;
    }
    let total = table.len() as usize;
    if shown < total {
        eprintln!(
            "{} of {} {type_name} records shown (--limit N or --all for more)",
            thousands(shown as u64),
            thousands(total as u64)
        );
    }
    if shown == 0 {
        return Err(crate::NotFound(format!(
            "{type_name} has no records at version {}",
            state.version()
        ))
        .into());
    }
    Ok(())
}

/// `hollow checksum [V]`: the state checksum of every type.
pub async fn checksum(args: &StoreArgs, version: Option<u64>, out: &mut impl Write) -> Result<()> {
    let state = state_at(&store(args)?, version).await?;
    let types: Vec<Value> = state
        .dataset_types()
        .into_iter()
        .map(|t| json!({"type": t.name, "records": t.record_count, "checksum": format!("{:#018x}", t.checksum)}))
        .collect();
    let value = json!({"version": state.version(), "types": types});
    print(out, args, &value, |out| {
        writeln!(out, "version {}", state.version())?;
        for t in state.dataset_types() {
            writeln!(
                out,
                "  {:<16} {:>10} records  {:#018x}",
                t.name, t.record_count, t.checksum
            )?;
        }
        Ok(())
    })
}

/// `hollow pin V` / `hollow unpin`.
pub async fn pin(args: &StoreArgs, version: Option<u64>, out: &mut impl Write) -> Result<()> {
    let command = if version.is_some() { "pin" } else { "unpin" };
    let store = args.open_for(Access::Write, command)?;
    match version {
        Some(v) => {
            let state = state_at(&store, Some(v)).await?;
            store.pin(state.state_id()).await?;
            writeln!(
                out,
                "pinned to version {} (tag {:#018x})",
                state.version(),
                state.tag()
            )?;
        }
        None => {
            store.unpin().await?;
            writeln!(out, "unpinned: consumers follow the announced version")?;
        }
    }
    Ok(())
}

/// `hollow validate [--from V] [--to V]`: re-verifies every blob of a version range (every
/// section checksum, the structure behind it) and reports each.
pub async fn validate(
    args: &StoreArgs,
    from: Option<u64>,
    to: Option<u64>,
    out: &mut impl Write,
) -> Result<()> {
    let store = store(args)?;
    let in_range = |v: u64| from.is_none_or(|f| v >= f) && to.is_none_or(|t| v <= t);
    let mut report = Vec::new();
    let mut failed = 0usize;
    let keys = store.list_blobs().await?;
    for key in &keys {
        let versions = match *key {
            BlobKey::Snapshot { state } => (state.version, state.version),
            BlobKey::Delta { from, to } => (from.version, to.version),
            BlobKey::ReverseDelta { from, to } => (to.version, from.version),
        };
        if !(in_range(versions.0) || in_range(versions.1)) {
            continue;
        }
        let bytes = store.get_blob(key).await?;
        let result = header_matches_key(bytes.as_slice(), key).and_then(|()| match key {
            BlobKey::Snapshot { .. } => ReadState::from_bytes(bytes, &key.relative())
                .and_then(|s| s.verify_all())
                .map_err(anyhow::Error::from),
            _ => hollow::ReadDelta::from_bytes(bytes, &key.relative())
                .map(|_| ())
                .map_err(anyhow::Error::from),
        });
        let error = result.err().map(|e| format!("{e:#}"));
        failed += usize::from(error.is_some());
        report.push(json!({"key": key.relative(), "ok": error.is_none(), "error": error}));
    }
    // Then what consumers do: read the announcement (and the pin) and walk the announced chain
    // a version at a time; the first state that cannot be reached is reported.
    let mut chain = Vec::new();
    let walk = walk_chain(&store, &keys, &in_range, &mut chain).await;
    let chain_error = walk.err().map(|e| format!("{e:#}"));
    failed += usize::from(chain_error.is_some());
    let value =
        json!({"blobs": report, "chain": chain, "chainError": chain_error, "failed": failed});
    print(out, args, &value, |out| {
        for r in &report {
            let status = match r["error"].as_str() {
                Some(e) => format!("FAILED: {e}"),
                None => "ok".to_string(),
            };
            writeln!(out, "{}  {status}", r["key"].as_str().unwrap_or(""))?;
        }
        let versions = |c: &[u64]| match (c.first(), c.last()) {
            (Some(a), Some(b)) => format!("versions {a}..={b}"),
            _ => "no versions".to_string(),
        };
        match &chain_error {
            Some(e) => writeln!(
                out,
                "announced chain: {} read, then FAILED: {e}",
                versions(&chain)
            )?,
            None => writeln!(out, "announced chain: {} read  ok", versions(&chain))?,
        }
        writeln!(out, "{} blobs, {failed} failed", report.len())
    })?;
    if failed > 0 {
        bail!("{failed} check(s) failed validation");
    }
    Ok(())
}

/// Fails unless the blob's header names the kind and the states its key names (a blob copied
/// from elsewhere under this key, or another dataset's, is caught here).
fn header_matches_key(blob: &[u8], key: &BlobKey) -> Result<()> {
    let h = BlobLayout::parse(blob, &key.relative())?.header;
    let (kind, joins) = match *key {
        BlobKey::Snapshot { state } => ("snapshot", (0, 0, state.version, state.tag)),
        BlobKey::Delta { from, to } => ("delta", (from.version, from.tag, to.version, to.tag)),
        BlobKey::ReverseDelta { from, to } => (
            "reverse delta",
            (from.version, from.tag, to.version, to.tag),
        ),
    };
    let got = (h.from_version, h.from_tag, h.to_version, h.to_tag);
    let kind_ok = h.kind.name().replace(['-', '_'], " ") == kind;
    let joins_ok = if matches!(key, BlobKey::Snapshot { .. }) {
        (got.2, got.3) == (joins.2, joins.3)
    } else {
        got == joins
    };
    if !kind_ok || !joins_ok {
        bail!(
            "the header does not match the key: it is a {} of version {} (tag {:#018x}) from \
             version {} (tag {:#018x})",
            h.kind.name(),
            h.to_version,
            h.to_tag,
            h.from_version,
            h.from_tag
        );
    }
    Ok(())
}

/// Reads the announcement and the pin and loads every version of the announced chain in
/// `in_range`, oldest first, one refresh at a time as a consumer follows it; the versions
/// loaded go to `done`.
async fn walk_chain(
    store: &BlobStore,
    keys: &[BlobKey],
    in_range: &dyn Fn(u64) -> bool,
    done: &mut Vec<u64>,
) -> Result<()> {
    let states = hollow::tools::announced_chain(store)
        .await
        .context("reading the announcement and linking its chain")?;
    if states.is_empty() {
        if keys.is_empty() {
            bail!("nothing has been announced in this store");
        }
        bail!("the store holds blobs but no announcement");
    }
    let consumer = Consumer::builder(store.clone()).build().await?;
    for StateId { version, tag } in states.into_iter().filter(|s| in_range(s.version)) {
        consumer
            .refresh_to(version)
            .await
            .with_context(|| format!("loading version {version} of the announced chain"))?;
        let state = consumer.state().context("the consumer holds no state")?;
        if state.tag() != tag {
            bail!(
                "version {version} loads with tag {:#018x}, but the chain names tag {tag:#018x}",
                state.tag()
            );
        }
        done.push(version);
    }
    if let Some(StateId { version, tag }) = store.pinned().await.context("reading the pin")? {
        let consumer = Consumer::builder(store.clone()).build().await?;
        consumer
            .refresh_to(version)
            .await
            .with_context(|| format!("loading the pinned version {version}"))?;
        let state = consumer.state().context("the consumer holds no state")?;
        if state.tag() != tag {
            bail!(
                "the pinned version {version} loads with tag {:#018x}, but the pin names tag \
                 {tag:#018x}",
                state.tag()
            );
        }
    }
    Ok(())
}

/// `hollow diff V1 V2 [--type T]`: counts first, then each added, removed and changed record.
pub async fn diff(
    args: &StoreArgs,
    v1: u64,
    v2: u64,
    only: Option<&str>,
    out: &mut impl Write,
) -> Result<()> {
    let store = store(args)?;
    let a = state_at(&store, Some(v1)).await?;
    let b = state_at(&store, Some(v2)).await?;
    let bar = spinner(&format!("comparing versions {v1} and {v2}"));
    let diffs = hollow::tools::diff(&a, &b, only);
    bar.finish_and_clear();
    let diffs = diffs?;
    let field = |f: &hollow::tools::FieldChange| json!({"field": f.field, "before": f.before, "after": f.after});
    let value = json!({
        "from": v1, "to": v2,
        "types": diffs.iter().map(|d| json!({
            "type": d.name,
            "added": d.added, "removed": d.removed,
            "changed": d.changed.iter().map(|c| json!({"key": c.key, "fields": c.fields.iter().map(field).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    print(out, args, &value, |out| {
        writeln!(out, "version {v1} → {v2}")?;
        for d in &diffs {
            writeln!(
                out,
                "  {:<16} +{} added  -{} removed  ~{} changed",
                d.name,
                d.added.len(),
                d.removed.len(),
                d.changed.len()
            )?;
        }
        for d in &diffs {
            for r in &d.added {
                writeln!(out, "+ {} {}", d.name, r)?;
            }
            for r in &d.removed {
                writeln!(out, "- {} {}", d.name, r)?;
            }
            for c in &d.changed {
                writeln!(out, "~ {} ({})", d.name, c.key.join(", "))?;
                for f in &c.fields {
                    writeln!(out, "    {}: {} → {}", f.field, f.before, f.after)?;
                }
            }
        }
        Ok(())
    })
}

/// `hollow history TYPE KEY…`: every version in which the record was added, changed or removed.
pub async fn history(
    args: &StoreArgs,
    type_name: &str,
    key: &[String],
    out: &mut impl Write,
) -> Result<()> {
    let store = store(args)?;
    if store.announcement().await?.is_none() {
        bail!(
            "nothing has been announced in {}: no history",
            args.location()
        );
    }
    let refs: Vec<&str> = key.iter().map(String::as_str).collect();
    let bar = spinner(&format!(
        "walking the deltas for {type_name} {}",
        key.join(", ")
    ));
    let entries = hollow::tools::history(&store, type_name, &refs).await;
    bar.finish_and_clear();
    let entries = entries?;
    if entries.is_empty() {
        return Err(crate::NotFound(format!(
            "no {type_name} with key {} in any version",
            key.join(", ")
        ))
        .into());
    }
    let value = json!(entries
        .iter()
        .map(|e| match &e.event {
            hollow::tools::HistoryEvent::Added(r) => json!({"version": e.version, "added": r}),
            hollow::tools::HistoryEvent::Removed => json!({"version": e.version, "removed": true}),
            hollow::tools::HistoryEvent::Changed(fields) => json!({"version": e.version, "changed":
                fields.iter().map(|f| json!({"field": f.field, "before": f.before, "after": f.after})).collect::<Vec<_>>()}),
        })
        .collect::<Vec<_>>());
    print(out, args, &value, |out| {
        for e in &entries {
            match &e.event {
                hollow::tools::HistoryEvent::Added(r) => {
                    writeln!(out, "version {}: added {r}", e.version)?
                }
                hollow::tools::HistoryEvent::Removed => {
                    writeln!(out, "version {}: removed", e.version)?
                }
                hollow::tools::HistoryEvent::Changed(fields) => {
                    writeln!(out, "version {}: changed", e.version)?;
                    for f in fields {
                        writeln!(out, "    {}: {} → {}", f.field, f.before, f.after)?;
                    }
                }
            }
        }
        Ok(())
    })
}
