//! `hollow gc`: retention. Deletes (or, with `--dry-run`, reports) the blobs no retained version
//! needs (`hollow::tools::gc`).

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use hollow::tools::{GcOptions, GcReason};
use serde_json::json;

use crate::data::StoreArgs;

/// `hollow gc`'s options.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Keep the newest N versions of the announced chain reachable. Without any --keep-*
    /// option gc keeps 10. The pinned version and versions published within --min-age are
    /// always kept.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_versions: Option<u64>,
    /// Keep the N newest snapshots of the announced chain and every version after the oldest
    /// of them (consumers can start from any of them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_snapshots: Option<u64>,
    /// Keep every version published within DURATION (e.g. 7d, 12h, 30m).
    #[arg(long, value_name = "DURATION", value_parser = crate::follow::duration)]
    pub keep_since: Option<Duration>,
    /// Grace period: blobs younger than this are never deleted, and versions published within
    /// it stay reachable (a consumer may be downloading them; a producer may be publishing).
    #[arg(long, default_value = "1h", value_parser = min_age)]
    pub min_age: Duration,
    /// Report what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accepted for compatibility: gc deletes unless --dry-run.
    #[arg(long, hide = true, conflicts_with = "dry_run")]
    pub delete: bool,
}

/// The default retention when no --keep-* option is given.
const DEFAULT_KEEP_VERSIONS: u64 = 10;

fn min_age(s: &str) -> Result<Duration, String> {
    if s == "0" || s == "0s" {
        return Ok(Duration::ZERO);
    }
    crate::follow::duration(s)
}

fn reason(r: GcReason) -> &'static str {
    match r {
        GcReason::BeforeRetention => "before retention",
        GcReason::OffChain => "off the announced chain",
        _ => "unneeded",
    }
}

/// Runs `hollow gc`.
pub async fn run(args: &GcArgs, out: &mut impl Write) -> Result<()> {
    let delete = !args.dry_run;
    let access = if delete {
        crate::data::Access::Write
    } else {
        crate::data::Access::Read
    };
    let store = args.store.open_for(access, "gc")?;
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let no_keep_option =
        args.keep_versions.is_none() && args.keep_snapshots.is_none() && args.keep_since.is_none();
    let keep_versions = match args.keep_versions {
        Some(n) => n,
        None if no_keep_option => DEFAULT_KEEP_VERSIONS,
        None => 1,
    };
    let options = GcOptions {
        keep_versions: to_usize(keep_versions),
        keep_snapshots: args.keep_snapshots.map(to_usize),
        keep_since: args.keep_since,
        min_age: args.min_age,
        delete,
    };
    let report = hollow::tools::gc(&store, &options).await?;
    let deletable: Vec<_> = report.deletable().collect();
    let freed: u64 = deletable.iter().map(|b| b.bytes).sum();
    if args.store.json {
        let value = json!({
            "head": report.head.map(|h| h.version),
            "oldest_retained": report.oldest_retained,
            "kept_from_snapshot": report.kept_from_snapshot,
            "kept": report.kept.iter().map(|(k, n)| json!({"key": k.relative(), "bytes": n})).collect::<Vec<_>>(),
            "unneeded": report.unneeded.iter().map(|b| json!({
                "key": b.key.relative(), "bytes": b.bytes, "reason": reason(b.reason), "too_young": b.too_young,
            })).collect::<Vec<_>>(),
            "deleted": report.deleted,
            "refused": report.refused,
        });
        // A report: one compact JSON document (docs/CLI.md).
        serde_json::to_writer(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let Some(head) = report.head else {
        writeln!(out, "nothing announced: gc deletes nothing")?;
        return Ok(());
    };
    writeln!(
        out,
        "announced version {}; versions from {} kept reachable (from the snapshot of version {}); {} blobs kept",
        head.version,
        report.oldest_retained.unwrap_or(head.version),
        report.kept_from_snapshot.unwrap_or(head.version),
        report.kept.len()
    )?;
    for b in &report.unneeded {
        let what = if b.too_young {
            "kept, younger than --min-age"
        } else if report.deleted {
            "deleted"
        } else {
            "would delete"
        };
        writeln!(
            out,
            "  {what}: {} ({} bytes, {})",
            b.key.relative(),
            b.bytes,
            reason(b.reason)
        )?;
    }
    if let Some(why) = &report.refused {
        writeln!(out, "deleted nothing: {why}")?;
    } else if report.deleted {
        writeln!(out, "deleted {} blobs, {freed} bytes", deletable.len())?;
    } else {
        writeln!(
            out,
            "dry run: {} blobs, {freed} bytes would be deleted (run without --dry-run to delete them)",
            deletable.len()
        )?;
    }
    Ok(())
}
