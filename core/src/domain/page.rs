//! Pagination: a window into a stably ordered list, and the page of results.

/// Why paging parameters are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// `limit` outside 1..=100.
    #[error("limit must be between 1 and 100")]
    Limit,
    /// `offset` below zero.
    #[error("offset must be zero or more")]
    Offset,
}

/// A window: `limit` items (1..=100) after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    /// The default number of items.
    pub const DEFAULT_LIMIT: i64 = 20;
    /// The most items one page may hold.
    pub const MAX_LIMIT: i64 = 100;

    /// Checks the bounds.
    ///
    /// # Errors
    /// [`PageError`] when `limit` is not in 1..=100 or `offset` is negative.
    pub fn new(limit: i64, offset: i64) -> Result<Self, PageError> {
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(PageError::Limit);
        }
        if offset < 0 {
            return Err(PageError::Offset);
        }
        Ok(Self { limit, offset })
    }

    /// How many items at most.
    pub const fn limit(&self) -> i64 {
        self.limit
    }

    /// How many items are skipped.
    pub const fn offset(&self) -> i64 {
        self.offset
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    /// The items in this window.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: i64,
    /// The window asked for.
    pub page: Page,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_run_from_one_to_a_hundred_and_offsets_from_zero() {
        assert_eq!(Page::new(0, 0), Err(PageError::Limit));
        assert_eq!(Page::new(101, 0), Err(PageError::Limit));
        assert_eq!(Page::new(1, -1), Err(PageError::Offset));
        let page = Page::new(100, 5).unwrap();
        assert_eq!((page.limit(), page.offset()), (100, 5));
    }

    #[test]
    fn the_default_page_is_the_first_twenty() {
        assert_eq!(Page::default(), Page::new(20, 0).unwrap());
    }
}
