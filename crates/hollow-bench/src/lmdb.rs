//! LMDB (heed) on the same records: databases `movies` (big-endian u64 id → [`crate::codec`]
//! movie value) and `actors` (id → actor value) in one environment. Reads use one read
//! transaction.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use heed::byteorder::BigEndian;
use heed::types::{Bytes, U64};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, PutFlags, RoTxn};

use crate::codec::{self, MovieView};
use crate::data::Records;
use crate::measure::{self, Resident};
use crate::report::EngineReport;
use crate::{Config, Result};

/// A database of records keyed by big-endian u64 id.
pub type IdDb<'e> = Database<'e, U64<BigEndian>, Bytes>;

/// Map size of the environment (address space only; the file grows as pages are written).
pub const MAP_SIZE: usize = 1 << 34;

fn options() -> EnvOpenOptions {
    let mut options = EnvOpenOptions::new();
    options.map_size(MAP_SIZE).max_dbs(2);
    options
}

/// Opens the environment in `dir` (which must exist).
pub fn open_env(dir: &Path) -> Result<Env> {
    // SAFETY: the environment's files are created and modified only through heed by this
    // process, one environment at a time, and never truncated while mapped.
    Ok(unsafe { options().open(dir)? })
}

/// Opens the `movies` database (a read transaction, committed after opening, as heed requires).
pub fn open_movies(env: &Env) -> Result<IdDb<'_>> {
    let rtxn = env.read_txn()?;
    let opened = env.open_databases_and_commit(rtxn, |dbo, rtxn| {
        dbo.open_database::<U64<BigEndian>, Bytes>(rtxn, Some("movies"))
            .map(CommitOrAbort::<_, ()>::Commit)
    })?;
    Ok(opened
        .commit()
        .flatten()
        .ok_or("the LMDB environment has no movies database")?)
}

/// Creates the environment in `dir` (replacing it) from the parsed records (in id order), in
/// one write transaction with `APPEND` puts and `NO_SYNC` (a bulk load into the page cache).
pub fn build(data: &Records, dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    std::fs::create_dir_all(dir)?;
    let mut options = options();
    // SAFETY: NO_SYNC only gives up durability on a system crash; this is a benchmark load.
    unsafe { options.flags(EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC) };
    // SAFETY: as in `open_env`.
    let env = unsafe { options.open(dir)? };
    let wtxn = env.write_txn()?;
    let (movies, actors) = env
        .create_databases_and_commit(wtxn, |dbo, wtxn| -> heed::Result<_> {
            let movies = dbo.create_database::<U64<BigEndian>, Bytes>(wtxn, Some("movies"))?;
            let actors = dbo.create_database::<U64<BigEndian>, Bytes>(wtxn, Some("actors"))?;
            Ok(CommitOrAbort::<_, ()>::Commit((movies, actors)))
        })?
        .commit()
        .ok_or("creating the LMDB databases aborted")?;
    let mut wtxn = env.write_txn()?;
    let mut buf = Vec::new();
    // Records come in key order: APPEND fills every page (as a bulk loader would) instead of
    // splitting pages in half, which gives LMDB its smallest file and fastest load.
    for a in &data.actors {
        codec::encode_actor(a, &mut buf);
        actors.put_with_flags(&mut wtxn, PutFlags::APPEND, &a.id, &buf)?;
    }
    for m in &data.movies {
        codec::encode_movie(m, &mut buf);
        movies.put_with_flags(&mut wtxn, PutFlags::APPEND, &m.id, &buf)?;
    }
    wtxn.commit()?;
    drop(env);
    Ok(())
}

/// Open → first primary-key lookup (reads `id` of the movie `id`).
pub fn open_first_lookup(dir: &Path, id: u64) -> Result<u64> {
    let env = open_env(dir)?;
    let movies = open_movies(&env)?;
    let rtxn = env.read_txn()?;
    let value = movies
        .get(&rtxn, &id)?
        .ok_or("first lookup found nothing")?;
    let found = MovieView(value).id();
    drop(rtxn);
    drop(env);
    Ok(found)
}

/// Primary-key lookups of `ids`, reading `id`. Returns the sum.
#[inline(never)]
pub fn lookup_ids(db: &IdDb<'_>, rtxn: &RoTxn<'_>, ids: &[u64]) -> Result<u64> {
    let mut sum = 0u64;
    for id in ids {
        if let Some(v) = db.get(rtxn, id)? {
            sum = sum.wrapping_add(MovieView(v).id());
        }
    }
    Ok(sum)
}

/// Primary-key lookups of `ids`, reading `title` as `&str`. Returns the total length.
#[inline(never)]
pub fn lookup_titles(db: &IdDb<'_>, rtxn: &RoTxn<'_>, ids: &[u64]) -> Result<usize> {
    let mut len = 0usize;
    for id in ids {
        if let Some(v) = db.get(rtxn, id)? {
            let title = MovieView(v).title().ok_or("malformed LMDB movie value")?;
            len = len.wrapping_add(black_box(title).len());
        }
    }
    Ok(len)
}

/// Full scan (cursor over the whole database) summing `year`.
#[inline(never)]
pub fn scan(db: &IdDb<'_>, rtxn: &RoTxn<'_>) -> Result<u64> {
    let mut sum = 0u64;
    for entry in db.iter(rtxn)? {
        let (_, v) = entry?;
        sum = sum.wrapping_add(u64::from(MovieView(v).year()));
    }
    Ok(sum)
}

/// Runs every LMDB measurement.
pub fn measure(
    config: &Config,
    data: &Records,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<EngineReport> {
    let env_dir = dir.join("movies.lmdb");
    progress("lmdb: building");
    let mut builds = Vec::new();
    for _ in 0..config.build_reps.max(1) {
        let start = Instant::now();
        build(data, &env_dir)?;
        builds.push(start.elapsed());
    }
    let data_file = env_dir.join("data.mdb");
    let file_bytes = std::fs::metadata(&data_file)?.len();
    let file_zstd_bytes = measure::zstd3_file_len(&data_file)?;
    measure::warm_page_cache(&data_file)?;

    progress("lmdb: open → first lookup");
    let id = data.middle_id();
    let mut opens = Vec::new();
    for _ in 0..config.open_runs.max(1) {
        let start = Instant::now();
        let found = open_first_lookup(&env_dir, id)?;
        opens.push(start.elapsed());
        if found != id {
            return Err("lmdb first lookup found the wrong movie".into());
        }
    }

    progress("lmdb: reads");
    let before = Resident::now();
    let env = open_env(&env_dir)?;
    let movies = open_movies(&env)?;
    let rtxn = env.read_txn()?;
    let year_sum = scan(&movies, &rtxn)?;
    let resident_open_scan = Resident::now().since(before);
    if year_sum != data.year_sum() {
        return Err(format!("lmdb scan summed {year_sum}, expected {}", data.year_sum()).into());
    }
    let reps = config.reps;
    let ids = black_box(&data.ids[..]);
    let report = EngineReport {
        build_ms: measure::ms(&builds),
        file_bytes,
        file_zstd_bytes,
        open_first_lookup_us: measure::us(&opens),
        pk_lookup_ns: measure::try_ns_per_op(reps, ids.len(), || lookup_ids(&movies, &rtxn, ids))?,
        pk_lookup_title_ns: measure::try_ns_per_op(reps, ids.len(), || {
            lookup_titles(&movies, &rtxn, ids)
        })?,
        scan_ns: measure::try_ns_per_op(reps, data.movies.len(), || scan(&movies, &rtxn))?,
        resident_open_scan,
    };
    drop(rtxn);
    drop(env);
    Ok(report)
}
