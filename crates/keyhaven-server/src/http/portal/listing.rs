//! Lists of objects as the portal shows them: a page of a kind's live or deleted objects whose names contain a
//! search text, and object counts, all through the domain's own paged listing (so the caller sees only what its
//! roles let it list).

use keyhaven_core::{Keyhaven, ObjectView, PageRequest, Principal, MAX_PAGE_SIZE};
use keyhaven_model::{ObjectKind, VaultName};

/// Objects counted at most for a vault's summary (more shows as `10000+`).
const COUNT_LIMIT: usize = 10_000;
/// Objects looked at, at most, for one page of search results (the page then links to the next).
const SCAN_LIMIT: usize = 5_000;

/// One page of a list.
pub(crate) struct Listed {
    pub items: Vec<ObjectView>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

/// Up to one page of `kind`'s objects (live, or deleted) whose names contain `q` (any case), after `after`.
pub(crate) fn page(
    kh: &Keyhaven,
    who: &Principal,
    vault: &VaultName,
    kind: ObjectKind,
    deleted: bool,
    q: Option<&str>,
    after: Option<String>,
) -> keyhaven_core::Result<Listed> {
    let needle = q.map(str::to_ascii_lowercase).filter(|s| !s.is_empty());
    let mut items = Vec::new();
    let mut after = after;
    let mut scanned = 0;
    loop {
        // Asking for no more than the page still needs keeps every match of a listing page on this page, so that
        // the listing's own continuation is exactly where the next page starts.
        let want = MAX_PAGE_SIZE - items.len();
        let p = kh.list_objects(
            who,
            vault,
            kind,
            deleted,
            &PageRequest {
                max: Some(want),
                after: after.take(),
            },
        )?;
        scanned += p.items.len().max(1);
        items.extend(p.items.into_iter().filter(|v| match &needle {
            Some(n) => v.name.to_ascii_lowercase().contains(n.as_str()),
            None => true,
        }));
        match p.next {
            Some(next) if items.len() < MAX_PAGE_SIZE && scanned < SCAN_LIMIT => after = Some(next),
            next => return Ok(Listed { items, next }),
        }
    }
}

/// How many live objects of `kind` the caller may list (`10000+` past the limit), or None when it may list none.
/// Counting makes no authorization decision of the request's own.
pub(crate) fn count(
    kh: &Keyhaven,
    who: &Principal,
    vault: &VaultName,
    kind: ObjectKind,
) -> Option<String> {
    let who = who.fresh();
    let mut n = 0;
    let mut after = None;
    loop {
        let p = kh
            .list_objects(
                &who,
                vault,
                kind,
                false,
                &PageRequest {
                    max: Some(MAX_PAGE_SIZE),
                    after,
                },
            )
            .ok()?;
        n += p.items.len();
        match p.next {
            Some(next) if n < COUNT_LIMIT => after = Some(next),
            Some(_) => return Some(format!("{COUNT_LIMIT}+")),
            None => return Some(n.to_string()),
        }
    }
}
