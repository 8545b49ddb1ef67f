//! The real OpenStack Python clients, in a virtual environment kept outside the clone
//! (`~/.cache/glint/`), created on first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The pinned client packages.
pub(crate) const CLIENTS: &[&str] = &[
    "python-glanceclient==4.13.0",
    "openstacksdk==4.22.0",
    "python-openstackclient==10.5.0",
];

static SETUP: Mutex<()> = Mutex::new(());

fn cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("glint")
}

/// The virtual environment's folder, with the clients installed.
pub(crate) fn venv() -> PathBuf {
    venv_with(CLIENTS)
}

/// A virtual environment with exactly these pinned packages, made once and kept.
pub(crate) fn venv_with(packages: &[&str]) -> PathBuf {
    venv_constrained(packages, None)
}

/// As [`venv_with`], with their dependencies held to `constraints` (a `pip freeze`).
pub(crate) fn venv_constrained(packages: &[&str], constraints: Option<&Path>) -> PathBuf {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let tag: String = packages
        .iter()
        .map(|p| p.replace("==", "-").replace('[', "-").replace(']', ""))
        .collect::<Vec<_>>()
        .join("_");
    let dir = cache_dir().join(format!("venv-{tag}"));
    let ready = dir.join(".ready");
    if ready.exists() {
        return dir;
    }
    std::fs::create_dir_all(cache_dir()).expect("cache folder");
    let python = std::env::var("GLINT_PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&python).args(["-m", "venv"]).arg(&dir));
    let mut pip = Command::new(dir.join("bin").join("pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check"]);
    if let Some(file) = constraints {
        pip.arg("-c").arg(file);
    }
    run(pip.args(packages));
    std::fs::write(&ready, packages.join("\n")).expect("mark the venv ready");
    dir
}

fn run(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run {shown}: {e}; Python 3 with venv and pip is needed")
    });
    assert!(status.success(), "{shown} failed: {status}");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A command that runs a venv tool on a terminal (`script` from util-linux), as an operator
/// types it: the clients take any standard input that is not a terminal as image data.
pub(crate) fn on_terminal(venv: &Path, name: &str, args: &[&str]) -> Command {
    let program = venv.join("bin").join(name);
    let command = std::iter::once(program.to_string_lossy().into_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("HOME", std::env::temp_dir());
    cmd
}

/// Runs a tool and returns whether it succeeded and its output, without failing the test.
pub(crate) fn try_tool(venv: &Path, name: &str, args: &[&str]) -> (bool, String) {
    let out = on_terminal(venv, name, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} under script(1): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs a tool from the venv and returns its output, failing the test with it if it fails.
pub(crate) fn tool(venv: &Path, name: &str, args: &[&str]) -> String {
    let (ok, out) = try_tool(venv, name, args);
    assert!(ok, "{name} {args:?} failed:\n{out}");
    out
}

/// Glance's own metadata definitions catalogue (`etc/metadefs/*.json` of the glance 33.0.0
/// wheel from PyPI), fetched once into the cache.
pub(crate) fn glance_catalogue() -> PathBuf {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir().join("glance-33.0.0-metadefs");
    let ready = dir.join(".ready");
    if ready.exists() {
        return dir;
    }
    let wheels = cache_dir().join("wheels");
    std::fs::create_dir_all(&wheels).expect("cache folder");
    let python = std::env::var("GLINT_PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "glance==33.0.0",
            "-d",
        ])
        .arg(&wheels));
    let extract = "import sys, zipfile, os\n\
        wheel, out = sys.argv[1], sys.argv[2]\n\
        os.makedirs(out, exist_ok=True)\n\
        z = zipfile.ZipFile(wheel)\n\
        n = 0\n\
        for name in z.namelist():\n\
        \x20   if '/etc/glance/metadefs/' in name and name.endswith('.json'):\n\
        \x20       open(os.path.join(out, os.path.basename(name)), 'wb').write(z.read(name)); n += 1\n\
        assert n > 0, 'no metadefs in ' + wheel\n";
    run(Command::new(&python)
        .args(["-c", extract])
        .arg(wheels.join("glance-33.0.0-py3-none-any.whl"))
        .arg(&dir));
    std::fs::write(&ready, "glance==33.0.0").expect("mark the catalogue ready");
    dir
}
