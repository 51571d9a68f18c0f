//! Putting a key and its certificates together: finding the leaf and ordering the chain.

use super::inspect::matches;
use super::CertificateBundle;
use crate::keys::PrivateKey;
use crate::CryptoError;
use openssl::x509::{X509VerifyResult, X509};

/// The message for a private key whose public part is in none of the certificates.
pub(super) const KEY_MISMATCH: &str = "the private key does not match the certificate";

/// A bundle from a key (if any) and certificates in any order, read from `source` (for messages, e.g. "the PEM
/// text"). Duplicate certificates are dropped. The leaf is the certificate holding the key's public part (none:
/// [`KEY_MISMATCH`]) or, without a key, the first certificate that issued none of the others. After the leaf come
/// its issuer, that one's issuer and so on, as far as they are present, then any other certificates in their
/// original order.
pub(super) fn assemble(
    key: Option<PrivateKey>,
    certs: Vec<X509>,
    source: &str,
) -> Result<CertificateBundle, CryptoError> {
    let mut unique: Vec<(X509, Vec<u8>)> = Vec::with_capacity(certs.len());
    for cert in certs {
        let der = cert.to_der().map_err(CryptoError::openssl)?;
        if !unique.iter().any(|(_, seen)| *seen == der) {
            unique.push((cert, der));
        }
    }
    if unique.is_empty() {
        return Err(CryptoError::Malformed(format!(
            "{source} contains no certificate"
        )));
    }
    let leaf = match &key {
        Some(key) => {
            let pkey = key.to_pkey()?;
            unique
                .iter()
                .position(|(cert, _)| matches(cert, &pkey))
                .ok_or_else(|| CryptoError::Malformed(KEY_MISMATCH.into()))?
        }
        None => (0..unique.len())
            .find(|&i| {
                !(0..unique.len())
                    .any(|j| j != i && unique[i].0.issued(&unique[j].0) == X509VerifyResult::OK)
            })
            .unwrap_or(0),
    };
    let as_given: Vec<Vec<u8>> = unique.iter().map(|(_, der)| der.clone()).collect();
    let mut used = vec![false; unique.len()];
    let mut order = vec![leaf];
    used[leaf] = true;
    let mut current = leaf;
    while let Some(issuer) = (0..unique.len())
        .find(|&i| !used[i] && unique[i].0.issued(&unique[current].0) == X509VerifyResult::OK)
    {
        used[issuer] = true;
        order.push(issuer);
        current = issuer;
    }
    order.extend((0..unique.len()).filter(|&i| !used[i]));
    let mut slots: Vec<Option<Vec<u8>>> = unique.into_iter().map(|(_, der)| Some(der)).collect();
    let chain = order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect();
    Ok(CertificateBundle {
        key,
        chain,
        as_given,
    })
}

/// Where the key's certificate is in a chain to write out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leaf {
    /// First, as Azure writes a chain by default.
    First,
    /// Anywhere: the chain is written in the order given (Azure's `preserveCertOrder`).
    Anywhere,
}

/// Reads DER certificates for writing out, checking that the key (if any) belongs to the first one (or, with
/// [`Leaf::Anywhere`], to one of them); returns them with the index of the key's certificate (0 without a key).
pub(super) fn certificates_for(
    key: Option<&PrivateKey>,
    chain: &[Vec<u8>],
    leaf: Leaf,
) -> Result<(Vec<X509>, usize), CryptoError> {
    let certs = chain
        .iter()
        .map(|der| super::inspect::read_certificate(der))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(key) = key.filter(|_| !certs.is_empty()) else {
        return Ok((certs, 0));
    };
    let pkey = key.to_pkey()?;
    let at = match leaf {
        Leaf::First => certs.first().filter(|c| matches(c, &pkey)).map(|_| 0),
        Leaf::Anywhere => certs.iter().position(|c| matches(c, &pkey)),
    };
    match at {
        Some(at) => Ok((certs, at)),
        None => Err(CryptoError::Malformed(KEY_MISMATCH.into())),
    }
}
