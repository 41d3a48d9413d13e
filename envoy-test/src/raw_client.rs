//! Requests written byte by byte, for inputs a well-behaved client library refuses to send:
//! header values that are not UTF-8 (obs-text), a `:path` with raw high bytes, absolute-form
//! URIs, HTTP/1.0 without `Host`, `CONNECT`, `OPTIONS *`, thousands of headers.
//!
//! [`raw_http1`] writes one request on a fresh connection with `Connection: close` semantics
//! and reads until Envoy closes it. [`raw_http2`] speaks just enough HTTP/2 (prior knowledge):
//! the preface, an empty SETTINGS, one HEADERS block of literal fields (no Huffman, no
//! indexing, so every byte goes out as written), optional DATA and trailers; it reads the
//! response's `:status` and the end of the stream.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use envoy_runner::{Error as HarnessError, Result};

/// How long one raw exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(15);

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawOutcome {
    /// A response with this status (HTTP/1: the status line; HTTP/2: `:status`).
    Status(u16),
    /// HTTP/2: the stream was reset with this error code.
    Reset(u32),
    /// The connection closed (or HTTP/2 GOAWAY) before a response.
    Closed,
}

impl RawOutcome {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status(status) => Some(*status),
            _ => None,
        }
    }
}

/// Writes `request` (a whole HTTP/1.x request, any bytes) to `addr`, reads until Envoy closes
/// the connection, and returns the first response's status and raw bytes.
pub async fn raw_http1(addr: &str, request: &[u8]) -> Result<(RawOutcome, Vec<u8>)> {
    let context = format!("raw HTTP/1 request to {addr}");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut response = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            response.extend_from_slice(&buffer[..read]);
            // A keep-alive response to a request without `Connection: close` would never end:
            // stop once the head and a body of the declared length are in.
            if http1_response_complete(&response) {
                break;
            }
        }
        Ok::<_, std::io::Error>(response)
    };
    let response = match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            // A reset after a complete answer is still an answer; before one, it is a close.
            if error.kind() == std::io::ErrorKind::ConnectionReset {
                return Ok((RawOutcome::Closed, Vec::new()));
            }
            return Err(HarnessError::http(context, error.to_string()));
        }
        Err(_) => return Err(HarnessError::http(context, "no answer in time")),
    };
    Ok((http1_status(&response), response))
}

fn http1_status(response: &[u8]) -> RawOutcome {
    let status = response
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse().ok());
    status.map_or(RawOutcome::Closed, RawOutcome::Status)
}

fn http1_response_complete(response: &[u8]) -> bool {
    let Some(head_end) = response.windows(4).position(|window| window == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    match length {
        Some(length) => response.len() >= head_end + 4 + length,
        // Chunked: the last chunk ends the body.
        None if head.contains("transfer-encoding: chunked") => response.ends_with(b"0\r\n\r\n"),
        None => false,
    }
}

/// One HTTP/2 request as raw header fields (pseudo-headers first), body and trailers.
#[derive(Debug, Clone, Default)]
pub struct RawHttp2Request {
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawHttp2Request {
    /// A GET for `path` (any bytes) at `authority`.
    pub fn get(authority: &str, path: &[u8]) -> Self {
        Self::default()
            .header(b":method", b"GET")
            .header(b":scheme", b"http")
            .header(b":authority", authority.as_bytes())
            .header(b":path", path)
    }

    pub fn header(mut self, name: &[u8], value: &[u8]) -> Self {
        self.headers.push((name.to_vec(), value.to_vec()));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    pub fn trailer(mut self, name: &[u8], value: &[u8]) -> Self {
        self.trailers.push((name.to_vec(), value.to_vec()));
        self
    }
}

const FRAME_DATA: u8 = 0;
const FRAME_HEADERS: u8 = 1;
const FRAME_RST_STREAM: u8 = 3;
const FRAME_SETTINGS: u8 = 4;
const FRAME_PING: u8 = 6;
const FRAME_GOAWAY: u8 = 7;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
const STREAM: u32 = 1;

/// Sends `request` on a fresh h2c connection to `addr` and returns how stream 1 ended.
pub async fn raw_http2(addr: &str, request: &RawHttp2Request) -> Result<RawOutcome> {
    let context = format!("raw HTTP/2 request to {addr}");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        frame(&mut out, FRAME_SETTINGS, 0, 0, &[]);
        let has_body = !request.body.is_empty();
        let has_trailers = !request.trailers.is_empty();
        let end_after_headers = if has_body || has_trailers {
            0
        } else {
            FLAG_END_STREAM
        };
        frame(
            &mut out,
            FRAME_HEADERS,
            FLAG_END_HEADERS | end_after_headers,
            STREAM,
            &literal_block(&request.headers),
        );
        if has_body {
            let end = if has_trailers { 0 } else { FLAG_END_STREAM };
            // 16 KiB frames: the default SETTINGS_MAX_FRAME_SIZE.
            let chunks: Vec<&[u8]> = request.body.chunks(16 * 1024).collect();
            for (index, chunk) in chunks.iter().enumerate() {
                let last = index + 1 == chunks.len();
                frame(
                    &mut out,
                    FRAME_DATA,
                    if last { end } else { 0 },
                    STREAM,
                    chunk,
                );
            }
        }
        if has_trailers {
            frame(
                &mut out,
                FRAME_HEADERS,
                FLAG_END_HEADERS | FLAG_END_STREAM,
                STREAM,
                &literal_block(&request.trailers),
            );
        }
        stream.write_all(&out).await?;
        read_outcome(&mut stream).await
    };
    match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => {
            Ok(RawOutcome::Closed)
        }
        Ok(Err(error)) => Err(HarnessError::http(context, error.to_string())),
        Err(_) => Err(HarnessError::http(context, "no answer in time")),
    }
}

/// Reads frames until stream 1 ends; answers SETTINGS and PING as a client must.
async fn read_outcome(stream: &mut TcpStream) -> std::io::Result<RawOutcome> {
    let mut status = None;
    loop {
        let mut head = [0u8; 9];
        if stream.read_exact(&mut head).await.is_err() {
            return Ok(status.map_or(RawOutcome::Closed, RawOutcome::Status));
        }
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream_id = u32::from_be_bytes([head[5] & 0x7f, head[6], head[7], head[8]]);
        let mut payload = vec![0u8; length];
        stream.read_exact(&mut payload).await?;
        match kind {
            FRAME_SETTINGS if flags & FLAG_ACK == 0 => {
                let mut ack = Vec::new();
                frame(&mut ack, FRAME_SETTINGS, FLAG_ACK, 0, &[]);
                stream.write_all(&ack).await?;
            }
            FRAME_PING if flags & FLAG_ACK == 0 => {
                let mut pong = Vec::new();
                frame(&mut pong, FRAME_PING, FLAG_ACK, 0, &payload);
                stream.write_all(&pong).await?;
            }
            FRAME_GOAWAY => return Ok(status.map_or(RawOutcome::Closed, RawOutcome::Status)),
            FRAME_RST_STREAM if stream_id == STREAM => {
                let code = payload
                    .get(..4)
                    .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
                    .map_or(0, u32::from_be_bytes);
                return Ok(status.map_or(RawOutcome::Reset(code), RawOutcome::Status));
            }
            FRAME_HEADERS if stream_id == STREAM => {
                if status.is_none() {
                    status = first_status(header_block(&payload, flags));
                }
                if flags & FLAG_END_STREAM != 0 {
                    return Ok(status.map_or(RawOutcome::Closed, RawOutcome::Status));
                }
            }
            FRAME_DATA if stream_id == STREAM && flags & FLAG_END_STREAM != 0 => {
                return Ok(status.map_or(RawOutcome::Closed, RawOutcome::Status));
            }
            _ => {}
        }
    }
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let length = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    out.extend_from_slice(&length[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// HPACK "literal header field without indexing, new name" for every field, with plain
/// (not Huffman) strings: the bytes arrive exactly as given.
fn literal_block(fields: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        hpack_integer(&mut block, 0x00, 7, name.len());
        block.extend_from_slice(name);
        hpack_integer(&mut block, 0x00, 7, value.len());
        block.extend_from_slice(value);
    }
    block
}

fn hpack_integer(out: &mut Vec<u8>, high_bits: u8, prefix_bits: u32, mut value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(high_bits | value as u8);
        return;
    }
    out.push(high_bits | max as u8);
    value -= max;
    while value >= 0x80 {
        out.push((value % 0x80) as u8 | 0x80);
        value /= 0x80;
    }
    out.push(value as u8);
}

/// The header block fragment of a HEADERS frame, without padding and priority.
fn header_block(payload: &[u8], flags: u8) -> &[u8] {
    let mut block = payload;
    let mut padding = 0;
    if flags & FLAG_PADDED != 0 {
        padding = usize::from(block.first().copied().unwrap_or(0));
        block = block.get(1..).unwrap_or_default();
    }
    if flags & FLAG_PRIORITY != 0 {
        block = block.get(5..).unwrap_or_default();
    }
    block
        .get(..block.len().saturating_sub(padding))
        .unwrap_or_default()
}

/// `:status` from the first field of a response's first header block: an indexed field of
/// HPACK's static table, or a literal with the `:status` name and a 3-digit value.
fn first_status(block: &[u8]) -> Option<u16> {
    let first = *block.first()?;
    if first & 0x80 != 0 {
        return match first & 0x7f {
            8 => Some(200),
            9 => Some(204),
            10 => Some(206),
            11 => Some(304),
            12 => Some(400),
            13 => Some(404),
            14 => Some(500),
            _ => None,
        };
    }
    // Literal with an indexed name (incremental indexing, without, or never indexed).
    let name_index = if first & 0x40 != 0 {
        first & 0x3f
    } else {
        first & 0x0f
    };
    if !(8..=14).contains(&name_index) {
        return None;
    }
    let length_byte = *block.get(1)?;
    let length = usize::from(length_byte & 0x7f);
    let value = block.get(2..2 + length)?;
    let digits = if length_byte & 0x80 != 0 {
        huffman_digits(value)?
    } else {
        String::from_utf8(value.to_vec()).ok()?
    };
    digits.parse().ok()
}

/// Decodes a Huffman-coded string of decimal digits (RFC 7541 Appendix B): `0`–`2` have 5-bit
/// codes `00000`–`00010`, `3`–`9` 6-bit codes `011001`–`011111`; the rest is EOS padding.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |shift| (byte >> shift) & 1))
        .collect();
    let read = |at: usize, count: usize| -> Option<u8> {
        bits.get(at..at + count)
            .map(|run| run.iter().fold(0u8, |value, bit| value << 1 | bit))
    };
    let mut digits = String::new();
    let mut at = 0;
    while bits.len() - at >= 5 {
        let five = read(at, 5)?;
        if five <= 0b00010 {
            digits.push(char::from(b'0' + five));
            at += 5;
            continue;
        }
        match read(at, 6) {
            Some(six @ 0b011001..=0b011111) => {
                digits.push(char::from(b'3' + (six - 0b011001)));
                at += 6;
            }
            // Padding is the most significant bits of EOS: all ones.
            _ if bits[at..].iter().all(|&bit| bit == 1) => break,
            _ => return None,
        }
    }
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_statuses_decode() {
        // "503" = 011011 00000 011001 + padding 1111: 0110 1100 0000 1100 1111 1111? Build it.
        let mut bits = String::from("011011000000110 01");
        bits.retain(|c| c != ' ');
        while bits.len() % 8 != 0 {
            bits.push('1');
        }
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|chunk| chunk.iter().fold(0, |value, bit| value << 1 | (bit - b'0')))
            .collect();
        assert_eq!(huffman_digits(&bytes).as_deref(), Some("503"));
        assert_eq!(first_status(&[0x88]), Some(200));
        assert_eq!(first_status(&[0x08, 0x03, b'4', b'0', b'3']), Some(403));
    }

    #[test]
    fn hpack_integers_use_continuation_bytes() {
        let mut out = Vec::new();
        hpack_integer(&mut out, 0, 7, 1337);
        assert_eq!(out, [0x7f, 0xba, 0x09]);
    }

    #[test]
    fn http1_statuses_parse() {
        assert_eq!(
            http1_status(b"HTTP/1.1 404 Not Found\r\n"),
            RawOutcome::Status(404)
        );
        assert_eq!(http1_status(b""), RawOutcome::Closed);
        assert!(http1_response_complete(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        ));
        assert!(!http1_response_complete(
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok"
        ));
    }
}
