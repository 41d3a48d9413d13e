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
