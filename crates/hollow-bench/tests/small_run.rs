//! The whole benchmark pipeline on a tiny dataset: every engine builds, opens and reads back the
//! same records, and the report renders.

use hollow_bench::{Config, run};

#[test]
fn tiny_run_measures_every_engine() {
    let config = Config {
        rounds: 2,
        reps: 1,
        build_reps: 1,
        open_runs: 2,
        ops: 1_000,
        lookup_ops: 500,
        ..Config::new(2_000)
    };
    let report = run(&config, &mut |_| {}).expect("benchmark run");
    assert_eq!(report.movies, 2_000);
    assert_eq!(report.actors, 500);
    let sqlite = report.sqlite.as_ref().expect("sqlite measured");
    let lmdb = report.lmdb.as_ref().expect("lmdb measured");
    assert!(sqlite.file_bytes > 0 && lmdb.file_bytes > 0);
    let on = report.hollow.build(true).expect("dedup build");
    let off = report.hollow.build(false).expect("plain build");
    assert!(on.blob_bytes < off.blob_bytes, "dedup shrinks the blob");
    let markdown = report.to_markdown();
    assert!(markdown.contains("| PK lookup, read `id` (ns) |"));
    assert_eq!(
        report.hollow.pk_lookup_ns.runs, 2,
        "samples pooled over rounds"
    );
    serde_json::to_string(&report).expect("report serialises");
}
