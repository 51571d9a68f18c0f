/// The most items one page holds (Azure's `maxresults` limit).
pub const MAX_PAGE_SIZE: usize = 25;

/// Which page to read: at most `max` items after the item named by `after` (an opaque continuation).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// The most items wanted: at most [`MAX_PAGE_SIZE`], which is also the default.
    pub max: Option<usize>,
    /// The continuation a previous page returned as its `next`; none for the first page.
    pub after: Option<String>,
}

impl PageRequest {
    /// How many items the page holds at most: `max` held within 1..=[`MAX_PAGE_SIZE`], or [`MAX_PAGE_SIZE`].
    pub fn size(&self) -> usize {
        self.max.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
    }
}

/// One page of results; `next` continues after the last item when more remain.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, in listing order.
    pub items: Vec<T>,
    /// The continuation to pass as [`PageRequest::after`] for the next page; none on the last page.
    pub next: Option<String>,
}
