/// The most items one page holds (Azure's `maxresults` limit).
pub const MAX_PAGE_SIZE: usize = 25;

/// Which page to read: at most `max` items after the item named by `after` (an opaque continuation).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub max: Option<usize>,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn size(&self) -> usize {
        self.max.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
    }
}

/// One page of results; `next` continues after the last item when more remain.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}
