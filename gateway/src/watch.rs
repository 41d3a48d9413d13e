//! `gateway run` watches its config directory and applies each change to the running Envoy:
//! what changed on disk ([`Watch`]), and what a new plan must keep from the running one
//! ([`pin_ports`], [`restart_only`]) and tell the user ([`new_lines`]).
//!
//! The watch polls the names, sizes and modification times of the `*.yaml` files (the files
//! [`crate::resources::load_dir`] reads): no file-notification dependency, and it sees an edit
//! through a symlink or on a network file system alike.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use envoy_runner::Bootstrap;

/// The `*.yaml` files of a directory, by path, with their sizes and modification times;
/// `None` when the directory cannot be read (then the plan reports why).
type Snapshot = Option<Vec<(PathBuf, u64, Option<SystemTime>)>>;

/// Changes to a config directory, seen by polling.
pub struct Watch {
    dir: PathBuf,
    /// The directory as the config last planned saw it.
    seen: Snapshot,
    /// A change seen on the last poll, applied once a poll finds it unchanged: an editor
    /// writes a file in several steps (truncate, write, rename), and planning the first
    /// step would report errors the next step fixes.
    pending: Option<Snapshot>,
}

impl Watch {
    /// Watches `dir` from now on: take it before planning, so that an edit made while the
    /// first plan reads the files is seen.
    pub fn new(dir: &Path) -> Self {
        Watch {
            dir: dir.to_path_buf(),
            seen: snapshot(dir),
            pending: None,
        }
    }

    /// Whether the directory changed since the last time this said so (or since [`Watch::new`])
    /// and has stayed as it is since the previous poll.
    pub fn poll(&mut self) -> bool {
        let now = snapshot(&self.dir);
        if now == self.seen {
            self.pending = None;
            return false;
        }
        if self.pending.as_ref() == Some(&now) {
            self.seen = now;
            self.pending = None;
            return true;
        }
        self.pending = Some(now);
        false
    }
}

fn snapshot(dir: &Path) -> Snapshot {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut files: Vec<_> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension().is_none_or(|ext| ext != "yaml") {
                return None;
            }
            // Follows symlinks, as reading the file does.
            let metadata = std::fs::metadata(&path).ok()?;
            metadata
                .is_file()
                .then(|| (path, metadata.len(), metadata.modified().ok()))
        })
        .collect();
    files.sort();
    Some(files)
}

/// Binds each listener of `bootstrap` that the running Envoy has (by name, `running` as
/// [`envoy_runner::Envoy::listener_ports`] gives them) to the port Envoy bound for it: a
/// listener asked for port 0 at the start has a port of its own by now, and its clients use it.
/// A listener Envoy does not have keeps the port the plan gave it.
pub fn pin_ports(bootstrap: &mut Bootstrap, running: &[(String, u16)]) {
    for listener in &mut bootstrap.listeners {
        if let Some((_, port)) = running.iter().find(|(name, _)| *name == listener.name) {
            listener.port = *port;
        }
    }
}

/// Whether `new` differs from `old` in more than its listeners and clusters: the rest of the
/// bootstrap (admin, runtime, stats) only takes effect when Envoy restarts.
pub fn restart_only(old: &Bootstrap, new: &Bootstrap) -> bool {
    let rest = |bootstrap: &Bootstrap| {
        Bootstrap {
            listeners: Vec::new(),
            clusters: Vec::new(),
            ..bootstrap.clone()
        }
        .to_json()
    };
    rest(old) != rest(new)
}

/// Whether `new` has other listeners or clusters than `old` (compared as Envoy reads them).
pub fn resources_changed(old: &Bootstrap, new: &Bootstrap) -> bool {
    let resources = |bootstrap: &Bootstrap| {
        Bootstrap {
            listeners: bootstrap.listeners.clone(),
            clusters: bootstrap.clusters.clone(),
            ..Bootstrap::default()
        }
        .to_json()
    };
    resources(old) != resources(new)
}

/// The lines of `new` that `old` does not have, in `new`'s order: the notes and summary lines
/// a reload changed.
pub fn new_lines<'a>(old: &[String], new: &'a [String]) -> Vec<&'a String> {
    new.iter().filter(|line| !old.contains(line)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_runner::{Cluster, Listener, RouteConfig};

    #[test]
    fn a_change_is_reported_once_it_holds_still() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("a.yaml"), "a: 1\n").expect("written");
        let mut watch = Watch::new(dir.path());
        assert!(!watch.poll(), "nothing changed yet");

        std::fs::write(dir.path().join("a.yaml"), "a: 12\n").expect("written");
        assert!(!watch.poll(), "a change is reported when it holds still");
        assert!(watch.poll());
        assert!(!watch.poll(), "reported once");

        // Other files do not count; a new *.yaml file does.
        std::fs::write(dir.path().join("notes.txt"), "x").expect("written");
        assert!(!watch.poll() && !watch.poll());
        std::fs::write(dir.path().join("b.yaml"), "b: 1\n").expect("written");
        assert!(!watch.poll());
        assert!(watch.poll());

        // A directory that is gone is a change too (the plan then says why it cannot read it).
        drop(dir);
        assert!(!watch.poll());
        assert!(watch.poll());
    }

    #[test]
    fn running_listeners_keep_their_ports() {
        let mut bootstrap = Bootstrap::new()
            .listener(Listener::new("gateway", RouteConfig::to_cluster("a")))
            .listener(Listener::new("other", RouteConfig::to_cluster("a")).port(8081));
        pin_ports(&mut bootstrap, &[("gateway".to_string(), 40123)]);
        let ports: Vec<u16> = bootstrap.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [40123, 8081]);
    }

    #[test]
    fn resource_changes_and_bootstrap_changes_are_told_apart() {
        let one = Bootstrap::new().cluster(Cluster::new("a", []));
        let two = one.clone().cluster(Cluster::new("b", []));
        assert!(resources_changed(&one, &two));
        assert!(!restart_only(&one, &two));
        let admin = one.clone().extra(
            serde_json::json!({"admin": {"address": {"socket_address": {"port_value": 1}}}}),
        );
        assert!(restart_only(&one, &admin));
        assert!(!resources_changed(&one, &admin));
    }

    #[test]
    fn new_lines_keep_their_order() {
        let old = ["a".to_string(), "b".to_string()];
        let new = ["c".to_string(), "a".to_string(), "d".to_string()];
        assert_eq!(new_lines(&old, &new), [&new[0], &new[2]]);
    }
}
