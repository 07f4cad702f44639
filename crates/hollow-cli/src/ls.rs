//! `hollow ls [URL]`: the datasets under a store prefix (a dataset is a prefix holding an
//! announcement), with their announced versions.

use std::io::Write;

use anyhow::{Result, bail};
use serde_json::json;

use crate::data::StoreArgs;

/// `hollow ls`: lists the datasets under `url` (default: `--store`), at most `depth` levels
/// down.
pub async fn run(
    url: Option<&str>,
    store: &StoreArgs,
    depth: usize,
    out: &mut impl Write,
) -> Result<()> {
    let location = url.unwrap_or(store.location());
    if !crate::remote::is_remote(location) {
        // Listing must not create the directory (opening a local store would).
        let path = url::Url::parse(location)
            .ok()
            .filter(|u| u.scheme() == "file")
            .and_then(|u| u.to_file_path().ok())
            .unwrap_or_else(|| std::path::PathBuf::from(location));
        if !path.is_dir() {
            bail!("no directory at {location}");
        }
    }
    let root = crate::remote::open(location, &store.remote)?;
    let mut rows = Vec::new();
    for prefix in root.list_datasets(depth).await? {
        let dataset = root.at(&prefix)?;
        let url = if prefix.is_empty() {
            location.trim_end_matches('/').to_string()
        } else {
            format!("{}/{prefix}", location.trim_end_matches('/'))
        };
        let announced = dataset.announcement().await?.map(|(a, _)| a);
        let pin = dataset.pinned().await?;
        rows.push((url, prefix, announced, pin));
    }
    if store.json {
        // A listing is a stream of rows: JSON Lines, one dataset per line (docs/CLI.md).
        for (url, prefix, a, pin) in &rows {
            let row = json!({
                "url": url,
                "prefix": prefix,
                "dataset": a.as_ref().map(|a| a.dataset.clone()),
                "version": a.as_ref().map(|a| a.version),
                "tag": a.as_ref().map(|a| format!("{:#018x}", a.tag)),
                "published_at_millis": a.as_ref().map(|a| a.published_at_millis),
                "pinned_version": pin.map(|p| p.version),
            });
            serde_json::to_writer(&mut *out, &row)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no datasets under {location}")?;
    }
    for (url, _, a, pin) in &rows {
        match a {
            Some(a) => write!(out, "{url}  {}  version {}", a.dataset, a.version)?,
            None => write!(out, "{url}  (announcement vanished)")?,
        }
        if let Some(p) = pin {
            write!(out, "  pinned to {}", p.version)?;
        }
        writeln!(out)?;
    }
    Ok(())
}
