//! PKCS#12 files that ask for too much key derivation are refused before OpenSSL derives anything; ordinary
//! files, DER or BER, are counted right and read.

use super::bundles::{assert_full_bundle, export, files};
use super::*;
use crate::x509::pkcs12_cost::kdf_iterations;

/// A DER element as a tree: primitive, constructed, or an OCTET STRING that holds DER itself (PKCS#12 nests its
/// structures in octet strings).
#[derive(Clone)]
enum Node {
    Primitive(u8, Vec<u8>),
    Constructed(u8, Vec<Node>),
    Wrapped(Vec<Node>),
}

fn read_der(mut data: &[u8]) -> Option<Vec<Node>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let tag = data[0];
        let first = *data.get(1)?;
        let (len, head) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let bytes = data.get(2..2 + n)?;
            (
                bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)),
                2 + n,
            )
        };
        let body = data.get(head..head + len)?;
        data = &data[head + len..];
        out.push(if tag & 0x20 != 0 {
            Node::Constructed(tag, read_der(body)?)
        } else if tag == 0x04 && body.first() == Some(&0x30) {
            // Salts and ciphertexts almost never parse; PKCS#12's nested structures always do.
            match read_der(body) {
                Some(inner) if inner.len() == 1 => Node::Wrapped(inner),
                _ => Node::Primitive(tag, body.to_vec()),
            }
        } else {
            Node::Primitive(tag, body.to_vec())
        });
    }
    Some(out)
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// Encodes nodes as DER, or as BER with indefinite lengths and octet strings cut into 7-byte segments. The
/// content of a wrapped octet string stays DER when `ber` is `Outer` (a MAC covers those bytes).
fn write(nodes: &[Node], ber: impl Into<Ber>) -> Vec<u8> {
    let ber = ber.into();
    let inner = if ber == Ber::Outer { Ber::No } else { ber };
    let ber_here = ber != Ber::No;
    let mut out = Vec::new();
    for n in nodes {
        match n {
            Node::Primitive(tag, body) if ber_here && *tag == 0x04 && body.len() > 7 => {
                out.extend_from_slice(&[0x24, 0x80]);
                for seg in body.chunks(7) {
                    out.push(0x04);
                    der_length(seg.len(), &mut out);
                    out.extend_from_slice(seg);
                }
                out.extend_from_slice(&[0, 0]);
            }
            Node::Primitive(tag, body) => {
                out.push(*tag);
                der_length(body.len(), &mut out);
                out.extend_from_slice(body);
            }
            Node::Constructed(tag, children) if ber_here => {
                out.extend_from_slice(&[*tag, 0x80]);
                out.extend(write(children, ber));
                out.extend_from_slice(&[0, 0]);
            }
            Node::Constructed(tag, children) => {
                let body = write(children, ber);
                out.push(*tag);
                der_length(body.len(), &mut out);
                out.extend(body);
            }
            Node::Wrapped(nested) => {
                let body = write(nested, inner);
                if ber_here {
                    out.extend_from_slice(&[0x24, 0x80]);
                    for seg in body.chunks(100) {
                        out.push(0x04);
                        der_length(seg.len(), &mut out);
                        out.extend_from_slice(seg);
                    }
                    out.extend_from_slice(&[0, 0]);
                } else {
                    out.push(0x04);
                    der_length(body.len(), &mut out);
                    out.extend(body);
                }
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ber {
    No,
    /// BER down to the octet strings that hold nested structures, whose content stays DER.
    Outer,
    Everywhere,
}

impl From<bool> for Ber {
    fn from(ber: bool) -> Ber {
        if ber {
            Ber::Everywhere
        } else {
            Ber::No
        }
    }
}

/// Replaces every INTEGER equal to `from` with `to` (big-endian content bytes).
fn replace_integers(nodes: &mut [Node], from: u64, to: &[u8]) -> usize {
    let mut n = 0;
    for node in nodes {
        match node {
            Node::Primitive(0x02, body) => {
                let v = body.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
                if body.len() <= 8 && v == from {
                    *body = to.to_vec();
                    n += 1;
                }
            }
            Node::Primitive(..) => {}
            Node::Constructed(_, children) | Node::Wrapped(children) => {
                n += replace_integers(children, from, to)
            }
        }
    }
    n
}

/// `pfx` with every INTEGER equal to `from` set to 10⁹ (its MAC no longer verifies, which does not matter: the
/// count is read first).
fn hostile(pfx: &[u8], from: u64) -> Vec<u8> {
    let mut tree = read_der(pfx).expect("a DER PKCS#12 file");
    let replaced = replace_integers(&mut tree, from, &1_000_000_000u32.to_be_bytes());
    assert!(replaced > 0, "no INTEGER {from} in the file");
    write(&tree, false)
}

#[test]
fn ordinary_files_are_counted_and_read() {
    let f = files("p12-cost-ordinary");
    // OpenSSL 3: the key, the certificates and the MAC each under 3,001 iterations here (the MAC counted twice).
    let pfx = export(&f, &["-passout", "pass:secret", "-iter", "3001"]);
    assert_eq!(kdf_iterations(&pfx).unwrap(), 4 * 3001);
    assert_full_bundle(&parse_pkcs12(&pfx, "secret").unwrap());
    // The same file as BER (indefinite lengths, octet strings in segments) outside what its MAC covers: counted
    // alike, and OpenSSL reads it.
    let ber = write(&read_der(&pfx).unwrap(), Ber::Outer);
    assert_ne!(ber, pfx);
    assert_eq!(kdf_iterations(&ber).unwrap(), 4 * 3001);
    assert_full_bundle(&parse_pkcs12(&ber, "secret").unwrap());
    // A MAC without an iteration count (which then defaults to 1).
    let pfx = export(
        &f,
        &["-passout", "pass:secret", "-iter", "3001", "-nomaciter"],
    );
    assert_eq!(kdf_iterations(&pfx).unwrap(), 2 * 3001 + 2);
    assert_full_bundle(&parse_pkcs12(&pfx, "secret").unwrap());
    // Without a MAC, and with unencrypted certificates; and that file BER all through.
    let pfx = export(&f, &["-passout", "pass:", "-nomac", "-certpbe", "NONE"]);
    assert_eq!(kdf_iterations(&pfx).unwrap(), 2048);
    assert_full_bundle(&parse_pkcs12(&pfx, "").unwrap());
    // (The certificates inside become BER too, so only the key is compared.)
    let ber = write(&read_der(&pfx).unwrap(), Ber::Everywhere);
    assert_eq!(kdf_iterations(&ber).unwrap(), 2048);
    let read = parse_pkcs12(&ber, "").unwrap();
    assert_eq!(
        read.key.unwrap().public_jwk().unwrap(),
        rsa_key().public_jwk().unwrap()
    );
}

#[test]
fn a_billion_iterations_anywhere_visible_is_refused_before_openssl_runs_them() {
    let f = files("p12-cost-hostile");
    let refused = |pfx: &[u8], password: &str| {
        let e = parse_pkcs12(pfx, password).unwrap_err().to_string();
        assert!(
            e.contains("key-derivation iterations") && e.contains("at most 4000000"),
            "{e}"
        );
    };
    // The MAC alone (encryption under one iteration, the MAC under 2,048).
    let pfx = export(&f, &["-passout", "pass:secret", "-noiter"]);
    refused(&hostile(&pfx, 2048), "secret");
    // Everything.
    let pfx = export(&f, &["-passout", "pass:secret", "-iter", "3001"]);
    let mut all = read_der(&pfx).unwrap();
    replace_integers(&mut all, 3001, &1_000_000_000u32.to_be_bytes());
    refused(&write(&all, false), "secret");
    // BER too.
    refused(&write(&all, true), "secret");
    // The key bag alone: certificates unencrypted, no MAC.
    let pfx = export(
        &f,
        &[
            "-passout", "pass:", "-nomac", "-certpbe", "NONE", "-iter", "3001",
        ],
    );
    refused(&hostile(&pfx, 3001), "");
    // The encrypted certificates alone: the key in a plain key bag, no MAC.
    let pfx = export(
        &f,
        &[
            "-passout", "pass:", "-nomac", "-keypbe", "NONE", "-iter", "3001",
        ],
    );
    refused(&hostile(&pfx, 3001), "");
    // A count too long for 64 bits, or negative.
    let mut tree = read_der(&pfx).unwrap();
    replace_integers(&mut tree, 3001, &[0x7f; 12]);
    refused(&write(&tree, false), "");
    // A negative one: OpenSSL does not decode the file at all; counted as the most there is all the same.
    let mut tree = read_der(&pfx).unwrap();
    replace_integers(&mut tree, 3001, &[0xff, 0xff]);
    let negative = write(&tree, false);
    assert_eq!(kdf_iterations(&negative).unwrap(), u64::MAX);
    assert!(parse_pkcs12(&negative, "").is_err());
}

#[test]
fn structures_that_cannot_be_followed_are_refused_as_damaged() {
    let f = files("p12-cost-damaged");
    let pfx = export(&f, &["-passout", "pass:secret"]);
    // The AuthenticatedSafe (inside the authSafe's octet string) cut short: OpenSSL still decodes the outer
    // structure, the count cannot be taken, the file is refused.
    fn cut_first_wrapped(nodes: &mut [Node]) -> bool {
        for n in nodes.iter_mut() {
            if let Node::Wrapped(inner) = n {
                let mut bytes = write(inner, false);
                bytes.truncate(bytes.len() - 5);
                *n = Node::Primitive(0x04, bytes);
                return true;
            }
            if let Node::Constructed(_, c) = n {
                if cut_first_wrapped(c) {
                    return true;
                }
            }
        }
        false
    }
    let mut tree = read_der(&pfx).unwrap();
    assert!(cut_first_wrapped(&mut tree));
    let damaged = write(&tree, false);
    assert!(kdf_iterations(&damaged).is_err());
    assert_malformed(parse_pkcs12(&damaged, "secret"), "could not be read");
}
