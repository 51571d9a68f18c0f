//! What reading a PKCS#12 (PFX) file will cost, read from the file before OpenSSL is given it.
//!
//! A PFX names its own key-derivation work: the MAC's iteration count (`MacData.iterations`) and, for every
//! password-encrypted part, the iteration count in its algorithm's parameters (PKCS#12 PBE and PBES1:
//! `{salt, iterations}`; PBES2: PBKDF2's `iterationCount`, or scrypt's N·r·p). OpenSSL has no upper bound for any
//! of them, so a file asking for 10⁹ iterations would hold a thread for minutes. This module adds them up from the
//! structure alone — no password, no decryption — and refuses a file whose total is over
//! [`MAX_KDF_ITERATIONS`].
//!
//! It sees what is readable without the password: the MAC, each `encryptedData` part's algorithm, and the key
//! bags (`pkcs8ShroudedKeyBag`) of unencrypted parts, as far as nested `safeContentsBag`s go. Key bags *inside* an
//! encrypted part are only visible after decrypting it, which OpenSSL does itself; no tool writes them there
//! (OpenSSL, Windows, .NET and Java put the key in an unencrypted part), and the bounded pool the import runs on
//! limits what such a file can take.
//!
//! Files in the wild are BER as often as DER (indefinite lengths, octet strings cut into segments), so the
//! reader here takes both. It never panics and recurses at most [`MAX_DEPTH`] levels.

use std::borrow::Cow;

/// The most key-derivation iterations a PKCS#12 file may ask for, all parts together (the MAC counted twice:
/// OpenSSL checks it with two spellings of an empty password). Files written by OpenSSL (2,048 per part),
/// Windows and .NET (2,000) and Java (10,000) ask for a few thousand to a few tens of thousands; a file hardened
/// to OWASP's 600,000 PBKDF2 iterations for its MAC, its key and its certificates stays under this too. Four
/// million PBKDF2-HMAC-SHA-256 iterations take about a second of one core.
pub const MAX_KDF_ITERATIONS: u64 = 4_000_000;

/// scrypt's work (N·r·p) counted as one iteration per this many units: N = 2¹⁴, r = 8, p = 1 (OpenSSL's and
/// most tools' choice) counts as 1,024 iterations; what OpenSSL's 32 MiB memory limit for scrypt allows with p = 1
/// counts as 16,384.
const SCRYPT_WORK_PER_ITERATION: u64 = 128;

/// Nesting deeper than this is refused (a PFX needs about a dozen levels).
const MAX_DEPTH: usize = 24;

// Object identifiers, as DER content bytes.
/// 1.2.840.113549.1.7.1 (PKCS#7 data).
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// 1.2.840.113549.1.7.6 (PKCS#7 encryptedData).
const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
/// 1.2.840.113549.1.12.10.1.2 (pkcs8ShroudedKeyBag).
const OID_SHROUDED_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
];
/// 1.2.840.113549.1.12.10.1.6 (safeContentsBag).
const OID_SAFE_CONTENTS_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x06,
];
/// 1.2.840.113549.1.12.1 (the PKCS#12 PBE algorithms are its children).
const OID_PKCS12_PBE_ARC: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
/// 1.2.840.113549.1.5 (PKCS#5: PBES1 algorithms, PBKDF2, PBES2).
const OID_PKCS5_ARC: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];
/// The last arcs of the PBES1 algorithms under [`OID_PKCS5_ARC`] (MD2/MD5/SHA-1 with DES or RC2).
const PBES1_LAST_ARCS: &[u8] = &[1, 3, 4, 6, 10, 11];
const PBKDF2_LAST_ARC: u8 = 12;
const PBES2_LAST_ARC: u8 = 13;
/// 1.3.6.1.4.1.11591.4.11 (scrypt).
const OID_SCRYPT: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b];

const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
/// `[0]`, constructed (EXPLICIT).
const CONTEXT_0: u8 = 0xa0;

/// The structure could not be read.
#[derive(Debug)]
pub(super) struct Unreadable;

/// The key-derivation iterations a PKCS#12 file asks for, readable without its password (saturating).
pub(super) fn kdf_iterations(der: &[u8]) -> Result<u64, Unreadable> {
    let (pfx, _) = element(der, 0)?;
    let mut pfx = pfx.expect(SEQUENCE)?.children();
    pfx.next_of(INTEGER)?; // version
    let auth_safe = pfx.next_of(SEQUENCE)?;
    let mut total: u64 = 0;
    if let Some(mac_data) = pfx.next_opt(SEQUENCE)? {
        let mut m = mac_data.children();
        m.next_of(SEQUENCE)?; // DigestInfo
        m.next_any()?.ok_or(Unreadable)?; // salt
        let iterations = match m.next_opt(INTEGER)? {
            Some(i) => unsigned(&i.primitive()?),
            None => 1,
        };
        total = total.saturating_add(iterations.saturating_mul(2));
    }
    let auth_safe = data_content(auth_safe, 1)?;
    let (list, _) = element(&auth_safe, 1)?;
    let mut parts = list.expect(SEQUENCE)?.children();
    while let Some(part) = parts.next_any()? {
        let mut ci = part.expect(SEQUENCE)?.children();
        let kind = ci.next_of(OID)?.primitive()?;
        if *kind == *OID_DATA {
            let contents = explicit_octets(ci.next_of(CONTEXT_0)?, 2)?;
            total = total.saturating_add(safe_contents(&contents, 3)?);
        } else if *kind == *OID_ENCRYPTED_DATA {
            let wrapped = ci.next_of(CONTEXT_0)?;
            let (encrypted_data, _) = element(wrapped.body, 3)?;
            let mut ed = encrypted_data.expect(SEQUENCE)?.children();
            ed.next_of(INTEGER)?; // version
            let mut eci = ed.next_of(SEQUENCE)?.children();
            eci.next_of(OID)?; // contentType
            total = total.saturating_add(algorithm_iterations(eci.next_of(SEQUENCE)?, 4)?);
        }
        // Other parts (envelopedData) use no password.
    }
    Ok(total)
}

/// The iterations of the key bags in a SafeContents.
fn safe_contents(der: &[u8], depth: usize) -> Result<u64, Unreadable> {
    if depth > MAX_DEPTH {
        return Err(Unreadable);
    }
    let (list, _) = element(der, depth)?;
    let mut bags = list.expect(SEQUENCE)?.children();
    let mut total: u64 = 0;
    while let Some(bag) = bags.next_any()? {
        let mut b = bag.expect(SEQUENCE)?.children();
        let id = b.next_of(OID)?.primitive()?;
        let value = b.next_of(CONTEXT_0)?;
        if *id == *OID_SHROUDED_KEY_BAG {
            let (info, _) = element(value.body, depth + 1)?;
            let mut info = info.expect(SEQUENCE)?.children();
            total = total.saturating_add(algorithm_iterations(info.next_of(SEQUENCE)?, depth + 2)?);
        } else if *id == *OID_SAFE_CONTENTS_BAG {
            total = total.saturating_add(safe_contents(value.body, depth + 1)?);
        }
    }
    Ok(total)
}

/// The iterations an encryption AlgorithmIdentifier asks for (0 for an algorithm without a password KDF, which
/// OpenSSL refuses anyway).
fn algorithm_iterations(alg: Element<'_>, depth: usize) -> Result<u64, Unreadable> {
    if depth > MAX_DEPTH {
        return Err(Unreadable);
    }
    let mut a = alg.children();
    let oid = a.next_of(OID)?.primitive()?;
    let params = a.next_any()?;
    let pkcs5_last = oid.strip_prefix(OID_PKCS5_ARC).and_then(|rest| match rest {
        [last] => Some(*last),
        _ => None,
    });
    let salt_and_count = oid.starts_with(OID_PKCS12_PBE_ARC)
        || pkcs5_last.is_some_and(|last| PBES1_LAST_ARCS.contains(&last));
    if salt_and_count {
        // PKCS#12 PBE and PBES1: SEQUENCE { salt OCTET STRING, iterations INTEGER }.
        let mut p = params.ok_or(Unreadable)?.expect(SEQUENCE)?.children();
        p.next_any()?.ok_or(Unreadable)?;
        return Ok(unsigned(&p.next_of(INTEGER)?.primitive()?));
    }
    if pkcs5_last == Some(PBES2_LAST_ARC) {
        // PBES2: SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme AlgorithmIdentifier }.
        let mut p = params.ok_or(Unreadable)?.expect(SEQUENCE)?.children();
        let mut kdf = p.next_of(SEQUENCE)?.children();
        let kdf_oid = kdf.next_of(OID)?.primitive()?;
        let mut kp = kdf.next_of(SEQUENCE)?.children();
        kp.next_any()?.ok_or(Unreadable)?; // salt
        if kdf_oid.strip_prefix(OID_PKCS5_ARC) == Some(&[PBKDF2_LAST_ARC][..]) {
            return Ok(unsigned(&kp.next_of(INTEGER)?.primitive()?));
        }
        if *kdf_oid == *OID_SCRYPT {
            let n = unsigned(&kp.next_of(INTEGER)?.primitive()?);
            let r = unsigned(&kp.next_of(INTEGER)?.primitive()?);
            let p = unsigned(&kp.next_of(INTEGER)?.primitive()?);
            return Ok(n.saturating_mul(r).saturating_mul(p) / SCRYPT_WORK_PER_ITERATION);
        }
        return Ok(0);
    }
    Ok(0)
}

/// A non-negative INTEGER's value, saturating at `u64::MAX` (a negative one, which OpenSSL would read as huge
/// once cast, counts as `u64::MAX` too).
fn unsigned(content: &[u8]) -> u64 {
    if content.first().is_some_and(|b| b & 0x80 != 0) {
        return u64::MAX;
    }
    let significant: Vec<u8> = content.iter().copied().skip_while(|&b| b == 0).collect();
    if significant.len() > 8 {
        return u64::MAX;
    }
    significant
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// The content of a `data` ContentInfo: `SEQUENCE { OID data, [0] EXPLICIT OCTET STRING }`.
fn data_content<'a>(content_info: Element<'a>, depth: usize) -> Result<Cow<'a, [u8]>, Unreadable> {
    let mut ci = content_info.children();
    if *ci.next_of(OID)?.primitive()? != *OID_DATA {
        return Err(Unreadable);
    }
    explicit_octets(ci.next_of(CONTEXT_0)?, depth)
}

/// The OCTET STRING inside an `[0] EXPLICIT` element.
fn explicit_octets<'a>(wrapped: Element<'a>, depth: usize) -> Result<Cow<'a, [u8]>, Unreadable> {
    let (octets, _) = element(wrapped.body, depth)?;
    if octets.tag & !0x20 != OCTET_STRING {
        return Err(Unreadable);
    }
    octets.primitive_at(depth)
}

/// One BER element: its tag and its body (for an indefinite length, the body without the end-of-contents).
#[derive(Clone, Copy)]
struct Element<'a> {
    tag: u8,
    body: &'a [u8],
}

impl<'a> Element<'a> {
    fn expect(self, tag: u8) -> Result<Element<'a>, Unreadable> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(Unreadable)
        }
    }

    fn children(self) -> Children<'a> {
        Children { rest: self.body }
    }

    /// A primitive element's bytes, or the concatenated segments of a constructed string.
    fn primitive(self) -> Result<Cow<'a, [u8]>, Unreadable> {
        self.primitive_at(0)
    }

    fn primitive_at(self, depth: usize) -> Result<Cow<'a, [u8]>, Unreadable> {
        if self.tag & 0x20 == 0 {
            return Ok(Cow::Borrowed(self.body));
        }
        if depth > MAX_DEPTH {
            return Err(Unreadable);
        }
        let mut out = Vec::new();
        let mut parts = self.children();
        while let Some(part) = parts.next_any()? {
            if part.tag & !0x20 != self.tag & !0x20 {
                return Err(Unreadable);
            }
            out.extend_from_slice(&part.primitive_at(depth + 1)?);
        }
        Ok(Cow::Owned(out))
    }
}

/// The elements inside a constructed element, in order.
struct Children<'a> {
    rest: &'a [u8],
}

impl<'a> Children<'a> {
    fn next_any(&mut self) -> Result<Option<Element<'a>>, Unreadable> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (e, rest) = element(self.rest, 0)?;
        self.rest = rest;
        Ok(Some(e))
    }

    fn next_of(&mut self, tag: u8) -> Result<Element<'a>, Unreadable> {
        self.next_any()?.ok_or(Unreadable)?.expect(tag)
    }

    /// The next element when it has `tag`; nothing (and nothing consumed) otherwise.
    fn next_opt(&mut self, tag: u8) -> Result<Option<Element<'a>>, Unreadable> {
        if self.rest.first() != Some(&tag) {
            return Ok(None);
        }
        self.next_any()
    }
}

/// Reads one BER element from the front of `input`; returns it and what follows.
fn element(input: &[u8], depth: usize) -> Result<(Element<'_>, &[u8]), Unreadable> {
    if depth > MAX_DEPTH {
        return Err(Unreadable);
    }
    let (&tag, rest) = input.split_first().ok_or(Unreadable)?;
    if tag & 0x1f == 0x1f {
        return Err(Unreadable);
    }
    let (&first, rest) = rest.split_first().ok_or(Unreadable)?;
    if first == 0x80 {
        // Indefinite length (constructed only): children up to an end-of-contents.
        if tag & 0x20 == 0 {
            return Err(Unreadable);
        }
        let mut cursor = rest;
        loop {
            if let [0, 0, after @ ..] = cursor {
                let body_len = rest.len() - cursor.len();
                return Ok((
                    Element {
                        tag,
                        body: &rest[..body_len],
                    },
                    after,
                ));
            }
            let (_, after) = element(cursor, depth + 1)?;
            cursor = after;
        }
    }
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 || rest.len() < n {
            return Err(Unreadable);
        }
        let (len_bytes, rest) = rest.split_at(n);
        (
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
            rest,
        )
    };
    if rest.len() < len {
        return Err(Unreadable);
    }
    let (body, after) = rest.split_at(len);
    Ok((Element { tag, body }, after))
}
