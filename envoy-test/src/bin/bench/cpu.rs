//! CPU time of the Envoy under test, from `/proc/<pid>/stat`: user + system time of all its
//! threads. Divided by the requests a round served, it is the Envoy CPU each request costs,
//! which is far steadier on a shared machine than saturated requests per second (a slower
//! round serves fewer requests, but each still costs about the same CPU).

use crate::BenchError;

/// User + system CPU time of process `pid` so far, in seconds.
pub fn process_seconds(pid: u32) -> Result<f64, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| format!("/proc/{pid}/stat: no utime/stime"))?;
    Ok(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in clock ticks.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses:
    // count from after its last `)`, where field 3 starts.
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_a_command_name_with_spaces() {
        let stat = "4242 (envoy (main) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    1234 56 0 0 20 0 9 0 100 2000000 5000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(1290));
    }

    #[test]
    fn a_truncated_line_has_no_ticks() {
        assert_eq!(cpu_ticks("4242 (envoy) S 1 4242"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        assert!(process_seconds(std::process::id()).is_ok());
    }
}
