//! Envoy's default `%START_TIME%` rendering: UTC, millisecond precision, `2024-03-01T12:34:56.789Z`.

/// Formats nanoseconds since the Unix epoch as Envoy's default `%START_TIME%` does.
pub fn format_start_time(unix_nanos: i64) -> String {
    let millis = unix_nanos.div_euclid(1_000_000);
    let seconds = millis.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = crate::civil_time::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        millis.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn renders_utc_with_milliseconds() {
        assert_eq!(format_start_time(0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:59.999 (a leap day), plus sub-millisecond nanos that are cut off.
        assert_eq!(
            format_start_time(1_709_251_199_999_654_321),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            format_start_time(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_start_time(-1_000_000), "1969-12-31T23:59:59.999Z");
    }
}
