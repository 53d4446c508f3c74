//! Reading a captured delivery: a raw HTTP request dump, or a file of
//! header lines and a body file.

use std::path::Path;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::Failure;

/// Most headers a capture may have.
const MAX_HEADERS: usize = 128;

/// A raw HTTP/1.1 request (`POST … HTTP/1.1`, header lines, an empty line,
/// the body), as `listen --save`, `nc -l` or a proxy writes it. Bare `\n`
/// line endings are accepted.
pub fn read_request(path: &Path) -> Result<(HeaderMap, Bytes), Failure> {
    let raw = read(path)?;
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut slots);
    let offset = match request.parse(&raw) {
        Ok(httparse::Status::Complete(offset)) => offset,
        Ok(httparse::Status::Partial) => {
            return Err(format!("{}: the request's headers do not end", path.display()).into());
        }
        Err(err) => return Err(format!("{}: not an HTTP request ({err})", path.display()).into()),
    };
    let headers = header_map(request.headers)?;
    Ok((headers, Bytes::copy_from_slice(&raw[offset..])))
}

/// Header lines (`Name: value`, one per line) and a body file read as is.
pub fn read_parts(headers: &Path, body: &Path) -> Result<(HeaderMap, Bytes), Failure> {
    let mut raw = read(headers)?;
    // The parser wants the empty line that ends a header block.
    while raw.last().is_some_and(|b| b.is_ascii_whitespace()) {
        raw.pop();
    }
    raw.extend_from_slice(b"\r\n\r\n");
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = match httparse::parse_headers(&raw, &mut slots) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(format!("{}: not `Name: value` header lines", headers.display()).into());
        }
    };
    Ok((header_map(parsed)?, read(body)?.into()))
}

fn header_map(parsed: &[httparse::Header<'_>]) -> Result<HeaderMap, Failure> {
    let mut headers = HeaderMap::new();
    for header in parsed {
        let name = HeaderName::from_bytes(header.name.as_bytes())?;
        headers.append(name, HeaderValue::from_bytes(header.value)?);
    }
    Ok(headers)
}

/// A file's bytes, exactly; an error names the file.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()).into())
}
