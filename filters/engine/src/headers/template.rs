//! Header value templates with Envoy's command-operator syntax: `%REQ(x-user)%`,
//! `%DOWNSTREAM_REMOTE_ADDRESS%`, `%START_TIME%`..., `%%` for a literal `%`.
//!
//! Templates are parsed once at config time; an unknown operator is a config error naming the
//! field and the operator, never an empty string at request time.

use std::borrow::Cow;

use crate::error::{ConfigWarning, FieldPath};
use crate::header_name;
use crate::raw_text;
use crate::stream::{RequestView, ResponseView, StreamAttributes};
use crate::ConfigError;

use super::phase::Phase;
use super::start_time::format_start_time;

/// Everything a template reads from, for one stream.
pub struct TemplateInput<'a, R> {
    /// The request as it reached the module.
    pub request: &'a R,
    /// `None` while the request is being processed.
    pub response: Option<&'a dyn ResponseView>,
    /// The stream's attributes (addresses, ids, times).
    pub attributes: &'a dyn StreamAttributes,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    RequestHeader(HeaderReference),
    ResponseHeader(HeaderReference),
    Attribute(Attribute),
}

impl Part {
    /// Config text in decoded form ([`raw_text::decode_literal`]): rendered values are written
    /// with [`raw_text::encode`], which must give back the literal's own UTF-8, even for code
    /// points of the byte-escape range (`\u{10FF0A}` must not become a LF).
    fn literal(text: &str) -> Self {
        Self::Literal(raw_text::decode_literal(text).into_owned())
    }
}

/// `%REQ(name?fallback):max_length%`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderReference {
    name: String,
    fallback: Option<String>,
    max_length: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attribute {
    DownstreamRemoteAddress,
    DownstreamRemoteAddressWithoutPort,
    RouteName,
    UpstreamCluster,
    StartTime,
}

/// The header Envoy keeps the request ID in; its `request.id` attribute reads the same header.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// The operators that render the request ID: ours, and Envoy's access-log name for it.
const REQUEST_ID_OPERATORS: [&str; 2] = ["REQUEST_ID", "STREAM_ID"];

/// The operators without arguments that read stream attributes, by their Envoy names.
const ATTRIBUTES: [(&str, Attribute); 5] = [
    (
        "DOWNSTREAM_REMOTE_ADDRESS",
        Attribute::DownstreamRemoteAddress,
    ),
    (
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
        Attribute::DownstreamRemoteAddressWithoutPort,
    ),
    ("ROUTE_NAME", Attribute::RouteName),
    ("UPSTREAM_CLUSTER", Attribute::UpstreamCluster),
    ("START_TIME", Attribute::StartTime),
];

impl Template {
    /// Parses `text`, the value of the field at `path`, for use in `phase`.
    pub fn parse(text: &str, phase: Phase, path: &FieldPath) -> Result<Self, ConfigError> {
        Self::parse_with(text, phase, path, None)
    }

    /// Parses `text` as Envoy would take it from Istio: an operator the module cannot render
    /// (`%HOSTNAME%`, `%DYNAMIC_METADATA(...)%`, a custom `%START_TIME(...)%` format) is kept
    /// as written, and a warning says so; errors remain for what Envoy would refuse too.
    pub fn parse_passing_through(
        text: &str,
        phase: Phase,
        path: &FieldPath,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::parse_with(text, phase, path, Some(warnings))
    }

    /// A template that renders `text` as it is, `%` included.
    pub fn literal(text: &str) -> Self {
        Self {
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![Part::literal(text)]
            },
        }
    }

    fn parse_with(
        text: &str,
        phase: Phase,
        path: &FieldPath,
        mut pass_through: Option<&mut Vec<ConfigWarning>>,
    ) -> Result<Self, ConfigError> {
        if let Some(bad) = text.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
            return Err(path.error(format!(
                "header values must not contain {}",
                describe_forbidden(bad)
            )));
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            literal.push_str(&rest[..start]);
            rest = &rest[start + 1..];
            if let Some(after) = rest.strip_prefix('%') {
                literal.push('%');
                rest = after;
                continue;
            }
            let (part, after) = match (parse_operator(rest, phase, path), &mut pass_through) {
                (Ok(parsed), _) => parsed,
                (Err(error), None) => return Err(error),
                (Err(error), Some(warnings)) => {
                    let Some(length) = super::envoy_format::operator_len(rest) else {
                        return Err(error);
                    };
                    let (operator, after) = rest.split_at(length);
                    warnings.push(path.warning(format!(
                        "%{operator} is passed through as written: {}",
                        error.reason
                    )));
                    literal.push('%');
                    literal.push_str(operator);
                    rest = after;
                    continue;
                }
            };
            if !literal.is_empty() {
                parts.push(Part::literal(&std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = after;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::literal(&literal));
        }
        Ok(Self { parts })
    }

    /// The template's text if it has no operators.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// The request headers the template reads (fallbacks included).
    pub fn request_headers_read(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::RequestHeader(reference) => Some(reference),
                _ => None,
            })
            .flat_map(|reference| {
                std::iter::once(reference.name.as_str()).chain(reference.fallback.as_deref())
            })
    }

    /// The literal text the template starts with (empty if it starts with an operator).
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(text)) => text,
            _ => "",
        }
    }

    /// Renders the template; a missing header or attribute renders as nothing, as Envoy's
    /// header formatters do.
    pub fn render<R: RequestView>(&self, input: &TemplateInput<'_, R>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::RequestHeader(reference) => {
                    reference.render(|name| input.request.first_header_value(name), &mut out)
                }
                Part::ResponseHeader(reference) => {
                    if let Some(response) = input.response {
                        reference.render(|name| response.header(name), &mut out)
                    }
                }
                Part::Attribute(attribute) => {
                    if let Some(value) = attribute.read(input.attributes) {
                        out.push_str(&value)
                    }
                }
            }
        }
        out
    }
}

impl HeaderReference {
    fn render<'v>(&self, lookup: impl Fn(&str) -> Option<Cow<'v, str>>, out: &mut String) {
        let value = lookup(&self.name).or_else(|| self.fallback.as_deref().and_then(&lookup));
        if let Some(value) = value {
            out.push_str(&truncate(&value, self.max_length));
        }
    }
}

impl Attribute {
    fn read(self, attributes: &dyn StreamAttributes) -> Option<String> {
        match self {
            Self::DownstreamRemoteAddress => attributes.downstream_remote_address(),
            Self::DownstreamRemoteAddressWithoutPort => attributes
                .downstream_remote_address()
                .map(|address| without_port(&address).to_owned()),
            Self::RouteName => attributes.route_name(),
            Self::UpstreamCluster => attributes.upstream_cluster(),
            Self::StartTime => attributes.start_time_unix_nanos().map(format_start_time),
        }
    }
}

/// Parses one operator after its opening `%`; returns it and the text after its closing `%`.
fn parse_operator<'t>(
    text: &'t str,
    phase: Phase,
    path: &FieldPath,
) -> Result<(Part, &'t str), ConfigError> {
    let name_end = text
        .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let (command, mut rest) = text.split_at(name_end);
    if command.is_empty() {
        return Err(path.error(
            "'%' must start an operator such as %REQ(x-name)% or be doubled (%%) for a literal '%'",
        ));
    }
    let mut argument = None;
    if let Some(after) = rest.strip_prefix('(') {
        let close = after
            .find(')')
            .ok_or_else(|| path.error(format!("unterminated operator %{command}(: missing ')'")))?;
        argument = Some(&after[..close]);
        rest = &after[close + 1..];
    }
    let mut max_length = None;
    if let Some(after) = rest.strip_prefix(':') {
        let digits_end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        max_length = Some(after[..digits_end].parse::<usize>().map_err(|_| {
            path.error(format!(
                "operator %{command}%: a maximum length after ':' must be a number"
            ))
        })?);
        rest = &after[digits_end..];
    }
    let rest = rest.strip_prefix('%').ok_or_else(|| {
        path.error(format!(
            "unterminated operator %{command}: expected a closing '%' (write %% for a literal '%')"
        ))
    })?;
    let part = match (command, argument) {
        ("REQ", Some(argument)) => {
            Part::RequestHeader(header_reference(command, argument, max_length, path)?)
        }
        ("RESP", Some(argument)) => {
            if phase == Phase::Request {
                return Err(path.error(
                    "%RESP(...)% reads the response and is only available in response operations",
                ));
            }
            Part::ResponseHeader(header_reference(command, argument, max_length, path)?)
        }
        ("REQ" | "RESP", None) => {
            return Err(path.error(format!(
                "operator %{command}% needs a header name: %{command}(x-name)%"
            )))
        }
        (_, None) if REQUEST_ID_OPERATORS.contains(&command) => {
            Part::RequestHeader(HeaderReference {
                name: REQUEST_ID_HEADER.to_owned(),
                fallback: None,
                max_length,
            })
        }
        (_, None) => {
            let attribute = ATTRIBUTES
                .iter()
                .find(|(name, _)| *name == command)
                .map(|(_, attribute)| *attribute)
                .ok_or_else(|| path.error(unknown_operator(command)))?;
            if max_length.is_some() {
                return Err(path.error(format!(
                    "operator %{command}% does not take a maximum length"
                )));
            }
            Part::Attribute(attribute)
        }
        (_, Some(argument)) => {
            let known = ATTRIBUTES.iter().any(|(name, _)| *name == command)
                || REQUEST_ID_OPERATORS.contains(&command);
            return Err(if known {
                path.error(format!(
                    "operator %{command}% takes no argument, found ({argument}); \
                     custom formats are not supported"
                ))
            } else {
                path.error(unknown_operator(command))
            });
        }
    };
    Ok((part, rest))
}

fn header_reference(
    command: &str,
    argument: &str,
    max_length: Option<usize>,
    path: &FieldPath,
) -> Result<HeaderReference, ConfigError> {
    let (name, fallback) = match argument.split_once('?') {
        Some((name, fallback)) => (name, Some(fallback)),
        None => (argument, None),
    };
    for candidate in std::iter::once(name).chain(fallback) {
        if !header_name::is_valid(candidate) {
            return Err(path.error(format!(
                "operator %{command}({argument})%: {candidate:?} is not a valid header name"
            )));
        }
    }
    Ok(HeaderReference {
        name: name.to_ascii_lowercase(),
        fallback: fallback.map(str::to_ascii_lowercase),
        max_length,
    })
}

fn unknown_operator(command: &str) -> String {
    let known: Vec<&str> = ATTRIBUTES
        .iter()
        .map(|(name, _)| *name)
        .chain(REQUEST_ID_OPERATORS)
        .collect();
    format!(
        "unknown operator %{command}% (known: %REQ(name)%, %RESP(name)%, %{}%; write %% for a literal '%')",
        known.join("%, %")
    )
}

fn describe_forbidden(c: char) -> &'static str {
    match c {
        '\r' => "CR (\\r)",
        '\n' => "LF (\\n)",
        _ => "NUL (\\0)",
    }
}

/// The first `max` bytes of the value `value` stands for, as Envoy truncates (bytes, even
/// inside a UTF-8 sequence: the cut-off bytes come back as byte escapes, see [`raw_text`]).
fn truncate(value: &str, max: Option<usize>) -> Cow<'_, str> {
    let bytes = raw_text::encode(value);
    match max {
        Some(max) if max < bytes.len() => Cow::Owned(raw_text::decode(&bytes[..max]).into_owned()),
        _ => Cow::Borrowed(value),
    }
}

/// `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`; anything else as it is.
fn without_port(address: &str) -> &str {
    if let Some(bracketed) = address.strip_prefix('[') {
        return bracketed.split_once(']').map_or(address, |(host, _)| host);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => address,
    }
}

#[cfg(test)]
mod tests;
