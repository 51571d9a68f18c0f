//! A minimal DER reader for the parts of a certificate OpenSSL offers no accessor for (otherName entries of the
//! subject alternative names, extended key usage OIDs), and the one DER encoding the certificate builder needs
//! (a UTF8String for a UPN).
//!
//! It reads only what it is asked for: tag–length–value triples with single-byte tags and definite lengths.

use crate::CryptoError;

pub(super) const BOOLEAN: u8 = 0x01;
pub(super) const BIT_STRING: u8 = 0x03;
pub(super) const OCTET_STRING: u8 = 0x04;
pub(super) const OID: u8 = 0x06;
pub(super) const UTF8_STRING: u8 = 0x0c;
pub(super) const SEQUENCE: u8 = 0x30;
/// `[3] EXPLICIT`, constructed: the extensions of a TBSCertificate.
const EXTENSIONS_TAG: u8 = 0xa3;

/// Why the reader stopped; the caller turns it into a message about what it was reading.
#[derive(Debug)]
pub(super) struct Invalid;

/// A cursor over DER bytes.
pub(super) struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub(super) fn new(data: &'a [u8]) -> Der<'a> {
        Der { rest: data }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    pub(super) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: its tag and its content.
    pub(super) fn any(&mut self) -> Result<(u8, &'a [u8]), Invalid> {
        let (&tag, rest) = self.rest.split_first().ok_or(Invalid)?;
        if tag & 0x1f == 0x1f {
            // High tag numbers appear nowhere in what this reader is used for.
            return Err(Invalid);
        }
        let (&first, mut rest) = rest.split_first().ok_or(Invalid)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            // 0x80 is the indefinite length, which DER forbids; over four length bytes is absurd here.
            if n == 0 || n > 4 || rest.len() < n {
                return Err(Invalid);
            }
            let (len_bytes, after) = rest.split_at(n);
            rest = after;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return Err(Invalid);
        }
        let (content, after) = rest.split_at(len);
        self.rest = after;
        Ok((tag, content))
    }

    /// The content of the next element, which must have tag `tag`.
    pub(super) fn expect(&mut self, tag: u8) -> Result<&'a [u8], Invalid> {
        match self.any()? {
            (t, content) if t == tag => Ok(content),
            _ => Err(Invalid),
        }
    }
}

/// One certificate extension: its OID (content bytes) and value (the content of its OCTET STRING).
pub(super) struct Extension<'a> {
    pub(super) oid: &'a [u8],
    pub(super) value: &'a [u8],
}

/// The extensions of a DER certificate, in order (empty for a certificate without any).
pub(super) fn certificate_extensions(cert: &[u8]) -> Result<Vec<Extension<'_>>, Invalid> {
    let certificate = Der::new(cert).expect(SEQUENCE)?;
    let tbs = Der::new(certificate).expect(SEQUENCE)?;
    let mut tbs = Der::new(tbs);
    let mut out = Vec::new();
    while !tbs.is_empty() {
        let (tag, content) = tbs.any()?;
        if tag != EXTENSIONS_TAG {
            continue;
        }
        let mut list = Der::new(Der::new(content).expect(SEQUENCE)?);
        while !list.is_empty() {
            let mut ext = Der::new(list.expect(SEQUENCE)?);
            let oid = ext.expect(OID)?;
            if ext.peek_tag() == Some(BOOLEAN) {
                ext.expect(BOOLEAN)?;
            }
            let value = ext.expect(OCTET_STRING)?;
            out.push(Extension { oid, value });
        }
    }
    Ok(out)
}

/// The dotted form of an OID's content bytes (`1.3.6.1.5.5.7.3.1`).
pub(super) fn oid_to_string(bytes: &[u8]) -> Result<String, Invalid> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in bytes {
        if !in_arc && b == 0x80 {
            // A leading 0x80 is a non-minimal encoding.
            return Err(Invalid);
        }
        if value > (u64::MAX >> 7) {
            return Err(Invalid);
        }
        value = (value << 7) | u64::from(b & 0x7f);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc || arcs.is_empty() {
        return Err(Invalid);
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut s = format!("{a}.{b}");
    for arc in &arcs[1..] {
        s.push('.');
        s.push_str(&arc.to_string());
    }
    Ok(s)
}

/// Checks that `s` is a dotted OID: at least two decimal arcs without leading zeros, the first 0, 1 or 2, the
/// second under 40 when the first is 0 or 1.
pub(super) fn check_dotted_oid(s: &str) -> Result<(), CryptoError> {
    let bad = || {
        CryptoError::Malformed(format!(
            "'{}' is not a dotted object identifier (for example 1.3.6.1.5.5.7.3.1)",
            s.escape_default()
        ))
    };
    let arcs: Vec<&str> = s.split('.').collect();
    if arcs.len() < 2 || s.len() > 200 {
        return Err(bad());
    }
    let mut values = Vec::with_capacity(arcs.len());
    for arc in &arcs {
        let ok = !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc.len() == 1 || !arc.starts_with('0'));
        if !ok {
            return Err(bad());
        }
        values.push(arc.parse::<u64>().map_err(|_| bad())?);
    }
    match (values[0], values[1]) {
        (0 | 1, second) if second < 40 => Ok(()),
        (2, _) => Ok(()),
        _ => Err(bad()),
    }
}

/// `s` as a DER UTF8String (tag, length, bytes).
pub(super) fn utf8_string(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = vec![UTF8_STRING];
    let len = bytes.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_decode() {
        let eku = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
        assert_eq!(oid_to_string(&eku).unwrap(), "1.3.6.1.5.5.7.3.1");
        let upn = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03];
        assert_eq!(oid_to_string(&upn).unwrap(), "1.3.6.1.4.1.311.20.2.3");
        assert_eq!(oid_to_string(&[0x55, 0x1d, 0x11]).unwrap(), "2.5.29.17");
        assert_eq!(oid_to_string(&[0x88, 0x37]).unwrap(), "2.999");
        assert!(oid_to_string(&[]).is_err());
        assert!(oid_to_string(&[0x2b, 0x86]).is_err());
        assert!(oid_to_string(&[0x2b, 0x80, 0x01]).is_err());
    }

    #[test]
    fn dotted_oids_are_checked() {
        for ok in ["1.3.6.1.5.5.7.3.1", "2.5.29.37.0", "0.9", "2.999.1"] {
            assert!(check_dotted_oid(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "serverAuth",
            "1.3.6.1.5.5.7.3.1.",
            ".1.3",
            "1..3",
            "1.03",
            "3.1",
            "1.40",
            "1.3.6.a",
            "1.3 .6",
            "99999999999999999999999.1",
        ] {
            assert!(check_dotted_oid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utf8_strings_encode() {
        assert_eq!(utf8_string("ab"), vec![0x0c, 2, b'a', b'b']);
        let long = "x".repeat(300);
        let der = utf8_string(&long);
        assert_eq!(&der[..4], &[0x0c, 0x82, 0x01, 0x2c]);
        assert_eq!(der.len(), 304);
        let (tag, content) = Der::new(&der).any().unwrap();
        assert_eq!((tag, content.len()), (UTF8_STRING, 300));
    }

    #[test]
    fn truncated_and_indefinite_lengths_are_invalid() {
        assert!(Der::new(&[0x30, 0x03, 0x01]).any().is_err());
        assert!(Der::new(&[0x30, 0x80, 0x00, 0x00]).any().is_err());
        assert!(Der::new(&[0x30]).any().is_err());
        assert!(Der::new(&[0x1f, 0x01, 0x00]).any().is_err());
    }
}
