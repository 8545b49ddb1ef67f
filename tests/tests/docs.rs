//! The project's documents keep their promises.

use std::path::Path;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn architecture_names_every_workspace_crate() {
    let architecture = read("ARCHITECTURE.md");
    let workspace = read("Cargo.toml");
    let members = workspace
        .lines()
        .find(|l| l.starts_with("members"))
        .expect("workspace members");
    for dir in members
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.trim().is_empty())
    {
        let manifest = read(&format!("{dir}/Cargo.toml"));
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"'))
            .expect("package name");
        assert!(
            architecture.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not mention the crate {name}"
        );
    }
}

#[test]
fn readme_opens_with_the_two_commands_and_ci_runs_the_tests() {
    let readme = read("README.md");
    let first_block: Vec<&str> = readme
        .split("```")
        .nth(1)
        .expect("a code block")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("sh"))
        .collect();
    assert!(
        first_block[0].starts_with("cargo glint run"),
        "{first_block:?}"
    );
    assert!(
        first_block[1].starts_with("cargo glint test"),
        "{first_block:?}"
    );
    assert!(read(".ci/run").contains("cargo glint test"));
}
