//! The Rust generator must produce the same records as `shared/datasets/movies.py`.

use std::path::PathBuf;

use hollow_movies::Dataset;
use serde_json::{Value, json};

fn generator_script() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/movies.py");
    p.exists().then_some(p)
}

#[test]
fn port_matches_movies_py_record_for_record() {
    let Some(script) = generator_script() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have shared/datasets/movies.py beside the clone"
        );
        eprintln!("skipping: shared/datasets/movies.py not found");
        return;
    };
    let dataset = Dataset::new(2000);
    for cycle in [0u64, 1, 3] {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args(["--movies", "2000", "--cycle", &cycle.to_string()])
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "movies.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: Vec<Value> = String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        let mut ours: Vec<Value> = dataset
            .actors(cycle)
            .map(
                |a| json!({"type": "Actor", "id": a.id, "name": a.name, "birthYear": a.birth_year}),
            )
            .collect();
        ours.extend(dataset.movies(cycle).map(|m| {
            json!({"type": "Movie", "id": m.id, "title": m.title, "year": m.year, "runtimeMin": m.runtime_min,
                   "rating": m.rating, "genres": m.genres, "castIds": m.cast_ids, "countryCode": m.country_code})
        }));
        assert_eq!(ours.len(), expected.len(), "cycle {cycle}: record count");
        for (i, (a, b)) in ours.iter().zip(&expected).enumerate() {
            assert_eq!(a, b, "cycle {cycle}, record {i}");
        }
    }
}
