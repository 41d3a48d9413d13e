//! `gateway check DIR`: everything `make gateway` refuses or reports, without starting Envoy,
//! and the cross-reference analysis; one [`Finding`] per line, errors first.

use std::path::Path;

use crate::analysis;
use crate::error::Errors;
use crate::finding::{Finding, Level};
use crate::plan::{self, Options};

fn errors(errors: Errors) -> impl Iterator<Item = Finding> {
    errors
        .0
        .into_iter()
        .map(|error| Finding::new(Level::Error, None, error))
}

/// The findings for `dir`, as `make gateway --gateway gateway` would serve it; `cache_dir`
/// is where the modules are fetched to (the check fetches them, as the gateway would).
pub fn check(dir: &Path, gateway: Option<&str>, cache_dir: &Path) -> Vec<Finding> {
    let resources = match plan::load(dir) {
        Ok((resources, _)) => resources,
        Err(found) => return errors(found).collect(),
    };
    let mut findings: Vec<Finding> = Vec::new();
    let options = Options {
        config_dir: dir.to_path_buf(),
        port: 0,
        ports: Default::default(),
        admin_port: 0,
        cache_dir: cache_dir.to_path_buf(),
        gateway: gateway.map(str::to_string),
        // Nothing runs: no log to write.
        access_log: None,
    };
    let mut notes = Vec::new();
    match plan::plan(&options) {
        Ok(plan) => notes = plan.notes,
        Err(found) => findings.extend(errors(found)),
    }
    findings.extend(analysis::analyze(&resources));
    // Istio's validation warnings about Gateways are warnings here too; other notes are Info.
    let gateway_warnings: Vec<String> = resources
        .gateways
        .iter()
        .flat_map(|gateway| {
            gateway.warnings.iter().map(move |warning| {
                format!(
                    "{}: {}: {warning}",
                    gateway.origin.file.display(),
                    gateway.origin
                )
            })
        })
        .collect();
    findings.extend(notes.into_iter().map(|note| Finding {
        level: if gateway_warnings.contains(&note) {
            Level::Warning
        } else {
            Level::Info
        },
        code: None,
        text: note,
    }));
    // Stable: errors first, each level in the order found.
    findings.sort_by_key(|finding| finding.level);
    findings
}
