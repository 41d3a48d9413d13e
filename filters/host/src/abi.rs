//! The proxy-wasm ABI calls the modules make, each wrapped so that it cannot panic.
//!
//! The SDK's own wrappers (`proxy_wasm::hostcalls`) turn every header value into a `String`
//! with `unwrap` and `panic!` on any status they did not expect: one header that is not UTF-8
//! (obs-text, which Envoy accepts) traps the VM. These read bytes, decode them losslessly with
//! [`engine::raw_text`], check every length the host hands back, and return a [`Status`] for
//! any failure. This is the only file with `unsafe`: the raw calls and the buffers the host
//! allocates through the SDK's `proxy_on_memory_allocate` (a boxed slice of exactly `size`
//! bytes, so `Vec::from_raw_parts(ptr, size, size)` frees it).
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::raw_text;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}

/// The ABI's stream type of the HTTP request (`proxy_continue_stream`).
const STREAM_TYPE_HTTP_REQUEST: u32 = 0;

/// The ABI's status codes, with anything unknown reported as an internal failure.
fn status(code: u32) -> Result<(), Status> {
    match code {
        0 => Ok(()),
        1 => Err(Status::NotFound),
        2 => Err(Status::BadArgument),
        3 => Err(Status::SerializationFailure),
        4 => Err(Status::ParseFailure),
        7 => Err(Status::Empty),
        8 => Err(Status::CasMismatch),
        _ => Err(Status::InternalFailure),
    }
}

/// Takes ownership of a buffer the host allocated in this VM's memory.
///
/// # Safety
/// `data` is null or was returned by the host with `size`, allocated by the SDK's
/// `proxy_on_memory_allocate(size)`, and is not used again by the caller.
unsafe fn take_buffer(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: as the function's contract says; capacity equals the allocation's size.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Calls a host function that returns one buffer: `None` for NotFound alone. Envoy copies an
/// empty value as no buffer at all, so "found, no buffer" is an empty buffer: a header whose
/// value is empty is there (a presence match must see it); callers for which empty means
/// nothing say so themselves.
fn call_returning_buffer(
    call: impl FnOnce(*mut *mut u8, *mut usize) -> u32,
) -> Result<Option<Vec<u8>>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let code = call(&mut data, &mut size);
    // SAFETY: the host either left `data` null or allocated `size` bytes for us.
    let buffer = unsafe { take_buffer(data, size) };
    match status(code) {
        Ok(()) => Ok(Some(buffer.unwrap_or_default())),
        Err(Status::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

/// A found buffer, unless it is empty: for the calls whose empty answer means nothing.
fn non_empty(buffer: Option<Vec<u8>>) -> Option<Vec<u8>> {
    buffer.filter(|bytes| !bytes.is_empty())
}

pub fn log(level: LogLevel, message: &str) -> Result<(), Status> {
    // SAFETY: the pointer and length describe `message` for the whole call.
    status(unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) })
}

pub fn current_time() -> Result<SystemTime, Status> {
    let mut nanos: u64 = 0;
    // SAFETY: `nanos` is a valid place for the host to write.
    status(unsafe { proxy_get_current_time_nanoseconds(&mut nanos) })?;
    Ok(UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Sets the root context's tick; zero switches it off. Whole milliseconds, saturating.
pub fn set_tick_period(period: Duration) -> Result<(), Status> {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: no pointers.
    status(unsafe { proxy_set_tick_period_milliseconds(millis) })
}

/// Up to `max_size` bytes of a buffer from `start`; `None` when there is none or it is empty.
pub fn get_buffer(
    buffer: BufferType,
    start: usize,
    max_size: usize,
) -> Result<Option<Vec<u8>>, Status> {
    call_returning_buffer(|data, size| {
        // SAFETY: `data` and `size` are valid places for the host to write.
        unsafe { proxy_get_buffer_bytes(buffer as u32, start, max_size, data, size) }
    })
    .map(non_empty)
}

/// Every header of a map as `(name, value)`, decoded losslessly ([`raw_text`]), in order.
pub fn get_map(map: MapType) -> Result<Vec<(String, String)>, Status> {
    let serialized = call_returning_buffer(|data, size| {
        // SAFETY: `data` and `size` are valid places for the host to write.
        unsafe { proxy_get_header_map_pairs(map as u32, data, size) }
    })?;
    match non_empty(serialized) {
        None => Ok(Vec::new()),
        Some(bytes) => deserialize_map(&bytes).ok_or(Status::SerializationFailure),
    }
}

/// The first value of header `name` (raw_text-decoded), as Envoy returns a single value;
/// `None` only when the header is absent (an empty value is `Some("")`).
pub fn get_map_value(map: MapType, name: &str) -> Result<Option<String>, Status> {
    let name = raw_text::encode(name);
    let value = call_returning_buffer(|data, size| {
        // SAFETY: the key pointer and length describe `name`; `data`/`size` are writable.
        unsafe { proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), data, size) }
    })?;
    Ok(value.map(raw_text::decode_owned))
}

/// Replaces every value of `name` with `value` (both raw_text-encoded back to their bytes).
pub fn replace_map_value(map: MapType, name: &str, value: &str) -> Result<(), Status> {
    let (name, value) = (raw_text::encode(name), raw_text::encode(value));
    // SAFETY: both pointer/length pairs describe live buffers for the whole call.
    status(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Appends one more value of `name`.
pub fn add_map_value(map: MapType, name: &str, value: &str) -> Result<(), Status> {
    let (name, value) = (raw_text::encode(name), raw_text::encode(value));
    // SAFETY: both pointer/length pairs describe live buffers for the whole call.
    status(unsafe {
        proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes every value of `name`.
pub fn remove_map_value(map: MapType, name: &str) -> Result<(), Status> {
    let name = raw_text::encode(name);
    // SAFETY: the pointer and length describe `name` for the whole call.
    status(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// An attribute or filter-state property, as the host's bytes; `None` when absent or empty.
pub fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let path = serialize_path(path);
    call_returning_buffer(|data, size| {
        // SAFETY: the path buffer is live for the call; `data`/`size` are writable.
        unsafe { proxy_get_property(path.as_ptr(), path.len(), data, size) }
    })
    .map(non_empty)
}

pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), Status> {
    let path = serialize_path(path);
    // SAFETY: both pointer/length pairs describe live buffers for the whole call.
    status(unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
}

/// The value under `key` and its compare-and-swap token (0 when the key does not exist).
pub fn get_shared_data(key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: the key buffer is live for the call; the out pointers are writable.
    let code =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    // SAFETY: the host either left `data` null or allocated `size` bytes for us.
    let value = unsafe { take_buffer(data, size) };
    match status(code) {
        Ok(()) => Ok((value, cas)),
        Err(Status::NotFound) => Ok((None, 0)),
        Err(error) => Err(error),
    }
}

/// Writes `value` under `key` if its token is still `cas` (0: unconditionally).
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    // SAFETY: both pointer/length pairs describe live buffers for the whole call.
    status(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// Lets the current (or effective) stream's request go on after a pause.
pub fn resume_http_request() -> Result<(), Status> {
    // SAFETY: no pointers.
    status(unsafe { proxy_continue_stream(STREAM_TYPE_HTTP_REQUEST) })
}

/// Answers the current (or effective) stream from Envoy (`sendLocalReply`).
pub fn send_local_response(
    status_code: u32,
    details: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    grpc_status: Option<u8>,
) -> Result<(), Status> {
    let headers = serialize_map(headers);
    let grpc_status = grpc_status.map_or(-1, i32::from);
    // SAFETY: every pointer/length pair describes a live buffer for the whole call.
    status(unsafe {
        proxy_send_local_response(
            status_code,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            grpc_status,
        )
    })
}

/// Makes `context_id` the context later calls act on (from a root context's callbacks).
pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    // SAFETY: no pointers.
    status(unsafe { proxy_set_effective_context(context_id) })
}

/// Calls one of the host's named extensions (`clear_route_cache`, ...).
pub fn call_foreign_function(name: &str, arguments: &[u8]) -> Result<Option<Vec<u8>>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: the name and argument buffers are live for the call; out pointers are writable.
    let code = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            if arguments.is_empty() {
                null()
            } else {
                arguments.as_ptr()
            },
            arguments.len(),
            &mut data,
            &mut size,
        )
    };
    // SAFETY: the host either left `data` null or allocated `size` bytes for us.
    let result = unsafe { take_buffer(data, size) };
    status(code).map(|()| result)
}

pub fn define_metric(metric_type: MetricType, name: &str) -> Result<u32, Status> {
    let mut id: u32 = 0;
    // SAFETY: the name buffer is live for the call; `id` is writable.
    status(unsafe { proxy_define_metric(metric_type as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, offset: i64) -> Result<(), Status> {
    // SAFETY: no pointers.
    status(unsafe { proxy_increment_metric(id, offset) })
}

pub fn record_metric(id: u32, value: u64) -> Result<(), Status> {
    // SAFETY: no pointers.
    status(unsafe { proxy_record_metric(id, value) })
}

/// A property path as the ABI takes it: segments joined by NUL bytes.
fn serialize_path(path: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(path.iter().map(|part| part.len() + 1).sum());
    for (index, part) in path.iter().enumerate() {
        if index > 0 {
            bytes.push(0);
        }
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

/// A header map as the ABI takes it: a count, every (name, value) size, then each name and
/// value followed by a NUL byte. Names and values are raw_text-encoded back to their bytes.
pub(crate) fn serialize_map(map: &[(&str, &str)]) -> Vec<u8> {
    let encoded: Vec<_> = map
        .iter()
        .map(|(name, value)| (raw_text::encode(name), raw_text::encode(value)))
        .collect();
    let size = 4 + encoded
        .iter()
        .map(|(name, value)| 10 + name.len() + value.len())
        .sum::<usize>();
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&u32_len(encoded.len()).to_le_bytes());
    for (name, value) in &encoded {
        bytes.extend_from_slice(&u32_len(name.len()).to_le_bytes());
        bytes.extend_from_slice(&u32_len(value.len()).to_le_bytes());
    }
    for (name, value) in &encoded {
        bytes.extend_from_slice(name);
        bytes.push(0);
        bytes.extend_from_slice(value);
        bytes.push(0);
    }
    bytes
}

fn u32_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// The inverse of [`serialize_map`], checking every size against the buffer: `None` when the
/// host's bytes are malformed.
pub(crate) fn deserialize_map(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let read_u32 = |at: usize| -> Option<usize> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(raw)).ok()
    };
    let count = read_u32(0)?;
    let mut data_at = count.checked_mul(8)?.checked_add(4)?;
    if data_at > bytes.len() {
        return None;
    }
    let mut map = Vec::with_capacity(count);
    for index in 0..count {
        // In bounds: `count * 8 + 4` was checked against the buffer above.
        let sizes_at = 4 + index * 8;
        let name_size = read_u32(sizes_at)?;
        let value_size = read_u32(sizes_at + 4)?;
        let name_end = data_at.checked_add(name_size)?;
        let name = bytes.get(data_at..name_end)?;
        data_at = name_end.checked_add(1)?;
        let value_end = data_at.checked_add(value_size)?;
        let value = bytes.get(data_at..value_end)?;
        data_at = value_end.checked_add(1)?;
        map.push((
            raw_text::decode(name).into_owned(),
            raw_text::decode(value).into_owned(),
        ));
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_with_any_bytes() {
        let jose = raw_text::decode(b"Jos\xe9").into_owned();
        let map = [("x-name", jose.as_str()), (":path", "/a?b"), ("empty", "")];
        let bytes = serialize_map(&map);
        let back = deserialize_map(&bytes).unwrap_or_default();
        let back: Vec<(&str, &str)> = back.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(back, map);
        // The value went out as the original byte.
        assert!(bytes.windows(4).any(|window| window == b"Jos\xe9"));
    }

    #[test]
    fn malformed_maps_are_refused_not_panicked_on() {
        let good = serialize_map(&[("a", "1"), ("b", "2")]);
        for cut in 1..good.len() {
            let _ = deserialize_map(&good[..cut]);
        }
        assert_eq!(deserialize_map(&[0xff, 0xff, 0xff, 0xff]), None);
        let mut lying = good.clone();
        lying[4] = 200;
        assert_eq!(deserialize_map(&lying), None);
    }

    #[test]
    fn paths_join_with_nul() {
        assert_eq!(serialize_path(&["request", "time"]), b"request\0time");
        assert_eq!(serialize_path(&[]), b"");
    }
}
