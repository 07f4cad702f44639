//! `hollow gc`: retention. Reports (by default) or deletes (`--delete`) the blobs no retained
//! version needs (`hollow::tools::gc`).

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
    /// The newest versions of the announced chain that stay reachable (the pinned version and
    /// versions published within --min-age are kept too).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_versions: u64,
    /// Grace period: blobs younger than this are never deleted, and versions published within
    /// it stay reachable (a consumer may be downloading them; a producer may be publishing).
    #[arg(long, default_value = "1h", value_parser = min_age)]
    pub min_age: Duration,
    /// Delete the unneeded blobs. Without it, gc only reports what it would delete.
    #[arg(long)]
    pub delete: bool,
}

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
    let access = if args.delete {
        crate::data::Access::Write
    } else {
        crate::data::Access::Read
    };
    let store = args.store.open_for(access, "gc --delete")?;
    let options = GcOptions {
        keep_versions: usize::try_from(args.keep_versions).unwrap_or(usize::MAX),
        min_age: args.min_age,
        delete: args.delete,
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
            "dry run: {} blobs, {freed} bytes would be deleted (--delete to delete them)",
            deletable.len()
        )?;
    }
    Ok(())
}
