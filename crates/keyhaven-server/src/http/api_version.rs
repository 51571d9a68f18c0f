//! Which data-plane api-versions are served: 7.0 onwards (`7.5`, `7.6`, `7.6-preview.2`, …) and the date-named
//! versions that followed 7.6 (`2025-07-01`, `2026-03-01-preview`, …), and the two generally available versions
//! before 7.0 (`2015-06-01`, `2016-10-01`) that older SDKs still send and Azure still answers (their shapes are
//! subsets of today's). Other dated versions before 2025 and anything that is not a version are refused. Newer versions than the specs Keyhaven follows
//! (7.5, 7.6, 2025-07-01) are served as the newest of them: their new fields are added to requests, and a request
//! field Keyhaven does not know is ignored only where it cannot change what the request means.

/// The first date-named version (Azure's successor to 7.6).
const FIRST_DATED: (u32, u32, u32) = (2025, 1, 1);

/// Whether `v` names a data-plane api-version this server answers.
pub(crate) fn is_supported(v: &str) -> bool {
    let (base, preview) = match v.split_once("-preview") {
        Some((base, rest)) => (base, Some(rest)),
        None => (v, None),
    };
    let preview_ok = match preview {
        None | Some("") => true,
        Some(rest) => rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
    };
    preview_ok && (numbered(base) || dated(base) || (preview.is_none() && EARLY.contains(&base)))
}

/// The generally available versions before 7.0.
const EARLY: [&str; 2] = ["2015-06-01", "2016-10-01"];

/// `7.0` … `7.6` and later minors, or a later major (`8.0`).
fn numbered(v: &str) -> bool {
    let Some((major, minor)) = v.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor) && major.parse::<u32>().is_ok_and(|m| m >= 7)
}

/// `YYYY-MM-DD` from [`FIRST_DATED`] on.
fn dated(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    match (num(y, 4), num(m, 2), num(d, 2)) {
        (Some(y), Some(m), Some(d)) => {
            (1..=12).contains(&m) && (1..=31).contains(&d) && (y, m, d) >= FIRST_DATED
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_supported;

    #[test]
    fn seven_onwards_and_dated_versions_are_served() {
        for v in [
            "7.0",
            "7.4",
            "7.5",
            "7.6",
            "7.6-preview.2",
            "7.3-preview",
            "2025-07-01",
            "2026-03-01-preview",
            "2026-04-01",
            "2016-10-01",
            "2015-06-01",
        ] {
            assert!(is_supported(v), "{v}");
        }
    }

    #[test]
    fn older_and_malformed_versions_are_refused() {
        for v in [
            "2016-10-01-preview",
            "2016-09-01",
            "2024-12-31",
            "6.0",
            "1",
            "7",
            "7.x",
            "latest",
            "7.5-beta",
            "7.6-preview.",
            "2025-13-01",
            "2025-7-01",
            "",
        ] {
            assert!(!is_supported(v), "{v}");
        }
    }
}
