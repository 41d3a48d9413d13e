//! The manifests under wasmplugins/: valid for Istio's API server (CRD schemas and CEL rules),
//! their pluginConfig accepted by the module's own parser, and in step with their template.
//! Istio's own WasmPlugin validation cases check the validator itself.

// Test helpers, like the tests themselves, stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use distribution::istio::crd::Crds;
use distribution::istio::{cel, manifests, yaml};
use distribution::workspace;
use serde_json::Value;

/// The module's own config parser: the same code, and so the same errors, as inside Envoy.
fn parse_plugin_config(module: &str, config: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(config).map_err(|error| error.to_string())?;
    match module {
        "router" => engine::router::RouteTable::from_json(&bytes)
            .map(drop)
            .map_err(|error| error.to_string()),
        "headers" => engine::headers::HeaderRules::from_json(&bytes)
            .map(drop)
            .map_err(|error| error.to_string()),
        "fault" => engine::fault::FaultRules::from_json(&bytes)
            .map(drop)
            .map_err(|error| error.to_string()),
        "metrics" => engine::metrics::MetricsConfig::from_json(&bytes)
            .map(drop)
            .map_err(|error| error.to_string()),
        other => Err(format!(
            "no config parser registered for module {other:?}: add it to this test"
        )),
    }
}

fn crds() -> Option<Crds> {
    match support::istio_shared_dir() {
        Some(dir) => Some(Crds::load(&dir.join("crd-all.gen.yaml")).unwrap()),
        None => {
            eprintln!(
                "SKIPPED: no shared/istio directory above the repository (set ISTIO_SHARED_DIR)"
            );
            None
        }
    }
}

fn manifest_files() -> Vec<PathBuf> {
    let root = workspace::root().join("wasmplugins");
    let mut files = Vec::new();
    for dir in ["wasmplugin", "trafficextension", "envoyfilter"] {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path
                .extension()
                .is_some_and(|extension| extension == "yaml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Value> {
    yaml::documents(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The module a WasmPlugin or TrafficExtension installs, from its image URL.
fn module_of(resource: &Value) -> (String, &Value) {
    let wasm = if resource["kind"] == "TrafficExtension" {
        &resource["spec"]["wasm"]
    } else {
        &resource["spec"]
    };
    let url = wasm["url"].as_str().unwrap();
    let image = url.split('@').next().unwrap();
    (
        image.rsplit('/').next().unwrap().to_string(),
        &wasm["pluginConfig"],
    )
}

#[test]
fn every_manifest_validates_against_istio_crds() {
    let Some(crds) = crds() else { return };
    let files = manifest_files();
    assert!(
        files.len() >= 3,
        "WasmPlugin, TrafficExtension and EnvoyFilter manifests: {files:?}"
    );
    for path in files {
        for resource in documents(&path) {
            let errors = crds.validate(&resource);
            assert!(
                errors.is_empty(),
                "{}: {} {}: {errors:#?}",
                path.display(),
                resource["kind"],
                resource["metadata"]["name"]
            );
        }
    }
}

#[test]
fn every_plugin_config_parses_with_its_module_parser() {
    let mut checked = 0;
    for path in manifest_files() {
        for resource in documents(&path) {
            if resource["kind"] != "WasmPlugin" && resource["kind"] != "TrafficExtension" {
                continue;
            }
            let (module, config) = module_of(&resource);
            if let Err(error) = parse_plugin_config(&module, config) {
                panic!("{}: pluginConfig of {module}: {error}", path.display());
            }
            checked += 1;
        }
    }
    let template = manifests::load_template(&workspace::root()).unwrap();
    assert_eq!(
        checked,
        2 * template.modules.len(),
        "one WasmPlugin and one TrafficExtension per module"
    );
}

#[test]
fn a_broken_plugin_config_gets_the_module_error_with_its_field_path() {
    let config = serde_json::json!({"hosts": ["*"], "http": [{"match": [{"uri": {"regex": "(unclosed"}}],
        "route": [{"destination": {"host": "a"}}]}]});
    let error = parse_plugin_config("router", &config).unwrap_err();
    assert!(error.starts_with("http[0].match[0].uri.regex: "), "{error}");
}

#[test]
fn manifests_are_rendered_from_the_template() {
    let root = workspace::root();
    let template = manifests::load_template(&root).unwrap();
    let mut expected_files = Vec::new();
    for module in &template.modules {
        let path = root.join(format!("wasmplugins/wasmplugin/{}.yaml", module.module));
        let text = fs::read_to_string(&path).unwrap();
        let (registry, digest) = manifests::pinned(&text, &module.module)
            .unwrap_or_else(|| panic!("{}: no `url: oci://…@sha256:…` line", path.display()));
        for rendered in manifests::render(&template, module, &registry, &digest).unwrap() {
            let on_disk = fs::read_to_string(root.join(&rendered.path)).unwrap();
            assert_eq!(
                on_disk,
                rendered.text,
                "{} differs from its template: run `make manifests`",
                rendered.path.display()
            );
            expected_files.push(root.join(&rendered.path));
        }
    }
    let generated: Vec<PathBuf> = manifest_files()
        .into_iter()
        .filter(|path| !path.starts_with(root.join("wasmplugins/envoyfilter")))
        .collect();
    expected_files.sort();
    assert_eq!(
        generated, expected_files,
        "a manifest without a template entry"
    );
}

#[test]
fn istio_invalid_wasmplugins_are_rejected_with_the_api_server_message() {
    let Some(crds) = crds() else { return };
    let path = support::istio_shared_dir()
        .unwrap()
        .join("wasmplugin-invalid.yaml");
    let cases = documents(&path);
    assert!(cases.len() >= 15, "{} cases", cases.len());
    for mut case in cases {
        let expected = case.as_object_mut().unwrap().remove("_err").unwrap();
        let expected = expected.as_str().unwrap();
        let errors = crds.validate(&case);
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "{}: expected an error containing {expected:?}, got {errors:#?}",
            case["metadata"]["name"]
        );
    }
}

#[test]
fn istio_valid_resources_are_accepted() {
    let Some(crds) = crds() else { return };
    let dir = support::istio_shared_dir().unwrap();
    let mut checked = 0;
    for file in [
        "wasmplugin-valid.yaml",
        "wasmplugin-examples.yaml",
        "trafficextension-examples.yaml",
        "virtualservice-examples.yaml",
    ] {
        for resource in documents(&dir.join(file)) {
            let errors = crds.validate(&resource);
            assert!(
                errors.is_empty(),
                "{file}: {}: {errors:#?}",
                resource["metadata"]["name"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "{checked} resources");
}

#[test]
fn every_cel_rule_of_the_extension_and_envoyfilter_crds_is_implemented() {
    let Some(crds) = crds() else { return };
    for kind in ["WasmPlugin", "TrafficExtension", "EnvoyFilter"] {
        let rules = crds.rules(kind);
        assert!(!rules.is_empty(), "{kind} has CEL rules");
        for rule in rules {
            let supported = cel::evaluate(&rule, &Value::Null);
            assert!(supported.is_ok(), "{kind}: {supported:?}");
        }
    }
}

#[test]
fn traffic_extension_rules_are_enforced() {
    let Some(crds) = crds() else { return };
    let resource = |spec: &str| -> Value {
        let text = format!("apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata:\n  name: t\nspec:\n{spec}");
        yaml::documents(&text).unwrap().remove(0)
    };
    let cases = [
        ("  wasm: {url: oci://r.io/m}\n  lua: {inlineCode: x}\n", "exactly one of wasm or lua must be set"),
        ("  selector: {matchLabels: {a: b}}\n  targetRefs: [{kind: Gateway, name: g}]\n  lua: {inlineCode: x}\n", "only one of targetRefs or selector can be set"),
        ("  wasm: {url: oci://r.io/m, sha256: ABC}\n", "spec.wasm.sha256 in body should match"),
        ("  wasm: {url: \"ftp://x/y\"}\n", "url must have schema one of"),
        ("  wasm: {url: oci://r.io/m, fail: open}\n", "unknown field \"spec.wasm.fail\""),
        ("  wasm: {url: oci://r.io/m}\n  phase: UNSPECIFIED_PHASE\n", "spec.phase: Unsupported value"),
        ("  targetRefs: [{kind: Gateway, name: g, namespace: other}]\n  lua: {inlineCode: x}\n", "cross namespace referencing is not currently supported"),
    ];
    for (spec, expected) in cases {
        let errors = crds.validate(&resource(spec));
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "{spec}: expected {expected:?} in {errors:#?}"
        );
    }
    assert_eq!(
        crds.validate(&resource("  wasm: {url: oci://r.io/m}\n  priority: null\n")),
        Vec::<String>::new()
    );
}
