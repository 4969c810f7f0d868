//! The Kafka protocol's framing and primitive types, for the few requests this crate sends
//! itself (see [`super::coordinator`]): big-endian integers, `i16`-length strings, `i32`-length
//! bytes and arrays, requests with header v1 and responses with header v0. Only non-flexible
//! versions are spoken, so no varints or tagged fields.

use std::fmt;

/// An API key and version, as sent in a request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Api {
    /// The API key (`10` is FindCoordinator).
    pub(crate) key: i16,
    /// The version asked for.
    pub(crate) version: i16,
}

/// A request body being written.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A request frame: the size placeholder and header v1 (key, version, correlation id,
    /// client id); the body follows.
    pub(crate) fn request(api: Api, correlation: i32, client_id: &str) -> Self {
        let mut w = Writer { buf: Vec::new() };
        w.i32(0);
        w.i16(api.key);
        w.i16(api.version);
        w.i32(correlation);
        w.string(client_id);
        w
    }

    pub(crate) fn i8(&mut self, v: i8) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn i16(&mut self, v: i16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `STRING`: `i16` length, then UTF-8. Longer strings than `i16::MAX` are not sent by
    /// this crate (names of groups and topics are at most 249 bytes in Kafka).
    pub(crate) fn string(&mut self, s: &str) -> &mut Self {
        let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
        self.i16(len);
        self.buf
            .extend_from_slice(&s.as_bytes()[..usize::try_from(len).unwrap_or(0)]);
        self
    }

    /// `BYTES`: `i32` length, then the bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
        self.buf.extend_from_slice(b);
        self
    }

    /// An `ARRAY`'s `i32` length; the elements follow.
    pub(crate) fn len(&mut self, n: usize) -> &mut Self {
        self.i32(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// The frame, with its size filled in.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let size = i32::try_from(self.buf.len() - 4).unwrap_or(i32::MAX);
        self.buf[..4].copy_from_slice(&size.to_be_bytes());
        self.buf
    }
}

/// A response that does not parse: truncated, or with a negative length where one is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} answer", self.0)
    }
}

/// A response body being read; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    /// The response's name, for [`Malformed`].
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(Malformed(self.what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, Malformed> {
        self.array().map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, Malformed> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, Malformed> {
        self.array().map(i64::from_be_bytes)
    }

    /// A `NULLABLE_STRING` (`None` for length -1); invalid UTF-8 is replaced.
    pub(crate) fn nullable_string(&mut self) -> Result<Option<String>, Malformed> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(usize::try_from(len).unwrap_or(0))?;
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }

    /// A `STRING`.
    pub(crate) fn string(&mut self) -> Result<String, Malformed> {
        self.nullable_string()?.ok_or(Malformed(self.what))
    }

    /// `BYTES` (or `NULLABLE_BYTES`, null read as empty).
    pub(crate) fn bytes(&mut self) -> Result<Vec<u8>, Malformed> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(usize::try_from(len).unwrap_or(0))?.to_vec())
    }

    /// An `ARRAY`'s length (a null array reads as empty). Bounded by the bytes left, so that a
    /// corrupt length cannot make the caller reserve gigabytes.
    pub(crate) fn len(&mut self) -> Result<usize, Malformed> {
        let n = self.i32()?;
        let n = usize::try_from(n).unwrap_or(0);
        if n > self.buf.len() {
            return Err(Malformed(self.what));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_frame_has_its_size_and_header_v1() {
        let mut w = Writer::request(
            Api {
                key: 10,
                version: 1,
            },
            7,
            "c",
        );
        w.string("g").i8(0);
        let frame = w.finish();
        assert_eq!(
            frame,
            [
                0, 0, 0, 15, // size: everything after these 4 bytes
                0, 10, 0, 1, 0, 0, 0, 7, // key, version, correlation
                0, 1, b'c', // client id
                0, 1, b'g', 0, // body
            ]
        );
    }

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = Reader::new(&[0, 5, b'a'], "Test");
        assert_eq!(r.string(), Err(Malformed("Test")));
        let mut r = Reader::new(&[0xff, 0xff, 0, 0, 0, 2, 1], "Test");
        assert_eq!(r.nullable_string(), Ok(None));
        // An array length beyond the bytes left.
        assert_eq!(r.len(), Err(Malformed("Test")));
        assert_eq!(Malformed("Test").to_string(), "malformed Test answer");
    }
}
