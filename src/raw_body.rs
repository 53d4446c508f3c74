//! [`RawBody`]: what [`Verifier::verify`](crate::Verifier::verify) accepts as
//! the request body.

use bytes::Bytes;

/// A raw request body: readable as bytes for verification, then turned into
/// the [`Bytes`] a [`Delivery`](crate::Delivery) keeps.
///
/// Owned and shared buffers (`Bytes`, `&Bytes`, `Vec<u8>`, `String`) move in
/// without copying; borrowed slices are copied once, after verification
/// succeeded.
pub trait RawBody {
    /// The body's bytes, exactly as received.
    fn as_bytes(&self) -> &[u8];
    /// The body as [`Bytes`].
    fn into_bytes(self) -> Bytes;
}

impl RawBody for Bytes {
    fn as_bytes(&self) -> &[u8] {
        self
    }
    fn into_bytes(self) -> Bytes {
        self
    }
}

impl RawBody for &Bytes {
    fn as_bytes(&self) -> &[u8] {
        self
    }
    fn into_bytes(self) -> Bytes {
        self.clone()
    }
}

impl RawBody for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
    fn into_bytes(self) -> Bytes {
        self.into()
    }
}

impl RawBody for String {
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }
    fn into_bytes(self) -> Bytes {
        self.into()
    }
}

impl RawBody for &[u8] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<const N: usize> RawBody for &[u8; N] {
    fn as_bytes(&self) -> &[u8] {
        &self[..]
    }
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl RawBody for &Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl RawBody for &str {
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(str::as_bytes(self))
    }
}
