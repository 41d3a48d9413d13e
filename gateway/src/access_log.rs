//! Istio's access log: what `meshConfig.accessLogFile: /dev/stdout` gives an istio-ingressgateway
//! with the default `accessLogEncoding: TEXT` and no `accessLogFormat`, one line per request with
//! its response flags (`NR`, `UO`, `UH`...) and `%RESPONSE_CODE_DETAILS%` (`route_not_found`).

use std::path::Path;

use serde_json::{json, Value};

/// Pilot's `EnvoyTextLogFormat` (istio/istio `pilot/pkg/model/telemetry_logging.go`), the format
/// Istio's documentation calls the default access log format. Kept byte for byte, so that the
/// tools people point at Istio's gateway logs read these lines too.
pub const ISTIO_TEXT_FORMAT: &str = concat!(
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" ",
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ",
    "\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ",
    "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" ",
    "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% ",
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% ",
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n",
);

/// The connection manager's `access_log`: Envoy's file logger in Istio's text format, writing to
/// `path`. The gateway copies that file to its stdout, since Envoy's own stdout is the log file
/// the gateway follows on stderr (a `/dev/stdout` path would mix the two).
pub fn connection_manager_patch(path: &Path) -> Value {
    json!({
        "access_log": [{
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": path.display().to_string(),
                "log_format": { "text_format_source": { "inline_string": ISTIO_TEXT_FORMAT } },
            },
        }],
    })
}

/// `ACCESS_LOG` (or `--access-log`): `off`, `0`, `false` or `no` turn the log off; anything else,
/// and unset, leave it on, as the issue asks for a log on by default.
pub fn enabled(setting: Option<&str>) -> bool {
    !matches!(
        setting
            .map(|value| value.trim().to_ascii_lowercase())
            .as_deref(),
        Some("off" | "0" | "false" | "no")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_pilots_with_flags_details_and_the_raw_cluster() {
        assert!(ISTIO_TEXT_FORMAT.starts_with("[%START_TIME%] \"%REQ(:METHOD)% "));
        assert!(ISTIO_TEXT_FORMAT.contains(
            "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
        ));
        assert!(ISTIO_TEXT_FORMAT.contains(
            "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% "
        ));
        assert!(ISTIO_TEXT_FORMAT.ends_with("%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"));
        assert!(
            !ISTIO_TEXT_FORMAT.contains("  "),
            "single spaces, as pilot's"
        );
    }

    #[test]
    fn the_patch_logs_to_the_file_in_that_format() {
        let patch = connection_manager_patch(Path::new("/tmp/x/access.log"));
        let logger = &patch["access_log"][0]["typed_config"];
        assert_eq!(logger["path"], "/tmp/x/access.log");
        assert_eq!(
            logger["log_format"]["text_format_source"]["inline_string"],
            ISTIO_TEXT_FORMAT
        );
    }

    #[test]
    fn on_unless_switched_off() {
        assert!(enabled(None));
        assert!(enabled(Some("on")));
        assert!(enabled(Some("")));
        for off in ["off", "OFF", "0", "false", "no"] {
            assert!(!enabled(Some(off)), "{off}");
        }
    }
}
