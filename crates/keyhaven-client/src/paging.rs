//! Listings, page by page: `{"value": [...], "nextLink": ...}`, following `nextLink` only on the vault listed.

use crate::transport::decode;
use crate::{ClientError, VaultClient};
use keyhaven_azure_api::ListResult;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// The pages of one listing. [`Pager::next_page`] fetches the next page; [`Pager::collect_all`] every item.
pub struct Pager<'a, T> {
    vault: &'a VaultClient,
    next: Option<Url>,
    item: PhantomData<fn() -> T>,
}

impl<'a, T: DeserializeOwned> Pager<'a, T> {
    pub(crate) fn new(vault: &'a VaultClient, first: Url) -> Self {
        Pager {
            vault,
            next: Some(first),
            item: PhantomData,
        }
    }

    /// The next page's items; `None` once the listing is done. A `nextLink` that leaves the vault is an error
    /// ([`ClientError::ForeignNextLink`]), and the listing ends there.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ClientError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let answer = self.vault.raw(Method::GET, &url, None).await?;
        let page: ListResult<T> = decode(&url, &answer)?;
        self.next = match page.next_link.as_deref() {
            Some(link) if !link.is_empty() => {
                Some(crate::hosts::next_link(&self.vault.base, link)?)
            }
            _ => None,
        };
        Ok(Some(page.value))
    }

    /// Every item of every page.
    pub async fn collect_all(mut self) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        while let Some(items) = self.next_page().await? {
            out.extend(items);
        }
        Ok(out)
    }
}
