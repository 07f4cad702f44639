//! The Cap'n Proto code generated for the bundled schemas is checked in, so building never needs
//! the `capnp` compiler. This test regenerates it when `capnp` is installed and fails when the
//! checked-in files differ. Run with `HOLLOW_BLESS=1` to rewrite the checked-in files.

use std::path::{Path, PathBuf};

struct Generated {
    schema: &'static str,
    parent_module: &'static [&'static str],
    output: &'static str,
}

const GENERATED: &[Generated] = &[
    Generated {
        schema: "hollow.capnp",
        parent_module: &["generated"],
        output: "crates/hollow/src/generated/hollow_capnp.rs",
    },
    Generated {
        schema: "hollow_format.capnp",
        parent_module: &["generated"],
        output: "crates/hollow/src/generated/hollow_format_capnp.rs",
    },
    Generated {
        schema: "test_types.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/test_types_capnp.rs",
    },
    Generated {
        schema: "evolution/evo_v1.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/evo_v1_capnp.rs",
    },
    Generated {
        schema: "evolution/evo_v2.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/evo_v2_capnp.rs",
    },
    Generated {
        schema: "evolution/evo_retype.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/evo_retype_capnp.rs",
    },
    Generated {
        schema: "evolution/evo_removed.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/evo_removed_capnp.rs",
    },
    Generated {
        schema: "evolution/evo_pk.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/evo_pk_capnp.rs",
    },
    Generated {
        schema: "evolution/evo_enum_shrink.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/evo_enum_shrink_capnp.rs",
    },
    Generated {
        schema: "evolution/movies_v2.capnp",
        parent_module: &[],
        output: "crates/hollow/tests/generated/movies_v2_capnp.rs",
    },
    Generated {
        schema: "movies.capnp",
        parent_module: &[],
        output: "crates/hollow-movies/src/movies_capnp.rs",
    },
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn capnp_available() -> bool {
    std::process::Command::new("capnp")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn checked_in_generated_code_matches_the_schemas() {
    if !capnp_available() {
        eprintln!("skipping: the capnp compiler is not installed (CI installs it)");
        if std::env::var_os("CI").is_some() {
            panic!("CI must install the capnp compiler");
        }
        return;
    }
    let root = workspace_root();
    let bless = std::env::var_os("HOLLOW_BLESS").is_some();
    let mut stale = Vec::new();
    for g in GENERATED {
        let out = tempfile::tempdir().expect("temp dir");
        let mut cmd = capnpc::CompilerCommand::new();
        cmd.src_prefix(root.join("schemas"))
            .import_path(root.join("schemas"))
            .file(root.join("schemas").join(g.schema))
            .output_path(out.path())
            .default_parent_module(g.parent_module.iter().map(|s| s.to_string()).collect());
        cmd.run().expect("capnp compile");
        let produced_name = g.schema.replace(".capnp", "_capnp.rs");
        let produced =
            std::fs::read_to_string(out.path().join(&produced_name)).expect("generated file");
        let checked_in_path = root.join(g.output);
        let checked_in = std::fs::read_to_string(&checked_in_path).unwrap_or_default();
        if produced != checked_in {
            if bless {
                std::fs::write(&checked_in_path, &produced).expect("write generated code");
            } else {
                stale.push(g.output);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale (rerun with HOLLOW_BLESS=1): {stale:?}"
    );
}
