//! Envoy's default `%START_TIME%` rendering: UTC, millisecond precision, `2024-03-01T12:34:56.789Z`.

/// Formats nanoseconds since the Unix epoch as Envoy's default `%START_TIME%` does.
pub fn format_start_time(unix_nanos: i64) -> String {
    let millis = unix_nanos.div_euclid(1_000_000);
    let seconds = millis.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        millis.rem_euclid(1000)
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
