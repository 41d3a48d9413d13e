//! Istio's `HeaderOperations` compiled: `remove`, then `set`, then `add`, as Envoy applies a
//! route's `*_headers_to_remove` before its `*_headers_to_add`.

use std::collections::BTreeMap;

use crate::error::{ConfigWarning, FieldPath};
use crate::stream::RequestView;
use crate::ConfigError;

use super::edit::HeaderEdit;
use super::name_rules::{checked_name, checked_prefix, Action};
use super::phase::Phase;
use super::spec::HeaderOperationsSpec;
use super::template::{Template, TemplateInput};
use super::{envoy_format, istio_names};

/// Compiled header operations for one phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOperations {
    removals: Vec<Removal>,
    sets: Vec<(String, Template)>,
    adds: Vec<(String, Template)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Removal {
    Name(String),
    /// `remove: ["x-internal-*"]`.
    Prefix(String),
}

impl HeaderOperations {
    /// No operation at all, as a constant (for shared empty defaults).
    pub const NONE: Self = Self {
        removals: Vec::new(),
        sets: Vec::new(),
        adds: Vec::new(),
    };

    /// Compiles an Istio `HeaderOperations` (e.g. a VirtualService's `headers.request`).
    pub fn compile(
        spec: &HeaderOperationsSpec,
        phase: Phase,
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        Self::compile_parts(&spec.set, &spec.add, &spec.remove, phase, path)
    }

    /// Compiles the three lists of operations found at `path`.
    pub fn compile_parts(
        set: &BTreeMap<String, String>,
        add: &BTreeMap<String, String>,
        remove: &[String],
        phase: Phase,
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        let removals = remove
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let path = path.field("remove").index(index);
                match entry.strip_suffix('*') {
                    Some(prefix) => checked_prefix(prefix, &path).map(Removal::Prefix),
                    None => checked_name(entry, Action::Remove, phase, &path).map(Removal::Name),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            removals,
            sets: compile_values(set, Action::Set, phase, &path.field("set"))?,
            adds: compile_values(add, Action::Add, phase, &path.field("add"))?,
        })
    }

    /// Compiles a VirtualService's `headers.request` or `headers.response` as Istio judges it
    /// (`ValidateHTTPHeaderOperationName`, `ValidateHTTPHeaderValue`) and Envoy applies it:
    /// `remove` names are literal, a request `set`/`add` of `host` or `:authority` rewrites
    /// the authority (`set` winning over `add`, and as written: Istio makes it Envoy's
    /// `host_rewrite_literal`), and operators the module cannot render pass through as written
    /// with a warning in `warnings`.
    pub fn compile_virtual_service(
        spec: &HeaderOperationsSpec,
        phase: Phase,
        path: &FieldPath,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        let removals = spec
            .remove
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let path = path.field("remove").index(index);
                istio_names::check_operation_name(name, &path)?;
                checked_name(name, Action::Remove, phase, &path).map(Removal::Name)
            })
            .collect::<Result<_, _>>()?;
        let mut authority = None;
        let mut compile = |values: &BTreeMap<String, String>, action: Action, field: &str| {
            let mut compiled = Vec::with_capacity(values.len());
            for (name, value) in values {
                let path = path.field(field).field(name);
                let is_authority = match phase {
                    Phase::Request => istio_names::check_request_operation_name(name, &path)?,
                    Phase::Response => {
                        istio_names::check_operation_name(name, &path)?;
                        false
                    }
                };
                envoy_format::check_value(value).map_err(|reason| path.error(reason))?;
                if is_authority {
                    if action == Action::Set || authority.is_none() {
                        authority = Some(value.clone());
                    }
                    continue;
                }
                let name = checked_name(name, action, phase, &path)?;
                let template = Template::parse_passing_through(value, phase, &path, warnings)?;
                compiled.push((name, template));
            }
            Ok::<_, ConfigError>(compiled)
        };
        let mut sets = compile(&spec.set, Action::Set, "set")?;
        let adds = compile(&spec.add, Action::Add, "add")?;
        if let Some(authority) = authority {
            sets.push((":authority".to_owned(), Template::literal(&authority)));
        }
        Ok(Self {
            removals,
            sets,
            adds,
        })
    }

    /// Whether there is nothing to do (so the host need not read anything).
    pub fn is_empty(&self) -> bool {
        self.removals.is_empty() && self.sets.is_empty() && self.adds.is_empty()
    }

    /// The request headers the operations' templates read.
    pub fn request_headers_read(&self) -> impl Iterator<Item = &str> {
        self.sets
            .iter()
            .chain(&self.adds)
            .flat_map(|(_, template)| template.request_headers_read())
    }

    /// These operations and then `later`'s as one list, in Envoy's order for one header list:
    /// removals, then sets, then adds, `self`'s first in each.
    pub fn then(&self, later: &HeaderOperations) -> HeaderOperations {
        let join = |first: &[(String, Template)], second: &[(String, Template)]| {
            first.iter().chain(second).cloned().collect()
        };
        HeaderOperations {
            removals: self
                .removals
                .iter()
                .chain(&later.removals)
                .cloned()
                .collect(),
            sets: join(&self.sets, &later.sets),
            adds: join(&self.adds, &later.adds),
        }
    }

    /// Renders the operations into `out`. A value that renders empty is skipped, as Envoy skips
    /// empty header values unless `keep_empty_value` is set.
    pub fn edits<R: RequestView>(&self, input: &TemplateInput<'_, R>, out: &mut Vec<HeaderEdit>) {
        out.extend(self.removals.iter().map(|removal| match removal {
            Removal::Name(name) => HeaderEdit::Remove(name.clone()),
            Removal::Prefix(prefix) => HeaderEdit::RemovePrefix(prefix.clone()),
        }));
        for (name, template) in &self.sets {
            let value = template.render(input);
            if !value.is_empty() {
                out.push(HeaderEdit::Set {
                    name: name.clone(),
                    value,
                });
            }
        }
        for (name, template) in &self.adds {
            let value = template.render(input);
            if !value.is_empty() {
                out.push(HeaderEdit::Add {
                    name: name.clone(),
                    value,
                });
            }
        }
    }
}

fn compile_values(
    values: &BTreeMap<String, String>,
    action: Action,
    phase: Phase,
    path: &FieldPath,
) -> Result<Vec<(String, Template)>, ConfigError> {
    values
        .iter()
        .map(|(name, value)| {
            let path = path.field(name);
            let name = checked_name(name, action, phase, &path)?;
            let template = Template::parse(value, phase, &path)?;
            if name == ":path" && !template.literal_prefix().starts_with('/') {
                return Err(path.error("a :path must start with a literal '/'"));
            }
            Ok((name, template))
        })
        .collect()
}

#[cfg(test)]
mod tests;
