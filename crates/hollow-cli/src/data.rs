//! Commands that read a dataset in a store: `inspect`, `get`, `scan`, `query`, `diff`,
//! `history`, `filter`, `checksum`, `pin`, `unpin`, `validate`. Each is a thin layer over the library (store listing, a consumer refreshed to the
//! asked version, the schema-driven view); `--json` gives machine output.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use hollow::format::BlobLayout;
use hollow::{BlobKey, BlobStore, ReadState, StateId};
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
    #[command(flatten)]
    pub(crate) remote: crate::remote::RemoteArgs,
}

/// What `hollow inspect` shows.
#[derive(Debug, clap::Subcommand)]
pub enum InspectWhat {
    /// One blob's header and sections, with every checksum verified.
    ///
    /// Example: hollow inspect blob snapshots/00000000000000000001-1f2e3d4c5b6a7988.blob
    Blob {
        /// The blob's key relative to the store (as `hollow inspect` lists them).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        key: Option<String>,
        /// A blob file instead (what `hollow filter --out` writes); no store is read.
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
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
        crate::remote::open(location, &self.remote)
    }
}

fn store(args: &StoreArgs) -> Result<BlobStore> {
    args.open_for(Access::Read, "")
}

/// A report: one compact JSON document with `--json`, else the text.
fn print<T: serde::Serialize>(
    out: &mut impl Write,
    args: &StoreArgs,
    value: &T,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    if args.json {
        serde_json::to_writer(&mut *out, value)?;
        writeln!(out)?;
    } else {
        text(out)?;
    }
    Ok(())
}

/// A spinner on stderr for work that may take a while (loading a version from a remote store,
/// walking deltas, diffing): drawn only when stderr is a terminal.
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = crate::remote::bars().add(indicatif::ProgressBar::new_spinner());
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

/// The state a reading command reads: the blob file `--file` names (a snapshot, such as
/// `hollow filter` writes; no store is opened), else `version` (or the pinned or announced
/// one) of the store.
async fn load(
    args: &StoreArgs,
    file: Option<&std::path::Path>,
    version: Option<u64>,
) -> Result<Arc<ReadState>> {
    let Some(path) = file else {
        return state_at(&store(args)?, version).await;
    };
    let state = ReadState::open(path)
        .with_context(|| format!("reading the snapshot {}", path.display()))?;
    if let Some(v) = version
        && v != state.version()
    {
        bail!(
            "{} holds version {}, not version {v}",
            path.display(),
            state.version()
        );
    }
    Ok(Arc::new(state))
}

async fn load_state(store: &BlobStore, version: Option<u64>) -> Result<Arc<ReadState>> {
    let consumer = crate::remote::consumer(store.clone()).build().await?;
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

/// A state as reports show it: version and tag (hex).
#[derive(Debug, serde::Serialize)]
pub(crate) struct StateRef {
    version: u64,
    tag: String,
}

impl From<StateId> for StateRef {
    fn from(s: StateId) -> Self {
        Self {
            version: s.version,
            tag: format!("{:#018x}", s.tag),
        }
    }
}

/// `hollow inspect --json`.
#[derive(Debug, serde::Serialize)]
struct InspectReport {
    announcement: AnnouncementReport,
    pin: Option<StateRef>,
    /// Where publish times come from, and what is not recorded.
    published_note: &'static str,
    blobs: Vec<BlobEntry>,
    /// The version `types` describe (the pinned one when pinned, else the announced one).
    types_version: u64,
    /// The producer's header tags of that version (`name → value`).
    header_tags: std::collections::BTreeMap<String, String>,
    types: Vec<TypeEntry>,
}

#[derive(Debug, serde::Serialize)]
struct AnnouncementReport {
    dataset: String,
    version: u64,
    tag: String,
    schema_fingerprint: String,
    /// When the producer announced this version (UTC, RFC 3339).
    published_at: String,
    published_at_millis: u64,
    previous: Option<StateRef>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct BlobEntry {
    pub(crate) key: String,
    pub(crate) kind: &'static str,
    /// The version it applies to (none for a snapshot).
    pub(crate) from_version: Option<u64>,
    pub(crate) to_version: u64,
    pub(crate) bytes: usize,
    /// Whether the blob joins states of the announced chain (else it is left from a failed or
    /// abandoned cycle, or another lineage: no consumer reads it; `hollow gc` removes it).
    pub(crate) on_chain: bool,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct TypeEntry {
    pub(crate) name: String,
    pub(crate) records: u32,
    pub(crate) ordinal_capacity: u32,
    pub(crate) primary_key: Vec<String>,
    pub(crate) record_bytes: u64,
    pub(crate) index_bytes: u64,
    pub(crate) checksum: String,
    pub(crate) fields: Vec<FieldEntry>,
    pub(crate) indexes: Vec<IndexEntry>,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct FieldEntry {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) ty: String,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct IndexEntry {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    /// Bytes in the snapshot; none when declared after it (lookups scan).
    pub(crate) bytes: Option<u64>,
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC (`2026-12-01T04:05:06.789Z`).
pub(crate) fn rfc3339(millis: u64) -> String {
    let (days, ms) = (millis / 86_400_000, millis % 86_400_000);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Blob kind, versions and bytes as `inspect` lists them.
pub(crate) fn blob_entry(key: &BlobKey, bytes: usize) -> BlobEntry {
    let (kind, from_version, to_version) = match *key {
        BlobKey::Snapshot { state } => ("snapshot", None, state.version),
        BlobKey::Delta { from, to } => ("delta", Some(from.version), to.version),
        BlobKey::ReverseDelta { from, to } => ("reverse_delta", Some(from.version), to.version),
    };
    BlobEntry {
        key: key.relative(),
        kind,
        from_version,
        to_version,
        bytes,
        on_chain: true,
    }
}

/// `hollow inspect`: the announcement, the pin, the blobs, and the types of the newest version.
pub async fn inspect(
    args: &StoreArgs,
    what: Option<&InspectWhat>,
    out: &mut impl Write,
) -> Result<()> {
    if let Some(InspectWhat::Blob { key, file }) = what {
        return inspect_blob(args, key.as_deref(), file.as_deref(), out).await;
    }
    let store = store(args)?;
    let Some((announcement, _)) = store.announcement().await? else {
        bail!(
            "nothing has been announced in {}: run a producer (e.g. `hollow demo`) first",
            args.location()
        );
    };
    let pin = store.pinned().await?;
    // Sizes as stored (compressed on a remote store), from the listing: nothing is downloaded.
    let blobs = blob_entries(&store).await?;
    let state = state_at(&store, None).await?;
    let types = type_entries(&state)?;
    let report = InspectReport {
        announcement: AnnouncementReport {
            dataset: announcement.dataset.clone(),
            version: announcement.version,
            tag: format!("{:#018x}", announcement.tag),
            schema_fingerprint: format!("{:#018x}", announcement.schema_fingerprint),
            published_at: rfc3339(announcement.published_at_millis),
            published_at_millis: announcement.published_at_millis,
            previous: announcement.previous.map(StateRef::from),
        },
        pin: pin.map(StateRef::from),
        published_note: PUBLISHED_NOTE,
        blobs,
        types_version: state.version(),
        header_tags: state.header_tags().iter().cloned().collect(),
        types,
    };
    print(out, args, &report, |out| {
        let a = &report.announcement;
        writeln!(
            out,
            "dataset {} at version {} (tag {}), published {}",
            a.dataset, a.version, a.tag, a.published_at
        )?;
        if let Some(p) = &a.previous {
            writeln!(out, "  previous version {} (tag {})", p.version, p.tag)?;
        }
        writeln!(out, "  schema fingerprint {}", a.schema_fingerprint)?;
        match &report.pin {
            Some(p) => writeln!(out, "  pinned to version {} (tag {})", p.version, p.tag)?,
            None => writeln!(out, "  not pinned")?,
        }
        writeln!(out, "  ({PUBLISHED_NOTE})")?;
        writeln!(out, "blobs:")?;
        for b in &report.blobs {
            let what = match b.from_version {
                None => format!("snapshot      {}", b.to_version),
                Some(f) => format!("{:<13} {f} → {}", b.kind.replace('_', " "), b.to_version),
            };
            writeln!(
                out,
                "  {what:<24} {:>10}  {}{}",
                indicatif::HumanBytes(b.bytes as u64).to_string(),
                b.key,
                if b.on_chain {
                    ""
                } else {
                    "  (not on the announced chain: left by a failed cycle; `hollow gc` removes it)"
                }
            )?;
        }
        writeln!(out, "types at version {}:", report.types_version)?;
        if !report.header_tags.is_empty() {
            let tags: Vec<String> = report
                .header_tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(out, "  header tags: {}", tags.join(", "))?;
        }
        for t in &report.types {
            writeln!(
                out,
                "  {:<16} {:>10} records  {:>10} records  {:>10} key index  key ({})",
                t.name,
                thousands(u64::from(t.records)),
                indicatif::HumanBytes(t.record_bytes).to_string(),
                indicatif::HumanBytes(t.index_bytes).to_string(),
                t.primary_key.join(", ")
            )?;
            let fields: Vec<String> = t
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, f.ty))
                .collect();
            writeln!(out, "    fields: {}", fields.join(", "))?;
            for i in &t.indexes {
                match i.bytes {
                    Some(b) => writeln!(
                        out,
                        "    {} index {}: {}",
                        i.kind,
                        i.name,
                        indicatif::HumanBytes(b)
                    )?,
                    None => writeln!(
                        out,
                        "    {} index {}: declared after the snapshot (lookups scan)",
                        i.kind, i.name
                    )?,
                }
            }
        }
        Ok(())
    })
}

/// The dataset types of `state` as `inspect` reports them: counts, bytes, key, fields in
/// schema order, indexes.
pub(crate) fn type_entries(state: &ReadState) -> Result<Vec<TypeEntry>> {
    let mut types = Vec::new();
    for t in state.dataset_types() {
        let fields = schema_fields(state.schema(), &t.name)
            .into_iter()
            .map(|(name, ty)| FieldEntry { name, ty })
            .collect();
        let mut indexes = Vec::new();
        for (name, kind) in state.dyn_table(&t.name)?.indexes()? {
            let bytes = t
                .secondary_indexes
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, _, b)| *b);
            indexes.push(IndexEntry {
                name,
                kind: kind.name(),
                bytes,
            });
        }
        types.push(TypeEntry {
            name: t.name,
            records: t.record_count,
            ordinal_capacity: t.ordinal_capacity,
            primary_key: t.primary_key,
            record_bytes: t.record_bytes,
            index_bytes: t.index_bytes,
            checksum: format!("{:#018x}", t.checksum),
            fields,
            indexes,
        });
    }
    Ok(types)
}

/// Every blob of the store with its size as stored (from the listing: nothing is downloaded)
/// and whether it joins states of the announced chain.
pub(crate) async fn blob_entries(store: &BlobStore) -> Result<Vec<BlobEntry>> {
    let chain: std::collections::HashSet<StateId> = hollow::tools::announced_chain(store)
        .await?
        .into_iter()
        .collect();
    Ok(store
        .list_blob_sizes()
        .await?
        .iter()
        .map(|(key, size)| {
            let mut entry = blob_entry(key, usize::try_from(*size).unwrap_or(usize::MAX));
            entry.on_chain = match key {
                BlobKey::Snapshot { state } => chain.contains(state),
                BlobKey::Delta { from, to } | BlobKey::ReverseDelta { from, to } => {
                    chain.contains(from) && chain.contains(to)
                }
            };
            entry
        })
        .collect())
}

/// What `inspect` can say about publish times.
const PUBLISHED_NOTE: &str = "publish times: the announcement records when the announced \
    version was published; blob headers carry no time, so earlier versions' times are not \
    recorded";

/// The fields of a struct as `(name, type)`, types written as in a `.capnp` file.
pub(crate) fn schema_fields(schema: &hollow::Schema, type_name: &str) -> Vec<(String, String)> {
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

/// `hollow inspect blob KEY --json` / `--file PATH`.
#[derive(Debug, serde::Serialize)]
struct BlobReport {
    /// The key in the store, or the file's path.
    key: String,
    kind: &'static str,
    format_version: u16,
    compat_version: u16,
    from: StateRef,
    to: StateRef,
    schema_fingerprint: String,
    bytes: usize,
    /// The dataset's types in the blob's manifest order (a section's `type` indexes it).
    types: Vec<String>,
    /// The producer's header tags (`name → value`; snapshots).
    header_tags: std::collections::BTreeMap<String, String>,
    sections: Vec<SectionReport>,
    verified: bool,
}

#[derive(Debug, serde::Serialize)]
struct SectionReport {
    kind: &'static str,
    /// The type the section belongs to (none for the manifest, the schema, …).
    #[serde(rename = "type")]
    type_name: Option<String>,
    type_index: Option<u32>,
    part: u32,
    offset: u64,
    bytes: u64,
    checksum: String,
    verified: bool,
}

/// The type names of a blob in manifest order, and its header tags (both empty when the blob
/// does not open).
fn blob_types_and_tags(
    bytes: &hollow::BlobBytes,
    name: &str,
    kind: hollow::format::BlobKind,
) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
    if kind == hollow::format::BlobKind::Snapshot {
        ReadState::from_bytes(bytes.clone(), name)
            .map(|s| {
                let tags = s.header_tags().iter().cloned().collect();
                (s.types().into_iter().map(|t| t.name).collect(), tags)
            })
            .unwrap_or_default()
    } else {
        let names = hollow::ReadDelta::from_bytes(bytes.clone(), name)
            .map(|d| d.types().iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default();
        (names, std::collections::BTreeMap::new())
    }
}

async fn inspect_blob(
    args: &StoreArgs,
    key: Option<&str>,
    file: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<()> {
    let (name, bytes) = match (key, file) {
        (_, Some(path)) => (
            path.display().to_string(),
            hollow::BlobBytes::map_file(path)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        (Some(key), None) => {
            let key = BlobKey::parse(key).with_context(|| {
                format!("{key} is not a blob key (snapshots/…, deltas/…, reverse-deltas/…)")
            })?;
            (key.relative(), store(args)?.get_blob(&key).await?)
        }
        (None, None) => bail!("give a blob KEY or --file PATH"),
    };
    let blob = bytes.as_slice();
    let layout = BlobLayout::parse(blob, &name)?;
    let h = layout.header;
    let (types, header_tags) = blob_types_and_tags(&bytes, &name, h.kind);
    let mut sections = Vec::new();
    for s in &layout.sections {
        let verified = s.verify(blob, &name, None).is_ok();
        let type_index = (s.type_index != hollow::format::NO_TYPE).then_some(s.type_index);
        sections.push(SectionReport {
            kind: s.kind.name(),
            type_name: type_index.and_then(|i| types.get(i as usize).cloned()),
            type_index,
            part: s.part,
            offset: s.offset,
            bytes: s.len,
            checksum: format!("{:#018x}", s.checksum),
            verified,
        });
    }
    let report = BlobReport {
        key: name,
        kind: h.kind.name(),
        format_version: h.format_version,
        compat_version: h.compat_version,
        from: h.from_state().into(),
        to: h.to_state().into(),
        schema_fingerprint: format!("{:#018x}", h.schema_fingerprint),
        bytes: blob.len(),
        types,
        header_tags,
        verified: sections.iter().all(|s| s.verified),
        sections,
    };
    print(out, args, &report, |out| {
        writeln!(
            out,
            "{} ({}): {}, format version {} (readable from {})",
            report.key,
            indicatif::HumanBytes(report.bytes as u64),
            report.kind,
            report.format_version,
            report.compat_version
        )?;
        writeln!(
            out,
            "  from version {} (tag {}) to version {} (tag {}), schema fingerprint {}",
            report.from.version,
            report.from.tag,
            report.to.version,
            report.to.tag,
            report.schema_fingerprint
        )?;
        writeln!(out, "  types: {}", report.types.join(", "))?;
        if !report.header_tags.is_empty() {
            let tags: Vec<String> = report
                .header_tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(out, "  header tags: {}", tags.join(", "))?;
        }
        for s in &report.sections {
            let ty = s.type_name.as_deref().map_or_else(
                || s.type_index.map_or("-".to_string(), |i| i.to_string()),
                str::to_string,
            );
            writeln!(
                out,
                "  {:<20} {ty:<16} part {:>4} offset {:>10} {:>10} bytes  {}  {}",
                s.kind,
                s.part,
                s.offset,
                s.bytes,
                s.checksum,
                if s.verified {
                    "ok"
                } else {
                    "CHECKSUM MISMATCH"
                }
            )?;
        }
        Ok(())
    })?;
    if !report.verified {
        bail!("{} failed checksum verification", report.key);
    }
    Ok(())
}

/// `hollow get TYPE KEY…`: records by primary key, as JSON.
pub async fn get(
    args: &StoreArgs,
    type_name: &str,
    keys: &[String],
    version: Option<u64>,
    file: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<()> {
    let state = load(args, file, version).await?;
    let table = table_of(&state, type_name)?;
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
    file: Option<&std::path::Path>,
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
    let state = load(args, file, version).await?;
    let table = table_of(&state, type_name)?;
    let started = std::time::Instant::now();
    let found = table.query_nullable(&pairs).map_err(|e| match e {
        hollow::LookupError::UnknownField { ref field, .. }
        | hollow::LookupError::Schema(hollow::SchemaError::UnknownField { ref field, .. }) => {
            let top = field.split('.').next().unwrap_or_default();
            let names: Vec<&str> = state
                .schema()
                .struct_by_name(type_name)
                .map(|i| i.fields.iter().map(|f| f.name.as_str()).collect())
                .unwrap_or_default();
            anyhow::anyhow!("{e}{}", suggest(top, &names))
        }
        other => other.into(),
    })?;
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
pub(crate) struct QuerySummary<'a> {
    pub(crate) version: u64,
    #[serde(rename = "type")]
    pub(crate) type_name: &'a str,
    pub(crate) plan: String,
    pub(crate) uses_index: bool,
    pub(crate) matches: usize,
    pub(crate) shown: usize,
    pub(crate) millis: f64,
}

/// The table of `name`, or an error listing the dataset's types and the closest one.
fn table_of<'s>(state: &'s ReadState, name: &str) -> Result<hollow::DynTable<'s>> {
    state.dyn_table(name).map_err(|e| {
        let types: Vec<String> = state.dataset_types().into_iter().map(|t| t.name).collect();
        let names: Vec<&str> = types.iter().map(String::as_str).collect();
        anyhow::anyhow!("{e}{}", suggest(name, &names))
    })
}

/// " (did you mean X? one of: A, B)" for a mistyped name, by edit distance (case-insensitive).
pub(crate) fn suggest(given: &str, known: &[&str]) -> String {
    fn distance(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (
            a.to_lowercase().chars().collect(),
            b.to_lowercase().chars().collect(),
        );
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    let best = known
        .iter()
        .map(|k| (distance(given, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min();
    match best {
        Some((_, k)) => format!(" (did you mean {k}? one of: {})", known.join(", ")),
        None => format!(" (one of: {})", known.join(", ")),
    }
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
    file: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<()> {
    let state = load(args, file, version).await?;
    let table = table_of(&state, type_name)?;
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

/// `hollow pin V` / `hollow unpin`; `--json`: `{"pinned":{"version":2,"tag":"0x…"}}` or
/// `{"pinned":null}`.
pub async fn pin(args: &StoreArgs, version: Option<u64>, out: &mut impl Write) -> Result<()> {
    #[derive(serde::Serialize)]
    struct PinReport {
        pinned: Option<StateRef>,
    }
    let command = if version.is_some() { "pin" } else { "unpin" };
    let store = args.open_for(Access::Write, command)?;
    let pinned = match version {
        Some(v) => {
            let state = state_at(&store, Some(v)).await?;
            store.pin(state.state_id()).await?;
            Some(StateRef::from(state.state_id()))
        }
        None => {
            store.unpin().await?;
            None
        }
    };
    let report = PinReport { pinned };
    print(out, args, &report, |out| match &report.pinned {
        Some(p) => writeln!(out, "pinned to version {} (tag {})", p.version, p.tag),
        None => writeln!(out, "unpinned: consumers follow the announced version"),
    })
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
        report.push(BlobCheck {
            key: key.relative(),
            ok: error.is_none(),
            error,
        });
    }
    // Then what consumers do: read the announcement (and the pin) and walk the announced chain
    // a version at a time; the first state that cannot be reached is reported.
    let mut chain = Vec::new();
    let walk = walk_chain(&store, &keys, &in_range, &mut chain).await;
    let chain_error = walk.err().map(|e| format!("{e:#}"));
    failed += usize::from(chain_error.is_some());
    let value = ValidateReport {
        blobs: &report,
        chain: &chain,
        chain_error: chain_error.as_deref(),
        failed,
    };
    print(out, args, &value, |out| {
        for r in &report {
            let status = match &r.error {
                Some(e) => format!("FAILED: {e}"),
                None => "ok".to_string(),
            };
            writeln!(out, "{}  {status}", r.key)?;
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

/// One blob `validate` checked.
#[derive(Debug, serde::Serialize)]
struct BlobCheck {
    key: String,
    ok: bool,
    error: Option<String>,
}

/// `hollow validate --json`.
#[derive(Debug, serde::Serialize)]
struct ValidateReport<'a> {
    blobs: &'a [BlobCheck],
    /// Versions of the announced chain loaded, oldest first.
    chain: &'a [u64],
    /// Where the walk of the announced chain stopped.
    chain_error: Option<&'a str>,
    /// Failed checks (blobs, and the chain).
    failed: usize,
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
    let consumer = crate::remote::consumer(store.clone()).build().await?;
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
        let consumer = crate::remote::consumer(store.clone()).build().await?;
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

/// What `hollow diff` prints after the counts.
#[derive(Debug, Clone, Copy)]
pub struct DiffShow {
    /// Counts only.
    pub stat: bool,
    /// Most records to print (`None`: all).
    pub limit: Option<usize>,
}

/// `hollow diff --json`: counts per type, then the records shown.
#[derive(serde::Serialize)]
pub(crate) struct DiffReport<'a> {
    pub(crate) from: u64,
    pub(crate) to: u64,
    /// "deltas" (the deltas between the versions named the changed records) or "full" (every
    /// record was compared).
    pub(crate) via: &'static str,
    /// Types with changes (a type with none is left out).
    pub(crate) types: Vec<DiffCounts<'a>>,
    /// Changes in all.
    pub(crate) total: usize,
    /// Changes listed in `records` (see --limit, --all, --stat).
    pub(crate) shown: usize,
    pub(crate) records: DiffRecords<'a>,
    /// The explorer's paging: the offset of the next page of changes, if there is one (never
    /// in the CLI's output, which prints one page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next: Option<usize>,
}

#[derive(serde::Serialize)]
pub(crate) struct DiffCounts<'a> {
    #[serde(rename = "type")]
    pub(crate) type_name: &'a str,
    pub(crate) added: usize,
    pub(crate) removed: usize,
    pub(crate) changed: usize,
}

/// The records of a diff, serialized (streamed) as they are read.
pub(crate) struct DiffRecords<'a> {
    pub(crate) a: &'a ReadState,
    pub(crate) b: &'a ReadState,
    pub(crate) changes: &'a [hollow::tools::TypeChanges],
    /// Changes passed over first (the explorer's pages).
    pub(crate) skip: usize,
    pub(crate) limit: usize,
}

/// One change: `{"type","change":"added","record":{…}}`, `"removed"` likewise,
/// `{"type","change":"changed","key":[…],"fields":[{"field","before","after"}]}`.
#[derive(serde::Serialize)]
pub(crate) struct DiffLine<'a> {
    #[serde(rename = "type")]
    pub(crate) type_name: &'a str,
    pub(crate) change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) record: Option<hollow::DynRecord<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fields: Option<&'a [hollow::tools::FieldChange]>,
}

impl<'a> DiffRecords<'a> {
    /// The changes in print order (per type: added, removed, changed), at most `limit`.
    pub(crate) fn lines(&self) -> impl Iterator<Item = DiffLine<'a>> + '_ {
        let (a, b) = (self.a, self.b);
        self.changes
            .iter()
            .flat_map(move |c| {
                let name = c.name.as_str();
                let record = move |state: &'a ReadState, o: u32| {
                    state.dyn_table(name).ok().and_then(|t| t.get(o))
                };
                let added = c.added.iter().map(move |&o| DiffLine {
                    type_name: name,
                    change: "added",
                    key: None,
                    record: record(b, o),
                    fields: None,
                });
                let removed = c.removed.iter().map(move |&o| DiffLine {
                    type_name: name,
                    change: "removed",
                    key: None,
                    record: record(a, o),
                    fields: None,
                });
                let changed = c.changed.iter().map(move |ch| DiffLine {
                    type_name: name,
                    change: "changed",
                    key: Some(&ch.key),
                    record: None,
                    fields: Some(&ch.fields),
                });
                added.chain(removed).chain(changed)
            })
            .skip(self.skip)
            .take(self.limit)
    }
}

impl serde::Serialize for DiffRecords<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.lines())
    }
}

/// `hollow diff V1 V2 [--type T]`: counts first, then the added, removed and changed records
/// (`--limit`, `--all`; `--stat` for counts only). Versions of the announced chain are
/// compared through the deltas between them: only the records they touched are read.
pub async fn diff(
    args: &StoreArgs,
    v1: u64,
    v2: u64,
    only: Option<&str>,
    show: DiffShow,
    out: &mut impl Write,
) -> Result<()> {
    let store = store(args)?;
    let a = state_at(&store, Some(v1)).await?;
    let b = state_at(&store, Some(v2)).await?;
    if let Some(t) = only
        && b.dyn_table(t).is_err()
    {
        // Says which types there are.
        b.dyn_table(t)?;
    }
    let bar = spinner(&format!("comparing versions {v1} and {v2}"));
    let touched = hollow::tools::touched_between(&store, v1, v2).await;
    let result = touched.map_err(anyhow::Error::from).and_then(|t| {
        let via = if t.is_some() { "deltas" } else { "full" };
        hollow::tools::changes(&a, &b, only, t.as_ref().map(|(t, _)| t))
            .map(|c| (c, via))
            .map_err(anyhow::Error::from)
    });
    bar.finish_and_clear();
    let (mut changes, via) = result?;
    changes.retain(|c| !c.is_empty());
    let total: usize = changes
        .iter()
        .map(|c| c.added.len() + c.removed.len() + c.changed.len())
        .sum();
    let limit = if show.stat {
        0
    } else {
        show.limit.unwrap_or(usize::MAX)
    };
    let records = DiffRecords {
        a: &a,
        b: &b,
        changes: &changes,
        skip: 0,
        limit,
    };
    let shown = total.min(limit);
    let counts = changes
        .iter()
        .map(|c| DiffCounts {
            type_name: &c.name,
            added: c.added.len(),
            removed: c.removed.len(),
            changed: c.changed.len(),
        })
        .collect();
    if args.json {
        let report = DiffReport {
            from: v1,
            to: v2,
            via,
            types: counts,
            total,
            shown,
            records,
            next: None,
        };
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "version {v1} → {v2}")?;
        if changes.is_empty() {
            writeln!(out, "  no differences")?;
        }
        for c in &counts {
            writeln!(
                out,
                "  {:<16} {:>8} added  {:>8} removed  {:>8} changed",
                c.type_name,
                thousands(c.added as u64),
                thousands(c.removed as u64),
                thousands(c.changed as u64)
            )?;
        }
        for line in records.lines() {
            let sign = match line.change {
                "added" => '+',
                "removed" => '-',
                _ => '~',
            };
            if let Some(record) = &line.record {
                write!(out, "{sign} {} ", line.type_name)?;
                write_record(out, record)?;
            } else {
                writeln!(
                    out,
                    "{sign} {} ({})",
                    line.type_name,
                    line.key.unwrap_or_default().join(", ")
                )?;
                for f in line.fields.unwrap_or_default() {
                    writeln!(out, "    {}: {} → {}", f.field, f.before, f.after)?;
                }
            }
        }
    }
    if shown < total && !show.stat {
        eprintln!(
            "{} of {} changes shown (--limit N or --all for more)",
            thousands(shown as u64),
            thousands(total as u64)
        );
    }
    Ok(())
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
    print(out, args, &entries, |out| {
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
