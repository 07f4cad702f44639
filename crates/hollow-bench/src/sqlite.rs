//! SQLite (rusqlite, bundled) on the same records: `movies(id INTEGER PRIMARY KEY, title, year,
//! runtime_min, rating, genres, cast_ids, country_code)` and `actors(id INTEGER PRIMARY KEY,
//! name, birth_year)`; `genres` is the names joined by `,`, `cast_ids` a blob of little-endian
//! u64s. Reads use `mmap_size` and one read transaction.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags, params};

use crate::data::Records;
use crate::measure::{self, Resident};
use crate::report::EngineReport;
use crate::{Config, Result};

/// `PRAGMA mmap_size` for reads: larger than any file here, so the whole file is mapped.
pub const MMAP_SIZE: u64 = 1 << 34;

fn id_param(id: u64) -> Result<i64> {
    Ok(i64::try_from(id)?)
}

/// Creates the database at `path` (replacing it) from the parsed records, in one transaction,
/// with `journal_mode=OFF` and `synchronous=OFF` (a bulk load into the page cache).
pub fn build(data: &Records, path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let mut conn = Connection::open(path)?;
    conn.query_row("PRAGMA journal_mode=OFF", [], |_| Ok(()))?;
    conn.execute_batch(
        "PRAGMA synchronous=OFF;
         CREATE TABLE movies(id INTEGER PRIMARY KEY, title TEXT NOT NULL, year INTEGER NOT NULL,
             runtime_min INTEGER NOT NULL, rating REAL NOT NULL, genres TEXT NOT NULL,
             cast_ids BLOB NOT NULL, country_code TEXT NOT NULL);
         CREATE TABLE actors(id INTEGER PRIMARY KEY, name TEXT NOT NULL,
             birth_year INTEGER NOT NULL);",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO actors VALUES (?1, ?2, ?3)")?;
        for a in &data.actors {
            insert.execute(params![id_param(a.id)?, a.name, a.birth_year])?;
        }
        let mut insert =
            tx.prepare("INSERT INTO movies VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        let mut genres = String::new();
        let mut cast = Vec::new();
        for m in &data.movies {
            genres.clear();
            for (i, g) in m.genres.iter().enumerate() {
                if i > 0 {
                    genres.push(',');
                }
                genres.push_str(g);
            }
            cast.clear();
            for c in &m.cast_ids {
                cast.extend_from_slice(&c.to_le_bytes());
            }
            #[allow(clippy::cast_possible_truncation)] // the schema's rating is a Float32
            let rating = f64::from(m.rating as f32);
            insert.execute(params![
                id_param(m.id)?,
                m.title,
                m.year,
                m.runtime_min,
                rating,
                genres,
                cast,
                m.country_code
            ])?;
        }
    }
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(())
}

/// Opens the database read-only with `mmap_size` set.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mapped: i64 = conn.query_row(&format!("PRAGMA mmap_size={MMAP_SIZE}"), [], |r| r.get(0))?;
    if mapped <= 0 {
        return Err("SQLite refused to enable mmap".into());
    }
    Ok(conn)
}

/// Opens the database and starts the read transaction every kernel then runs in (it holds its
/// snapshot from the first `SELECT` until the connection drops).
pub fn open_for_reads(path: &Path) -> Result<Connection> {
    let conn = open(path)?;
    conn.execute_batch("BEGIN DEFERRED")?;
    Ok(conn)
}

/// Open → first primary-key lookup (reads `id` of the movie `id`).
pub fn open_first_lookup(path: &Path, id: u64) -> Result<u64> {
    let conn = open(path)?;
    let found: i64 = conn.query_row(
        "SELECT id FROM movies WHERE id = ?1",
        [id_param(id)?],
        |r| r.get(0),
    )?;
    Ok(found.cast_unsigned())
}

/// Primary-key lookups of `ids`, reading `id`. Returns the sum.
#[inline(never)]
pub fn lookup_ids(conn: &Connection, ids: &[u64]) -> Result<u64> {
    let mut stmt = conn.prepare_cached("SELECT id FROM movies WHERE id = ?1")?;
    let mut sum = 0u64;
    for &id in ids {
        let mut rows = stmt.query([id_param(id)?])?;
        if let Some(row) = rows.next()? {
            sum = sum.wrapping_add(row.get::<_, i64>(0)?.cast_unsigned());
        }
    }
    Ok(sum)
}

/// Primary-key lookups of `ids`, reading `title` as `&str`. Returns the total length.
#[inline(never)]
pub fn lookup_titles(conn: &Connection, ids: &[u64]) -> Result<usize> {
    let mut stmt = conn.prepare_cached("SELECT title FROM movies WHERE id = ?1")?;
    let mut len = 0usize;
    for &id in ids {
        let mut rows = stmt.query([id_param(id)?])?;
        if let Some(row) = rows.next()? {
            let title: &str = row.get_ref(0)?.as_str()?;
            len = len.wrapping_add(black_box(title).len());
        }
    }
    Ok(len)
}

/// Full scan summing `year`.
#[inline(never)]
pub fn scan(conn: &Connection) -> Result<u64> {
    let mut stmt = conn.prepare_cached("SELECT year FROM movies")?;
    let mut rows = stmt.query([])?;
    let mut sum = 0u64;
    while let Some(row) = rows.next()? {
        sum = sum.wrapping_add(row.get::<_, i64>(0)?.cast_unsigned());
    }
    Ok(sum)
}

/// Runs every SQLite measurement.
pub fn measure(
    config: &Config,
    data: &Records,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<EngineReport> {
    let path = dir.join("movies.sqlite");
    progress("sqlite: building");
    let mut builds = Vec::new();
    for _ in 0..config.build_reps.max(1) {
        let start = Instant::now();
        build(data, &path)?;
        builds.push(start.elapsed());
    }
    let file_bytes = std::fs::metadata(&path)?.len();
    let file_zstd_bytes = measure::zstd3_file_len(&path)?;
    measure::warm_page_cache(&path)?;

    progress("sqlite: open → first lookup");
    let id = data.middle_id();
    let mut opens = Vec::new();
    for _ in 0..config.open_runs.max(1) {
        let start = Instant::now();
        let found = open_first_lookup(&path, id)?;
        opens.push(start.elapsed());
        if found != id {
            return Err("sqlite first lookup found the wrong movie".into());
        }
    }

    progress("sqlite: reads");
    let before = Resident::now();
    let conn = open_for_reads(&path)?;
    let year_sum = scan(&conn)?;
    let resident_open_scan = Resident::now().since(before);
    if year_sum != data.year_sum() {
        return Err(format!(
            "sqlite scan summed {year_sum}, expected {}",
            data.year_sum()
        )
        .into());
    }
    let reps = config.reps;
    let ids = black_box(&data.ids[..]);
    Ok(EngineReport {
        build_ms: measure::ms(&builds),
        file_bytes,
        file_zstd_bytes,
        open_first_lookup_us: measure::us(&opens),
        pk_lookup_ns: measure::try_ns_per_op(reps, ids.len(), || lookup_ids(&conn, ids))?,
        pk_lookup_title_ns: measure::try_ns_per_op(reps, ids.len(), || lookup_titles(&conn, ids))?,
        scan_ns: measure::try_ns_per_op(reps, data.movies.len(), || scan(&conn))?,
        resident_open_scan,
    })
}
