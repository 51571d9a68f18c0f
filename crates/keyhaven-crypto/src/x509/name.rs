//! Distinguished names in Azure's (Windows') text form: `CN=www.contoso.com, O=Contoso, OU=IT, L=Redmond, ST=WA,
//! C=US`.
//!
//! The text lists the most specific attribute first, as RFC 4514, Windows and .NET do, so its attributes are in the
//! reverse order of the DER encoding: `CN=a, O=b` is encoded as `O=b` followed by `CN=a`, and OpenSSL (which prints
//! in encoding order) shows it as `O = b, CN = a`.
//!
//! Parsing accepts `,` or `;` between attributes, spaces around names, values and separators, double-quoted values
//! (`O="Contoso, Inc."`, with `""` for a quote inside) and backslash escapes (`O=Contoso\, Inc.`). Attribute names
//! are case-insensitive.

use super::der;
use crate::CryptoError;
use openssl::nid::Nid;
use openssl::x509::{X509Name, X509NameBuilder, X509NameRef};

/// Attribute names accepted in text (upper case) and the name OpenSSL knows the attribute by.
const INPUT_NAMES: &[(&str, &str)] = &[
    ("CN", "CN"),
    ("O", "O"),
    ("OU", "OU"),
    ("L", "L"),
    ("ST", "ST"),
    ("S", "ST"),
    ("C", "C"),
    ("E", "emailAddress"),
    ("EMAIL", "emailAddress"),
    ("EMAILADDRESS", "emailAddress"),
    ("DC", "DC"),
    ("STREET", "street"),
    ("SERIALNUMBER", "serialNumber"),
    ("T", "title"),
    ("TITLE", "title"),
    ("G", "GN"),
    ("GN", "GN"),
    ("GIVENNAME", "GN"),
    ("SN", "SN"),
    ("SURNAME", "SN"),
    ("I", "initials"),
    ("INITIALS", "initials"),
    ("UID", "UID"),
    ("POSTALCODE", "postalCode"),
];

/// How attributes are written out.
const OUTPUT_NAMES: &[(Nid, &str)] = &[
    (Nid::COMMONNAME, "CN"),
    (Nid::ORGANIZATIONNAME, "O"),
    (Nid::ORGANIZATIONALUNITNAME, "OU"),
    (Nid::LOCALITYNAME, "L"),
    (Nid::STATEORPROVINCENAME, "ST"),
    (Nid::COUNTRYNAME, "C"),
    (Nid::PKCS9_EMAILADDRESS, "E"),
    (Nid::DOMAINCOMPONENT, "DC"),
    (Nid::STREETADDRESS, "STREET"),
    (Nid::SERIALNUMBER, "SERIALNUMBER"),
    (Nid::TITLE, "T"),
    (Nid::GIVENNAME, "G"),
    (Nid::SURNAME, "SN"),
    (Nid::INITIALS, "I"),
    (Nid::USERID, "UID"),
    (Nid::POSTALCODE, "PostalCode"),
];

/// Longest subject text accepted.
const MAX_LEN: usize = 4096;

/// One `NAME=value` of the text.
#[derive(Debug, PartialEq, Eq)]
struct Attribute {
    name: String,
    value: String,
}

/// Parses a subject; an empty or all-blank text gives an empty name.
pub(super) fn parse_subject(text: &str) -> Result<X509Name, CryptoError> {
    let attributes = split(text)?;
    let mut builder = X509NameBuilder::new().map_err(CryptoError::openssl)?;
    // The text is most specific first; the encoding is least specific first.
    for a in attributes.iter().rev() {
        let field = openssl_field(&a.name)?;
        if a.value.chars().any(char::is_control) {
            return Err(CryptoError::Malformed(format!(
                "the subject attribute {} contains a control character",
                a.name
            )));
        }
        builder
            .append_entry_by_text(&field, &a.value)
            .map_err(|_| {
                CryptoError::Malformed(format!(
                    "the subject attribute {}={} is not valid{}",
                    a.name,
                    a.value.escape_default(),
                    limits_hint(&field)
                ))
            })?;
    }
    Ok(builder.build())
}

/// Writes a name as text, most specific attribute first.
pub(super) fn format_name(name: &X509NameRef) -> Result<String, CryptoError> {
    let mut parts = Vec::new();
    for entry in name.entries() {
        let nid = entry.object().nid();
        let label = match OUTPUT_NAMES.iter().find(|(n, _)| *n == nid) {
            Some((_, label)) => (*label).to_string(),
            None => {
                let oid =
                    der::oid_to_string(entry.object().to_owned().as_slice()).map_err(|_| {
                        CryptoError::Malformed(
                            "the certificate's subject holds an invalid attribute type".into(),
                        )
                    })?;
                format!("OID.{oid}")
            }
        };
        let value = entry.data().to_string().map_err(|_| {
            CryptoError::Malformed(format!(
                "the certificate's subject attribute {label} is not a valid string"
            ))
        })?;
        parts.push(format!("{label}={}", quote(&value)));
    }
    parts.reverse();
    Ok(parts.join(", "))
}

/// A value as it is written in text: double-quoted when it holds characters that would otherwise be read as
/// syntax, or spaces at either end, or nothing.
fn quote(value: &str) -> String {
    let special = value.is_empty()
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace)
        || value
            .chars()
            .any(|c| matches!(c, ',' | ';' | '+' | '=' | '"' | '\\' | '<' | '>' | '#'));
    if special {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// The OpenSSL field name for a text attribute name.
fn openssl_field(name: &str) -> Result<String, CryptoError> {
    let upper = name.to_ascii_uppercase();
    if let Some((_, field)) = INPUT_NAMES.iter().find(|(n, _)| *n == upper) {
        return Ok((*field).to_string());
    }
    let dotted = upper.strip_prefix("OID.").unwrap_or(&upper);
    if dotted.starts_with(|c: char| c.is_ascii_digit()) {
        der::check_dotted_oid(dotted).map_err(|_| unknown_attribute(name))?;
        return Ok(dotted.to_string());
    }
    Err(unknown_attribute(name))
}

fn unknown_attribute(name: &str) -> CryptoError {
    CryptoError::Malformed(format!(
        "unknown subject attribute '{}'; supported: CN, O, OU, L, ST (or S), C, E, DC, STREET, SERIALNUMBER, T, \
         G, SN, I, UID, POSTALCODE and OID.<dotted number>",
        name.escape_default()
    ))
}

/// Why OpenSSL may have refused a value of `field`.
fn limits_hint(field: &str) -> &'static str {
    match field {
        "C" => " (C is a two-letter country code)",
        "CN" | "O" | "OU" => " (at most 64 characters)",
        "L" | "ST" | "emailAddress" => " (at most 128 characters)",
        _ => "",
    }
}

/// Splits the text into attributes, in text order.
fn split(text: &str) -> Result<Vec<Attribute>, CryptoError> {
    if text.len() > MAX_LEN {
        return Err(CryptoError::Malformed(format!(
            "the subject is longer than {MAX_LEN} bytes"
        )));
    }
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if is_separator(first) {
            // An empty component (a doubled or trailing separator) is skipped.
            chars.next();
            continue;
        }
        let mut name = String::new();
        loop {
            match chars.next() {
                Some('=') => break,
                Some(c) if is_separator(c) => return Err(missing_equals(&name)),
                Some(c) => name.push(c),
                None => return Err(missing_equals(&name)),
            }
        }
        let name = name.trim().to_string();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(CryptoError::Malformed(format!(
                "'{}' is not an attribute name in the subject; expected NAME=value, for example CN=www.contoso.com",
                name.escape_default()
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(CryptoError::Malformed(format!(
                            "the quoted value of the subject attribute {name} has no closing quote"
                        )))
                    }
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            match chars.next() {
                None => {}
                Some(c) if is_separator(c) => {}
                Some(_) => {
                    return Err(CryptoError::Malformed(format!(
                        "unexpected text after the quoted value of the subject attribute {name}; separate \
                         attributes with ',' or ';'"
                    )))
                }
            }
        } else {
            // Unescaped trailing spaces are not part of the value.
            let mut significant = 0;
            loop {
                match chars.next() {
                    None => break,
                    Some(c) if is_separator(c) => break,
                    Some('\\') => match chars.next() {
                        Some(c) => {
                            value.push(c);
                            significant = value.len();
                        }
                        None => {
                            return Err(CryptoError::Malformed(format!(
                                "the value of the subject attribute {name} ends with a lone '\\'"
                            )))
                        }
                    },
                    Some(c) => {
                        value.push(c);
                        if !c.is_whitespace() {
                            significant = value.len();
                        }
                    }
                }
            }
            value.truncate(significant);
        }
        if value.is_empty() {
            return Err(CryptoError::Malformed(format!(
                "the subject attribute {name} has an empty value"
            )));
        }
        out.push(Attribute { name, value });
    }
    Ok(out)
}

fn is_separator(c: char) -> bool {
    c == ',' || c == ';'
}

fn missing_equals(name: &str) -> CryptoError {
    CryptoError::Malformed(format!(
        "'{}' in the subject is not NAME=value; expected for example CN=www.contoso.com, O=Contoso",
        name.trim().escape_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(text: &str) -> Vec<(String, String)> {
        split(text)
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.value))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn splits_azure_subjects() {
        assert_eq!(
            attrs("CN=www.contoso.com, O=Contoso, OU=IT, L=Redmond, ST=WA, C=US"),
            pairs(&[
                ("CN", "www.contoso.com"),
                ("O", "Contoso"),
                ("OU", "IT"),
                ("L", "Redmond"),
                ("ST", "WA"),
                ("C", "US")
            ])
        );
        assert_eq!(
            attrs("  cn = a b ;O=x;;  DC=contoso ; DC=com ,"),
            pairs(&[("cn", "a b"), ("O", "x"), ("DC", "contoso"), ("DC", "com")])
        );
        assert_eq!(
            attrs(r#"CN=test, O="AT&T Services, Inc.", L=Dallas, S=Texas, C=US"#),
            pairs(&[
                ("CN", "test"),
                ("O", "AT&T Services, Inc."),
                ("L", "Dallas"),
                ("S", "Texas"),
                ("C", "US")
            ])
        );
        assert_eq!(
            attrs(r#"O="say ""hi""" , OU=a\, b\;c\\ , CN=x\ "#),
            pairs(&[("O", "say \"hi\""), ("OU", "a, b;c\\"), ("CN", "x ")])
        );
        assert!(attrs("").is_empty());
        assert!(attrs("  ").is_empty());
    }

    #[test]
    fn refuses_bad_subjects() {
        for (text, needle) in [
            ("www.contoso.com", "NAME=value"),
            ("CN", "NAME=value"),
            ("CN=a, O", "NAME=value"),
            ("CN=", "empty value"),
            ("CN=a, O=  ", "empty value"),
            ("=a", "not an attribute name"),
            ("C N=a", "not an attribute name"),
            ("CN=\"abc", "no closing quote"),
            ("CN=\"abc\" d", "unexpected text"),
            ("CN=abc\\", "lone"),
        ] {
            match split(text) {
                Err(CryptoError::Malformed(m)) => assert!(m.contains(needle), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        for (text, needle) in [
            ("XX=a", "unknown subject attribute 'XX'"),
            ("OID.1.2.x=a", "unknown subject attribute"),
            (
                "C=USA",
                "C=USA is not valid (C is a two-letter country code)",
            ),
            ("CN=a\u{7}b", "control character"),
        ] {
            match parse_subject(text) {
                Err(CryptoError::Malformed(m)) => assert!(m.contains(needle), "{text}: {m}"),
                Err(other) => panic!("{text}: {other:?}"),
                Ok(_) => panic!("{text}: accepted"),
            }
        }
        let long = format!("CN={}", "a".repeat(65));
        assert!(parse_subject(&long).is_err());
        let huge = format!("CN={}", "a".repeat(5000));
        assert!(parse_subject(&huge).is_err());
    }

    #[test]
    fn encodes_in_reverse_and_formats_back() {
        let name = parse_subject(
            "CN=www.contoso.com, O=Contoso, OU=IT, L=Redmond, ST=WA, C=US, E=admin@contoso.com, DC=contoso",
        )
        .unwrap();
        let nids: Vec<Nid> = name.entries().map(|e| e.object().nid()).collect();
        assert_eq!(nids.first(), Some(&Nid::DOMAINCOMPONENT));
        assert_eq!(nids.last(), Some(&Nid::COMMONNAME));
        assert_eq!(
            format_name(&name).unwrap(),
            "CN=www.contoso.com, O=Contoso, OU=IT, L=Redmond, ST=WA, C=US, E=admin@contoso.com, DC=contoso"
        );
    }

    #[test]
    fn aliases_and_oids() {
        let name = parse_subject(
            "s=WA; emailAddress=a@b.c; OID.2.5.4.15=Private; 2.5.4.97=VATDE-1; G=Ann",
        )
        .unwrap();
        assert_eq!(
            format_name(&name).unwrap(),
            "ST=WA, E=a@b.c, OID.2.5.4.15=Private, OID.2.5.4.97=VATDE-1, G=Ann"
        );
    }

    #[test]
    fn special_values_are_quoted_and_read_back() {
        for value in [
            "Contoso, Inc.",
            "a;b",
            " lead",
            "trail ",
            "say \"hi\"",
            "x=y",
            "a+b",
            "é ü 漢字",
        ] {
            let text = format!("O={}", quote(value));
            let name = parse_subject(&text).unwrap();
            let back = format_name(&name).unwrap();
            assert_eq!(back, text);
            assert_eq!(attrs(&back), pairs(&[("O", value)]));
        }
    }
}
