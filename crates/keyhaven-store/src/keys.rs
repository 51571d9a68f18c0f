//! Building ordered storage keys from components. Components are joined by a 0x00 byte; callers guarantee that
//! components never contain 0x00 (names, versions and tags of the domain are printable ASCII).

/// Joins components into a key.
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(p);
    }
    out
}

/// The prefix that every key with these leading components starts with.
pub fn prefix(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = key(parts);
    k.push(0);
    k
}

/// The first key after every key that starts with `prefix` (for an exclusive scan end).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// The last component of a key.
pub fn last_component(key: &[u8]) -> &[u8] {
    match key.iter().rposition(|b| *b == 0) {
        Some(i) => &key[i + 1..],
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_component() {
        let p = prefix(&[b"obj", b"v1"]);
        let a = key(&[b"obj", b"v1", b"a"]);
        let other = key(&[b"obj", b"v10", b"a"]);
        assert!(a.starts_with(&p));
        assert!(!other.starts_with(&p));
        assert!(a < prefix_end(&p));
        assert!(other >= prefix_end(&p) || !other.starts_with(&p));
        assert_eq!(last_component(&a), b"a");
    }
}
