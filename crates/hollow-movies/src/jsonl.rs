//! The dataset as JSON Lines, byte for byte what the reference generator
//! (`tests/movies.py`, `movies.py --movies N --cycles K --out DIR`) writes: one compact JSON
//! object per line, `{"type":"Actor"|"Movie",…}`, actors first, then movies, both in id order.
//! `hollow demo --export DIR` writes these files, and `hollow produce` reads them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::generator::{Actor, Dataset, Movie};

fn text(out: &mut impl Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

fn actor(out: &mut impl Write, a: &Actor) -> io::Result<()> {
    write!(out, "{{\"type\":\"Actor\",\"id\":{},\"name\":", a.id)?;
    text(out, &a.name)?;
    writeln!(out, ",\"birthYear\":{}}}", a.birth_year)
}

fn movie(out: &mut impl Write, m: &Movie) -> io::Result<()> {
    write!(out, "{{\"type\":\"Movie\",\"id\":{},\"title\":", m.id)?;
    text(out, &m.title)?;
    // serde_json prints floats in shortest round-trip form, as Python's `repr` does.
    write!(
        out,
        ",\"year\":{},\"runtimeMin\":{},\"rating\":{},\"genres\":",
        m.year,
        m.runtime_min,
        serde_json::Value::from(m.rating)
    )?;
    serde_json::to_writer(&mut *out, &m.genres).map_err(io::Error::other)?;
    out.write_all(b",\"castIds\":")?;
    serde_json::to_writer(&mut *out, &m.cast_ids).map_err(io::Error::other)?;
    out.write_all(b",\"countryCode\":")?;
    text(out, m.country_code)?;
    out.write_all(b"}\n")
}

impl Dataset {
    /// Writes cycle `c` as JSON Lines to `out` (actors, then movies).
    pub fn write_jsonl(&self, c: u64, out: &mut impl Write) -> io::Result<()> {
        for a in self.actors(c) {
            actor(out, &a)?;
        }
        for m in self.movies(c) {
            movie(out, &m)?;
        }
        Ok(())
    }

    /// Writes cycles `0..cycles` into `dir` as `cycle-0000.jsonl`, `cycle-0001.jsonl`, …
    /// (each written under a `.tmp` name and renamed into place, so a watcher never sees half a
    /// file), creating `dir` if needed. Returns the paths in cycle order.
    pub fn export_jsonl(&self, dir: &Path, cycles: u64) -> io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut paths = Vec::new();
        for c in 0..cycles {
            let path = dir.join(format!("cycle-{c:04}.jsonl"));
            let tmp = dir.join(format!("cycle-{c:04}.jsonl.tmp"));
            let mut out = io::BufWriter::new(std::fs::File::create(&tmp)?);
            self.write_jsonl(c, &mut out)?;
            out.into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all()?;
            std::fs::rename(&tmp, &path)?;
            paths.push(path);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_compact_json_in_the_generators_member_order() {
        let mut out = Vec::new();
        Dataset::new(8).write_jsonl(0, &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 8, "2 actors, then 8 movies");
        assert!(lines[0].starts_with("{\"type\":\"Actor\",\"id\":1,\"name\":\""));
        assert!(lines[2].starts_with("{\"type\":\"Movie\",\"id\":100000,\"title\":\""));
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).expect("valid json");
            assert!(v["type"].is_string());
            assert!(
                !line.contains(": ") && !line.contains(", "),
                "compact: {line}"
            );
        }
    }
}
