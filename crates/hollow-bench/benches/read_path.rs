//! Criterion benches of the read-path micro operations at 100k movies: random `id` and `title`
//! reads by ordinal, primary-key lookups and full scans for hollow, with SQLite and LMDB
//! primary-key lookups and scans on the same records for comparison.
//!
//! `cargo bench -p hollow-bench` (or `-- hollow/` to run only hollow's).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hollow::{ReadState, WriteOptions};
use hollow_bench::data::Records;
use hollow_bench::{hollow_side, lmdb, sqlite};
use hollow_movies::movies_capnp::movie;

const MOVIES: u64 = 100_000;
/// Operations per iteration of the random-access benches.
const BATCH: usize = 10_000;

fn read_path(c: &mut Criterion) {
    let data = Records::generate(MOVIES, BATCH, BATCH);
    let dir = tempfile::tempdir().expect("temp dir");

    let blob = dir.path().join("movies.blob");
    hollow_side::write_blob(&data, WriteOptions::default(), &blob).expect("hollow snapshot");
    let state = ReadState::open(&blob).expect("open snapshot");
    let table = state.table::<movie::Owned>().expect("movie table");

    let mut group = c.benchmark_group("hollow");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("read_id", |b| {
        b.iter(|| hollow_side::read_ids(&table, black_box(&data.ordinals)));
    });
    group.bench_function("read_id_dependent", |b| {
        b.iter(|| hollow_side::chase_ids(&table, black_box(&data.ordinals)));
    });
    group.bench_function("read_title_str", |b| {
        b.iter(|| hollow_side::read_titles(&table, black_box(&data.ordinals)));
    });
    group.bench_function("pk_lookup", |b| {
        b.iter(|| hollow_side::lookup_ids(&table, black_box(&data.ids)).expect("lookup"));
    });
    group.bench_function("pk_lookup_title_str", |b| {
        b.iter(|| hollow_side::lookup_titles(&table, black_box(&data.ids)).expect("lookup"));
    });
    group.throughput(Throughput::Elements(MOVIES));
    group.bench_function("scan_year_iter", |b| {
        b.iter(|| hollow_side::scan_iter(black_box(&table)));
    });
    group.bench_function("scan_year_get", |b| {
        b.iter(|| hollow_side::scan_get(black_box(&table)));
    });
    group.finish();

    let db = dir.path().join("movies.sqlite");
    sqlite::build(&data, &db).expect("sqlite build");
    let conn = sqlite::open_for_reads(&db).expect("sqlite open");
    let mut group = c.benchmark_group("sqlite");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("pk_lookup", |b| {
        b.iter(|| sqlite::lookup_ids(&conn, black_box(&data.ids)).expect("lookup"));
    });
    group.throughput(Throughput::Elements(MOVIES));
    group.bench_function("scan_year", |b| {
        b.iter(|| sqlite::scan(&conn).expect("scan"));
    });
    group.finish();

    let env_dir = dir.path().join("movies.lmdb");
    lmdb::build(&data, &env_dir).expect("lmdb build");
    let env = lmdb::open_env(&env_dir).expect("lmdb open");
    let movies = lmdb::open_movies(&env).expect("lmdb movies");
    let rtxn = env.read_txn().expect("read txn");
    let mut group = c.benchmark_group("lmdb");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("pk_lookup", |b| {
        b.iter(|| lmdb::lookup_ids(&movies, &rtxn, black_box(&data.ids)).expect("lookup"));
    });
    group.throughput(Throughput::Elements(MOVIES));
    group.bench_function("scan_year", |b| {
        b.iter(|| lmdb::scan(&movies, &rtxn).expect("scan"));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = read_path
}
criterion_main!(benches);
