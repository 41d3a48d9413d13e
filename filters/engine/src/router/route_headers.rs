//! VirtualService `headers` (route and destination level), compiled with the header module's
//! engine, so both apply Istio's `HeaderOperations` the same way.

use crate::error::{ConfigWarning, FieldPath};
use crate::headers::{HeaderOperations, Phase};
use crate::virtual_service::HeadersSpec;
use crate::ConfigError;

/// A route's or a destination's header operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteHeaders {
    /// Operations on the request before it goes upstream.
    pub request: HeaderOperations,
    /// Operations on the response before it goes downstream.
    pub response: HeaderOperations,
}

impl RouteHeaders {
    /// Whether neither phase has an operation.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }

    /// These operations and then `later`'s, as one Envoy header list each way: every removal,
    /// then every set, then every add, `self`'s before `later`'s in each.
    pub fn then(&self, later: &RouteHeaders) -> RouteHeaders {
        RouteHeaders {
            request: self.request.then(&later.request),
            response: self.response.then(&later.response),
        }
    }

    /// Compiles `spec` with Istio's rules; what is accepted but not rendered as Envoy would
    /// (an operator the module does not know) goes to `warnings`.
    pub fn compile(
        spec: Option<&HeadersSpec>,
        path: &FieldPath,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        let Some(spec) = spec else {
            return Ok(Self::default());
        };
        let mut compile = |operations: &Option<_>, phase, field: &str| {
            operations
                .as_ref()
                .map(|operations| {
                    HeaderOperations::compile_virtual_service(
                        operations,
                        phase,
                        &path.field(field),
                        warnings,
                    )
                })
                .transpose()
                .map(Option::unwrap_or_default)
        };
        Ok(Self {
            request: compile(&spec.request, Phase::Request, "request")?,
            response: compile(&spec.response, Phase::Response, "response")?,
        })
    }
}

/// The headers of every route and destination without any: one shared value.
static NO_HEADERS: RouteHeaders = RouteHeaders {
    request: HeaderOperations::NONE,
    response: HeaderOperations::NONE,
};

/// [`RouteHeaders`] as a large table keeps them: nothing at all for the many routes and
/// destinations that have none (an empty `RouteHeaders` is 144 bytes, times 10,000 routes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactHeaders(Option<Box<RouteHeaders>>);

impl CompactHeaders {
    /// Keeps `headers`, or nothing when they are empty.
    pub fn new(headers: RouteHeaders) -> Self {
        Self((!headers.is_empty()).then(|| Box::new(headers)))
    }

    /// The headers, empty ones when there are none.
    pub fn get(&self) -> &RouteHeaders {
        self.0.as_deref().unwrap_or(&NO_HEADERS)
    }

    /// Takes the headers out, leaving none.
    pub fn take(&mut self) -> RouteHeaders {
        self.0.take().map(|headers| *headers).unwrap_or_default()
    }
}
