//! Writing HTML safely: every piece of outside text passes [`esc`] (or [`attr`]) on its way into a page, and every
//! page is one [`page`] around its body, with the same header, navigation and assets.

use std::fmt::Write;

/// `s` as HTML text or a double-quoted attribute value: `& < > " '` escaped.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` as one URL path segment (everything but unreserved characters percent-encoded), ready for an attribute.
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `s` as a query value.
pub(crate) fn query_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A Unix time as `2026-01-31 13:07:03 UTC`; `—` for none.
pub(crate) fn time(t: Option<i64>) -> String {
    match t {
        Some(t) => {
            let s = keyhaven_model::time::rfc3339_millis(t.saturating_mul(1000));
            format!(
                "{} {} UTC",
                s.get(..10).unwrap_or_default(),
                s.get(11..19).unwrap_or_default()
            )
        }
        None => "—".to_string(),
    }
}

/// The signed-in caller shown in the header, with what the Sign out form needs.
pub(crate) struct Chrome<'a> {
    pub client_id: &'a str,
    pub csrf: &'a str,
}

/// A hidden input carrying the session's CSRF token: the first field of every form.
pub(crate) fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// One breadcrumb: its text, and its link unless it is the current page.
pub(crate) type Crumb = (String, Option<String>);

/// A whole page: `title` (plain text), breadcrumbs, and `body` (already HTML).
pub(crate) fn page(title: &str, crumbs: &[Crumb], chrome: Option<&Chrome>, body: &str) -> String {
    let mut nav = String::new();
    if !crumbs.is_empty() {
        nav.push_str(r#"<nav aria-label="Breadcrumb" class="crumbs"><ol>"#);
        for (text, link) in crumbs {
            match link {
                Some(href) => {
                    let _ = write!(nav, r#"<li><a href="{}">{}</a></li>"#, esc(href), esc(text));
                }
                None => {
                    let _ = write!(nav, r#"<li aria-current="page">{}</li>"#, esc(text));
                }
            }
        }
        nav.push_str("</ol></nav>");
    }
    let who = match chrome {
        Some(c) => format!(
            r#"<div class="who"><span>Signed in as <strong>{}</strong></span><form method="post" action="/portal/signout" class="inline">{}<button type="submit">Sign out</button></form></div>"#,
            esc(c.client_id),
            csrf_field(c.csrf)
        ),
        None => String::new(),
    };
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Keyhaven</title>
<link rel="stylesheet" href="/portal/app.css">
<script src="/portal/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="/portal/">Keyhaven</a>{who}</header>
{nav}
<main id="main" tabindex="-1">
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"##,
        title = esc(title),
    )
}

/// A message box: `role="alert"` for errors, `role="status"` for news.
pub(crate) fn notice(error: bool, text: &str) -> String {
    if error {
        format!(
            r#"<div class="notice error" role="alert">{}</div>"#,
            esc(text)
        )
    } else {
        format!(
            r#"<div class="notice ok" role="status">{}</div>"#,
            esc(text)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(esc("plain-name_1"), "plain-name_1");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("a b/c?\"<"), "a%20b%2Fc%3F%22%3C");
        assert_eq!(seg("db-password"), "db-password");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(time(Some(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(time(None), "—");
    }
}
