//! Helpers shared by the CLI tests: run the real `hollow` binary and read its output.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `hollow ARGS --store STORE`.
pub fn hollow(args: &[&str], store: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args(args)
        .env_remove("HOLLOW_STORE")
        .arg("--store")
        .arg(store)
        .output()
        .expect("run hollow")
}

/// The standard output of a run that must have succeeded.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The standard output of a run that must have succeeded, as one JSON document.
pub fn json_of(o: &Output) -> Value {
    serde_json::from_str(ok(o).trim()).expect("json output")
}

/// The standard error of a run.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `hollow ARGS` in the directory `cwd` with the environment `env` (and no
/// `HOLLOW_STORE` unless `env` sets it): no `--store` is added.
pub fn hollow_in(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hollow"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("HOLLOW_STORE");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run hollow")
}

/// The standard output of a run, whatever its status.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `hollow query … --json`: the records (JSONL on stdout) and the summary (the last line of
/// stderr, one JSON document). Exit status 0, or 1 when nothing matched.
pub fn query_of(o: &Output) -> (Vec<Value>, Value) {
    let err = stderr(o);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{err}");
    let records = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let summary = serde_json::from_str(err.lines().last().unwrap_or_default()).expect("summary");
    (records, summary)
}
