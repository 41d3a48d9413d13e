//! One compiled `fault` block and the per-request decision, following Envoy's fault filter:
//! the delay and the abort are independent events, each selected by its own random draw.

use std::time::Duration;

use super::grpc_status::grpc_status_code;
use super::headers;
use super::spec::{AbortSpec, DelaySpec, HttpFaultInjection};
use crate::error::FieldPath;
use crate::percentage::FractionalPercent;
use crate::stream::RequestView;
use crate::ConfigError;

/// Whether a config may use the header-controlled variants (`headerDelay`, `headerAbort`):
/// the fault module allows them, a VirtualService `fault` (Istio's API) does not have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderControl {
    /// Allowed, with a header-controlled delay held to at most `max_delay`.
    Allowed {
        /// The longest delay a request header may ask for (`maxHeaderDelay`).
        max_delay: Duration,
    },
    /// Refused: a config that uses them is an error.
    Refused,
}

/// The default `maxHeaderDelay`: a client that may ask for a delay holds a stream (and an
/// active-fault slot) no longer than this.
pub const DEFAULT_MAX_HEADER_DELAY: Duration = Duration::from_secs(10);

/// What an abort answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// A local reply with this HTTP status.
    Http(u16),
    /// A gRPC reply (HTTP 200) with this `grpc-status` code.
    Grpc(u8),
}

/// The two independent random draws a request gets, any `u64` each (Envoy draws 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Draws {
    /// Decides whether the delay fires.
    pub delay: u64,
    /// Decides whether the abort fires.
    pub abort: u64,
}

/// The faults selected for one request, before the active-faults limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDecision {
    /// The delay drawn, if any.
    pub delay: Option<Duration>,
    /// The abort drawn, if any.
    pub abort: Option<Abort>,
}

/// A compiled `fault` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPolicy {
    delay: Option<DelayPolicy>,
    abort: Option<AbortPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DelayPolicy {
    duration: DelaySource,
    percentage: FractionalPercent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DelaySource {
    Fixed(Duration),
    /// From `x-envoy-fault-delay-request`, at most `max`.
    Header {
        max: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AbortPolicy {
    status: AbortSource,
    percentage: FractionalPercent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AbortSource {
    Fixed(Abort),
    Header,
}

/// `delay 5s for 10%, abort 503 for 100%`: what tools show of a route's fault.
impl std::fmt::Display for FaultPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = |percentage: &FractionalPercent| {
            f64::from(percentage.numerator()) * 100.0 / f64::from(percentage.denominator().max(1))
        };
        let mut parts = Vec::new();
        if let Some(delay) = &self.delay {
            let duration = match delay.duration {
                DelaySource::Fixed(duration) => format!("{duration:?}"),
                DelaySource::Header { max } => {
                    format!("from x-envoy-fault-delay-request (at most {max:?})")
                }
            };
            parts.push(format!(
                "delay {duration} for {}%",
                share(&delay.percentage)
            ));
        }
        if let Some(abort) = &self.abort {
            let status = match abort.status {
                AbortSource::Fixed(Abort::Http(status)) => format!("HTTP {status}"),
                AbortSource::Fixed(Abort::Grpc(code)) => format!("grpc-status {code}"),
                AbortSource::Header => "from x-envoy-fault-abort-request".to_string(),
            };
            parts.push(format!("abort {status} for {}%", share(&abort.percentage)));
        }
        f.write_str(&parts.join(", "))
    }
}

impl FaultPolicy {
    /// Validates `spec` as Istio does (and Envoy would accept it), with errors below `path`.
    pub fn compile(
        spec: &HttpFaultInjection,
        header_control: HeaderControl,
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        if spec.delay.is_none() && spec.abort.is_none() {
            return Err(path.error("HTTP fault injection must have an abort and/or a delay"));
        }
        // Istio drops (with a validation warning) a delay without a duration and an abort
        // without a status; the fault module's own rules refuse them.
        let istio = header_control == HeaderControl::Refused;
        let delay = spec
            .delay
            .as_ref()
            .filter(|delay| {
                !istio
                    || delay.fixed_delay.is_some()
                    || delay.exponential_delay.is_some()
                    || delay.header_delay.is_some()
            })
            .map(|delay| compile_delay(delay, header_control, &path.field("delay")))
            .transpose()?;
        let abort = spec
            .abort
            .as_ref()
            .filter(|abort| {
                !istio
                    || abort.http_status.is_some()
                    || abort.grpc_status.is_some()
                    || abort.http2_error.is_some()
                    || abort.header_abort.is_some()
            })
            .map(|abort| compile_abort(abort, header_control, &path.field("abort")))
            .transpose()?;
        Ok(Self { delay, abort })
    }

    /// The faults `request` gets for these draws. A header-controlled fault whose header is
    /// missing or unusable is not injected, as in Envoy.
    pub fn decide(&self, request: &impl RequestView, draws: Draws) -> FaultDecision {
        FaultDecision {
            delay: self
                .delay
                .as_ref()
                .and_then(|delay| delay.decide(request, draws.delay)),
            abort: self
                .abort
                .as_ref()
                .and_then(|abort| abort.decide(request, draws.abort)),
        }
    }
}

impl DelayPolicy {
    fn decide(&self, request: &impl RequestView, draw: u64) -> Option<Duration> {
        let (percentage, duration) = match self.duration {
            DelaySource::Fixed(duration) => (self.percentage, Some(duration)),
            DelaySource::Header { max } => (
                header_percentage(request, headers::DELAY_REQUEST_PERCENTAGE, self.percentage),
                first_value::<u64>(request, headers::DELAY_REQUEST)
                    .map(|millis| Duration::from_millis(millis).min(max)),
            ),
        };
        if !percentage.enabled(draw) {
            return None;
        }
        // Envoy delays only for more than 0 ms.
        duration.filter(|duration| !duration.is_zero())
    }
}

impl AbortPolicy {
    fn decide(&self, request: &impl RequestView, draw: u64) -> Option<Abort> {
        match self.status {
            AbortSource::Fixed(abort) => self.percentage.enabled(draw).then_some(abort),
            AbortSource::Header => {
                let percentage =
                    header_percentage(request, headers::ABORT_REQUEST_PERCENTAGE, self.percentage);
                if !percentage.enabled(draw) {
                    return None;
                }
                header_abort(request)
            }
        }
    }
}

fn compile_delay(
    spec: &DelaySpec,
    header_control: HeaderControl,
    path: &FieldPath,
) -> Result<DelayPolicy, ConfigError> {
    if spec.exponential_delay.is_some() {
        return Err(path
            .field("exponentialDelay")
            .error("exponentialDelay not supported yet"));
    }
    let duration = match (&spec.fixed_delay, spec.header_delay) {
        (Some(_), Some(_)) => {
            return Err(path.error("fixedDelay and headerDelay are mutually exclusive"))
        }
        (Some(text), None) => DelaySource::Fixed(fixed_delay(text, &path.field("fixedDelay"))?),
        (None, Some(_)) => {
            allow_header_control(header_control, &path.field("headerDelay"))?;
            match header_control {
                HeaderControl::Allowed { max_delay } => DelaySource::Header { max: max_delay },
                HeaderControl::Refused => DelaySource::Header {
                    max: Duration::ZERO,
                },
            }
        }
        (None, None) => return Err(path.error("fixedDelay is required")),
    };
    let percentage = match (spec.percentage, spec.percent) {
        (Some(percentage), _) => {
            FractionalPercent::from_istio(percentage.value, &path.field("percentage"))?
        }
        (None, Some(percent)) => FractionalPercent::per_hundred(percent, &path.field("percent"))?,
        (None, None) => FractionalPercent::ZERO,
    };
    Ok(DelayPolicy {
        duration,
        percentage,
    })
}

/// Istio's rule for `fixedDelay`: at least 1ms, whole milliseconds (Envoy's timer unit).
fn fixed_delay(text: &str, path: &FieldPath) -> Result<Duration, ConfigError> {
    let duration = crate::duration::parse(text).map_err(|reason| path.error(reason))?;
    if duration < Duration::from_millis(1) {
        return Err(path.error("duration must be greater than 1ms"));
    }
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return Err(path.error("only durations to ms precision are supported"));
    }
    Ok(duration)
}

fn compile_abort(
    spec: &AbortSpec,
    header_control: HeaderControl,
    path: &FieldPath,
) -> Result<AbortPolicy, ConfigError> {
    if spec.http2_error.is_some() {
        return Err(path
            .field("http2Error")
            .error("HTTP/2 abort fault injection not supported yet"));
    }
    let set = [
        spec.http_status.is_some(),
        spec.grpc_status.is_some(),
        spec.header_abort.is_some(),
    ];
    if set.iter().filter(|&&is_set| is_set).count() > 1 {
        return Err(path.error("httpStatus, grpcStatus and headerAbort are mutually exclusive"));
    }
    let status = if let Some(status) = spec.http_status {
        let highest = if header_control == HeaderControl::Refused {
            600
        } else {
            599
        };
        AbortSource::Fixed(Abort::Http(http_status(
            status,
            highest,
            &path.field("httpStatus"),
        )?))
    } else if let Some(name) = &spec.grpc_status {
        let code = grpc_status_code(name).ok_or_else(|| {
            path.field("grpcStatus").error(format!(
                "gRPC status {name:?} is not supported. See \
                 https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of \
                 supported codes, for example 'NOT_FOUND'"
            ))
        })?;
        AbortSource::Fixed(Abort::Grpc(code))
    } else if spec.header_abort.is_some() {
        allow_header_control(header_control, &path.field("headerAbort"))?;
        AbortSource::Header
    } else {
        return Err(
            path.error("abort configured, but error type not set: set httpStatus or grpcStatus")
        );
    };
    let percentage = match spec.percentage {
        Some(percentage) => {
            FractionalPercent::from_istio(percentage.value, &path.field("percentage"))?
        }
        None => FractionalPercent::ZERO,
    };
    Ok(AbortPolicy { status, percentage })
}

/// Istio's range check: 200 to 600 for a VirtualService (Istio lets 600 through, with a
/// warning here), 200 to 599 (what Envoy's fault filter takes) for the fault module.
fn http_status(status: i32, highest: u16, path: &FieldPath) -> Result<u16, ConfigError> {
    u16::try_from(status)
        .ok()
        .filter(|status| (200..=highest).contains(status))
        .ok_or_else(|| path.error(format!("HTTP status {status} is not in range 200-599")))
}

fn allow_header_control(control: HeaderControl, path: &FieldPath) -> Result<(), ConfigError> {
    match control {
        HeaderControl::Allowed { .. } => Ok(()),
        HeaderControl::Refused => Err(path.error(
            "header-controlled faults are a fault-module extension, not part of Istio's HTTPFaultInjection",
        )),
    }
}

/// The HTTP status from `x-envoy-fault-abort-request` (200..599), else the gRPC code from
/// `x-envoy-fault-abort-grpc-request`, as Envoy's header abort provider reads them.
fn header_abort(request: &impl RequestView) -> Option<Abort> {
    let http = first_value::<u64>(request, headers::ABORT_REQUEST)
        .filter(|status| (200..600).contains(status))
        .and_then(|status| u16::try_from(status).ok());
    if let Some(status) = http {
        return Some(Abort::Http(status));
    }
    // Envoy takes any number; a wasm local reply can only carry the 17 standard codes.
    first_value::<u8>(request, headers::ABORT_GRPC_REQUEST)
        .filter(|&code| code <= 16)
        .map(Abort::Grpc)
}

/// The configured percentage, lowered by the percentage header when it holds a smaller number.
fn header_percentage(
    request: &impl RequestView,
    name: &str,
    configured: FractionalPercent,
) -> FractionalPercent {
    match first_value::<u32>(request, name) {
        Some(percent) => configured.capped_at_percent(percent),
        None => configured,
    }
}

/// The first value of an untrusted control header parsed as a number (Envoy reads only the
/// first value of these headers); `None` if absent or not a number.
fn first_value<T: std::str::FromStr>(request: &impl RequestView, name: &str) -> Option<T> {
    let value = request.header(name)?;
    let first = value.split(',').next().unwrap_or_default();
    first.trim().parse().ok()
}
