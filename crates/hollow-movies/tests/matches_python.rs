//! The Rust generator must write the same bytes as the reference generator `tests/movies.py`
//! (kept in this repository for this test): the same records, in the same order, as the same
//! JSON Lines.

use std::path::PathBuf;
use std::process::Command;

use hollow_movies::Dataset;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/movies.py")
}

fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn port_matches_movies_py_byte_for_byte() {
    if !python3_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 to compare the generator port with tests/movies.py"
        );
        eprintln!("skipping: python3 not found");
        return;
    }
    let dataset = Dataset::new(2000);
    for cycle in [0u64, 1, 3] {
        let out = Command::new("python3")
            .arg(script())
            .args(["--movies", "2000", "--cycle", &cycle.to_string()])
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "movies.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut ours = Vec::new();
        dataset.write_jsonl(cycle, &mut ours).expect("write");
        let (ours, theirs) = (
            String::from_utf8(ours).expect("utf-8"),
            String::from_utf8(out.stdout).expect("utf-8"),
        );
        assert_eq!(
            ours.lines().count(),
            theirs.lines().count(),
            "cycle {cycle}: record count"
        );
        for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
            assert_eq!(a, b, "cycle {cycle}, line {}", i + 1);
        }
    }
}

#[test]
fn export_writes_the_same_files_as_the_script() {
    if !python3_available() {
        return;
    }
    let dir = tempfile_dir("ours");
    let theirs = tempfile_dir("theirs");
    let paths = Dataset::new(300).export_jsonl(&dir, 3).expect("export");
    let out = Command::new("python3")
        .arg(script())
        .args(["--movies", "300", "--cycles", "3", "--out"])
        .arg(&theirs)
        .output()
        .expect("run python3");
    assert!(out.status.success());
    assert_eq!(paths.len(), 3);
    for path in paths {
        let name = path.file_name().expect("file name");
        let a = std::fs::read(&path).expect("ours");
        let b = std::fs::read(theirs.join(name)).expect("theirs");
        assert!(a == b, "{} differs", name.to_string_lossy());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&theirs);
}

fn tempfile_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hollow-movies-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
