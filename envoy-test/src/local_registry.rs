//! Debian's `docker-registry` (CNCF distribution) on a free loopback port, with its storage in a
//! temporary directory: the real registry the tests and the local gateway push to and pull from.
//! Stopped (and its storage removed) when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use distribution::error::{Context, Error, Result};

pub const BINARY: &str = "/usr/bin/docker-registry";

pub struct LocalRegistry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub address: String,
    dir: PathBuf,
}

/// Who may push and pull, for a registry that asks for credentials (htpasswd, bcrypt hash).
pub struct Htpasswd<'a> {
    pub username: &'a str,
    pub bcrypt_hash: &'a str,
}

impl LocalRegistry {
    /// Starts a registry under `dir` (which must exist and outlive it) and waits until it answers.
    pub fn start(dir: &Path, htpasswd: Option<Htpasswd<'_>>) -> Result<Self> {
        if !Path::new(BINARY).exists() {
            return Err(Error::new(format!(
                "{BINARY} is missing: install Debian's docker-registry (`make system-packages`)"
            )));
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage)?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {address}\n",
            storage.display()
        );
        if let Some(htpasswd) = htpasswd {
            let file = dir.join("htpasswd");
            std::fs::write(
                &file,
                format!("{}:{}\n", htpasswd.username, htpasswd.bcrypt_hash),
            )?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wasm-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context(format!("starting {BINARY}"))?;
        let mut registry = LocalRegistry {
            child,
            address,
            dir: dir.to_path_buf(),
        };
        registry.wait_until_ready()?;
        Ok(registry)
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(1)))
            .build()
            .new_agent();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::new(format!(
                    "docker-registry exited ({status}): {}",
                    self.log()
                )));
            }
            // 200, or 401 when it wants credentials: either way it is serving the API.
            if let Ok(response) = agent.get(&format!("http://{}/v2/", self.address)).call() {
                if matches!(response.status().as_u16(), 200 | 401) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(Error::new(format!(
                    "docker-registry did not answer in 15 s: {}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the registry logged (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
