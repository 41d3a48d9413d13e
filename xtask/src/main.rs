//! `cargo xtask <command>`: distribution tasks. Run `cargo xtask help` for the list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use distribution::error::{Error, Result};
use distribution::istio::manifests;
use distribution::oci::image::{Image, Variant};
use distribution::oci::layout;
use distribution::registry::client::Client;
use distribution::workspace;

const USAGE: &str = "usage: cargo xtask <command> [options]

  image     [--variant compat|artifact|all]   build dist/oci/<variant>/<module> (OCI image layouts)
  push      --registry HOST[:PORT][/PATH] --tag TAG [--variant compat|artifact]
            push each image built by `image`; prints every manifest digest
  manifests [--registry HOST[:PORT][/PATH]] [--variant compat|artifact] [--check]
            pin wasmplugins/ to the digests of the images of dist/*.wasm (--check: only compare)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let (command, options) = args.split_first().ok_or_else(|| Error::new(USAGE))?;
    let options = Options::parse(options)?;
    let root = workspace::root();
    let dist = root.join("dist");
    match command.as_str() {
        "image" => image(&dist, &options),
        "push" => push(&dist, &options),
        "manifests" => manifests(&root, &dist, &options),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(Error::new(format!("unknown command {other:?}\n{USAGE}"))),
    }
}

struct Options {
    values: BTreeMap<String, String>,
    check: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut check = false;
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--check" => check = true,
                "--variant" | "--registry" | "--tag" => {
                    let value = rest
                        .next()
                        .filter(|value| !value.is_empty())
                        .ok_or_else(|| Error::new(format!("{arg} needs a value")))?;
                    values.insert(arg.trim_start_matches("--").to_string(), value.clone());
                }
                other => return Err(Error::new(format!("unknown option {other:?}\n{USAGE}"))),
            }
        }
        Ok(Options { values, check })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::new(format!("--{name} is required\n{USAGE}")))
    }

    fn variants(&self) -> Result<Vec<Variant>> {
        match self.get("variant") {
            None => Ok(vec![Variant::Compat]),
            Some("all") => Ok(Variant::ALL.to_vec()),
            Some(name) => Ok(vec![Variant::parse(name)?]),
        }
    }
}

fn build(dist: &Path, module: &str, variant: Variant) -> Result<Image> {
    let wasm = workspace::read_module(dist, module)?;
    let annotations = workspace::image_annotations(module)?;
    Image::build(&wasm, variant, &annotations)
        .map_err(|error| error.context(format!("image of {module}")))
}

fn layout_dir(dist: &Path, variant: Variant, module: &str) -> PathBuf {
    dist.join("oci").join(variant.name()).join(module)
}

fn image(dist: &Path, options: &Options) -> Result<()> {
    for variant in options.variants()? {
        for module in workspace::modules(dist)? {
            let image = build(dist, &module, variant)?;
            let dir = layout_dir(dist, variant, &module);
            layout::write(&dir, &image)?;
            println!(
                "{module:<10} {variant:<8} {}  {}",
                image.digest,
                dir.display()
            );
        }
    }
    Ok(())
}

/// `host[:port][/path]` → (`host[:port]`, `path/` prefix of every repository).
fn split_registry(registry: &str) -> (&str, String) {
    match registry.trim_end_matches('/').split_once('/') {
        Some((host, path)) => (host, format!("{path}/")),
        None => (registry.trim_end_matches('/'), String::new()),
    }
}

fn push(dist: &Path, options: &Options) -> Result<()> {
    let registry = options.required("registry")?;
    let tag = options.required("tag")?;
    let [variant] = options.variants()?[..] else {
        return Err(Error::new(
            "push takes one --variant at a time (each under its own tag)",
        ));
    };
    let (host, prefix) = split_registry(registry);
    let client = Client::new(host)?;
    for module in workspace::modules(dist)? {
        let dir = layout_dir(dist, variant, &module);
        let image = layout::read(&dir).map_err(|error| error.context("run `make image` first"))?;
        let repository = format!("{prefix}{module}");
        let digest = client.push(&repository, tag, &image).map_err(|error| {
            error.context(format!("pushing {module} to {host}/{repository}:{tag}"))
        })?;
        println!("{host}/{repository}:{tag}@{digest}");
    }
    Ok(())
}

fn manifests(root: &Path, dist: &Path, options: &Options) -> Result<()> {
    let template = manifests::load_template(root)?;
    let registry = options
        .get("registry")
        .unwrap_or(&template.registry)
        .to_string();
    let [variant] = options.variants()?[..] else {
        return Err(Error::new("manifests pins one --variant"));
    };
    let mut stale = Vec::new();
    for module in &template.modules {
        let image = build(dist, &module.module, variant)?;
        for rendered in manifests::render(&template, module, &registry, &image.digest)? {
            let path = root.join(&rendered.path);
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current == rendered.text {
                continue;
            }
            if options.check {
                stale.push(rendered.path.display().to_string());
            } else {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, &rendered.text)?;
                println!("{}  {}", rendered.path.display(), image.digest);
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "out of date with dist/ and {}: {} (run `make manifests`)",
            manifests::TEMPLATE,
            stale.join(", ")
        )))
    }
}
