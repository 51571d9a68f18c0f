//! Role definitions and role assignments, in the shapes of Azure's RBAC API (`rbac.json`):
//!
//! - at deployment scope (every vault), through the management API: `/_keyhaven/roleDefinitions` and
//!   `/_keyhaven/roleAssignments` on [`Client`] (whose listing of assignments covers every scope of the
//!   deployment);
//! - at a vault's scopes, through the RBAC API on the vault's host, on [`VaultClient`]:
//!   `/{scope}/providers/Microsoft.Authorization/{roleDefinitions|roleAssignments}`, the scope relative to the vault:
//!   `/` (the vault), `/keys`, `/secrets`, `/certificates`, or one object (`/secrets/{name}`).

use crate::transport::{decode, json_body};
use crate::vault::segment;
use crate::{Client, ClientError, Pager, VaultClient};
use keyhaven_azure_api::rbac::{
    RoleAssignment, RoleAssignmentCreateParameters, RoleDefinition, RoleDefinitionCreateParameters,
};
use keyhaven_azure_api::ListResult;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

const PROVIDER: [&str; 2] = ["providers", "Microsoft.Authorization"];
const DEFINITIONS: &str = "roleDefinitions";
const ASSIGNMENTS: &str = "roleAssignments";

/// Which role assignments a listing returns (the RBAC API's `$filter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleAssignmentFilter {
    /// Only those at the listed scope or above it (`atScope()`), not those inside it.
    pub at_scope: bool,
    /// Only those of this principal, by object id (`assignedTo('{objectId}')`).
    pub assigned_to: Option<String>,
}

impl RoleAssignmentFilter {
    /// The `$filter` expression, if any.
    pub fn expression(&self) -> Option<String> {
        let mut terms = Vec::new();
        if self.at_scope {
            terms.push("atScope()".to_string());
        }
        if let Some(p) = &self.assigned_to {
            terms.push(format!("assignedTo('{}')", quoted(p)));
        }
        (!terms.is_empty()).then(|| terms.join(" and "))
    }
}

/// A string inside OData quotes (a quote is doubled).
fn quoted(s: &str) -> String {
    s.replace('\'', "''")
}

/// The `$filter` of a role definition listing by name.
fn role_name_filter(role_name: Option<&str>) -> Option<String> {
    role_name.map(|n| format!("roleName eq '{}'", quoted(n)))
}

/// A role definition's or assignment's name as a path segment: its GUID, or an id ending in `/{guid}` (as listings
/// return them).
fn name_segment<'a>(what: &str, name: &'a str) -> Result<&'a str, ClientError> {
    let name = name.trim().trim_end_matches('/');
    segment(what, name.rsplit('/').next().unwrap_or(name))
}

/// The path segments of an RBAC scope relative to a vault: none for `/` (the vault), `/keys` and
/// `/secrets/{name}` as their segments. Anything that is not one or two plain segments is refused before a request
/// is made.
pub(crate) fn scope_segments(scope: &str) -> Result<Vec<&str>, ClientError> {
    let parts: Vec<&str> = scope.trim().split('/').filter(|s| !s.is_empty()).collect();
    let bad = || {
        ClientError::InvalidArgument(format!(
            "'{scope}' is not a scope of a vault: use /, /keys, /secrets, /certificates, or one object such as \
             /secrets/NAME"
        ))
    };
    if parts.len() > 2
        || parts
            .iter()
            .any(|p| *p == "." || *p == ".." || p.eq_ignore_ascii_case("providers"))
    {
        return Err(bad());
    }
    Ok(parts)
}

/// `scope`'s segments followed by `rest`.
fn rbac_path<'a>(scope: &'a str, rest: &[&'a str]) -> Result<Vec<&'a str>, ClientError> {
    let mut segs = scope_segments(scope)?;
    segs.extend(PROVIDER);
    segs.extend(rest);
    Ok(segs)
}

/// `base` with the RBAC API's path at `scope`. The vault's own scope (`/`) makes the path `//providers/…`, as
/// Azure's SDKs write it (`{vaultUrl}/{scope}/providers/…` with the scope `/`).
fn rbac_url_on(base: &Url, scope: &str, rest: &[&str]) -> Result<Url, ClientError> {
    let segs = rbac_path(scope, rest)?;
    let mut url = crate::join_segments(base, &segs);
    if segs.len() == PROVIDER.len() + rest.len() {
        let path = format!("/{}", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl Client {
    /// Every item of a management listing, following `nextLink` only on this server.
    async fn management_list<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        filter: Option<&str>,
    ) -> Result<Vec<T>, ClientError> {
        let mut url = self.management_url(segments);
        if let Some(f) = filter {
            url.query_pairs_mut().append_pair("$filter", f);
        }
        let mut next = Some(url);
        let mut out = Vec::new();
        while let Some(url) = next.take() {
            let answer = self.management(Method::GET, &url, None).await?;
            let page: ListResult<T> = decode(&url, &answer)?;
            out.extend(page.value);
            next = match page.next_link.as_deref() {
                Some(link) if !link.is_empty() => {
                    Some(crate::hosts::next_link(&self.server, link)?)
                }
                _ => None,
            };
        }
        Ok(out)
    }

    /// `GET /_keyhaven/roleDefinitions`: every role that may be assigned (built in and custom); only the one of
    /// that name with `role_name` (compared without case).
    pub async fn list_role_definitions(
        &self,
        role_name: Option<&str>,
    ) -> Result<Vec<RoleDefinition>, ClientError> {
        self.management_list(
            &["_keyhaven", DEFINITIONS],
            role_name_filter(role_name).as_deref(),
        )
        .await
    }

    /// `PUT /_keyhaven/roleDefinitions/{name}`: creates or replaces a custom role (`name` is its GUID).
    pub async fn set_role_definition(
        &self,
        name: &str,
        params: &RoleDefinitionCreateParameters,
    ) -> Result<RoleDefinition, ClientError> {
        let body = json_body(params)?;
        self.management_json(
            Method::PUT,
            &[
                "_keyhaven",
                DEFINITIONS,
                name_segment("role definition name", name)?,
            ],
            Some(&body),
        )
        .await
    }

    /// `DELETE /_keyhaven/roleDefinitions/{name}`: deletes a custom role no assignment uses.
    pub async fn delete_role_definition(&self, name: &str) -> Result<RoleDefinition, ClientError> {
        self.management_json(
            Method::DELETE,
            &[
                "_keyhaven",
                DEFINITIONS,
                name_segment("role definition name", name)?,
            ],
            None,
        )
        .await
    }

    /// `GET /_keyhaven/roleAssignments`: the assignments of the whole deployment, at every scope (their `scope`
    /// is `/` for the deployment, `/vaults/{vault}[/…]` otherwise); with `at_scope`, only those at deployment
    /// scope.
    pub async fn list_role_assignments(
        &self,
        filter: &RoleAssignmentFilter,
    ) -> Result<Vec<RoleAssignment>, ClientError> {
        self.management_list(&["_keyhaven", ASSIGNMENTS], filter.expression().as_deref())
            .await
    }

    /// `GET /_keyhaven/roleAssignments/{name}`: any assignment of the deployment, by name.
    pub async fn get_role_assignment(&self, name: &str) -> Result<RoleAssignment, ClientError> {
        self.management_json(
            Method::GET,
            &[
                "_keyhaven",
                ASSIGNMENTS,
                name_segment("role assignment name", name)?,
            ],
            None,
        )
        .await
    }

    /// `PUT /_keyhaven/roleAssignments/{name}`: assigns a role at deployment scope (every vault). `name` is a
    /// fresh GUID of the caller's choosing (the same name and properties again is not an error).
    pub async fn create_role_assignment(
        &self,
        name: &str,
        params: &RoleAssignmentCreateParameters,
    ) -> Result<RoleAssignment, ClientError> {
        let body = json_body(params)?;
        self.management_json(
            Method::PUT,
            &[
                "_keyhaven",
                ASSIGNMENTS,
                name_segment("role assignment name", name)?,
            ],
            Some(&body),
        )
        .await
    }

    /// `DELETE /_keyhaven/roleAssignments/{name}`: removes any assignment of the deployment, by name. Returns it
    /// as it was.
    pub async fn delete_role_assignment(&self, name: &str) -> Result<RoleAssignment, ClientError> {
        self.management_json(
            Method::DELETE,
            &[
                "_keyhaven",
                ASSIGNMENTS,
                name_segment("role assignment name", name)?,
            ],
            None,
        )
        .await
    }
}

impl VaultClient {
    /// A request URL of the RBAC API at `scope`.
    fn rbac_url(
        &self,
        scope: &str,
        rest: &[&str],
        filter: Option<&str>,
    ) -> Result<Url, ClientError> {
        let mut url = rbac_url_on(&self.base, scope, rest)?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(f) = filter {
                q.append_pair("$filter", f);
            }
            q.append_pair("api-version", keyhaven_azure_api::API_VERSION);
        }
        Ok(url)
    }

    async fn rbac_call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<T, ClientError> {
        let answer = self.raw(method, url, body).await?;
        decode(url, &answer)
    }

    /// `GET /{scope}/providers/Microsoft.Authorization/roleDefinitions`: the roles that may be assigned at `scope`
    /// (`/` for the vault); only the one of that name with `role_name`.
    pub fn list_role_definitions(
        &self,
        scope: &str,
        role_name: Option<&str>,
    ) -> Result<Pager<'_, RoleDefinition>, ClientError> {
        let url = self.rbac_url(
            scope,
            &[DEFINITIONS],
            role_name_filter(role_name).as_deref(),
        )?;
        Ok(Pager::new(self, url))
    }

    /// `GET …/roleDefinitions/{name}`.
    pub async fn get_role_definition(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<RoleDefinition, ClientError> {
        let url = self.rbac_url(
            scope,
            &[DEFINITIONS, name_segment("role definition name", name)?],
            None,
        )?;
        self.rbac_call(Method::GET, &url, None).await
    }

    /// `PUT …/roleDefinitions/{name}`: creates or replaces a custom role (`name` is its GUID).
    pub async fn set_role_definition(
        &self,
        scope: &str,
        name: &str,
        params: &RoleDefinitionCreateParameters,
    ) -> Result<RoleDefinition, ClientError> {
        let url = self.rbac_url(
            scope,
            &[DEFINITIONS, name_segment("role definition name", name)?],
            None,
        )?;
        let body = json_body(params)?;
        self.rbac_call(Method::PUT, &url, Some(&body)).await
    }

    /// `DELETE …/roleDefinitions/{name}`.
    pub async fn delete_role_definition(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<RoleDefinition, ClientError> {
        let url = self.rbac_url(
            scope,
            &[DEFINITIONS, name_segment("role definition name", name)?],
            None,
        )?;
        self.rbac_call(Method::DELETE, &url, None).await
    }

    /// `GET /{scope}/providers/Microsoft.Authorization/roleAssignments`: the assignments at `scope`, above it in
    /// the vault and (unless `filter.at_scope`) inside it; deployment-wide ones are listed by
    /// [`Client::list_role_assignments`](crate::Client::list_role_assignments).
    pub fn list_role_assignments(
        &self,
        scope: &str,
        filter: &RoleAssignmentFilter,
    ) -> Result<Pager<'_, RoleAssignment>, ClientError> {
        let url = self.rbac_url(scope, &[ASSIGNMENTS], filter.expression().as_deref())?;
        Ok(Pager::new(self, url))
    }

    /// `GET …/roleAssignments/{name}`: an assignment at `scope` or inside it.
    pub async fn get_role_assignment(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<RoleAssignment, ClientError> {
        let url = self.rbac_url(
            scope,
            &[ASSIGNMENTS, name_segment("role assignment name", name)?],
            None,
        )?;
        self.rbac_call(Method::GET, &url, None).await
    }

    /// `PUT …/roleAssignments/{name}`: assigns a role at `scope`. `name` is a fresh GUID of the caller's choosing.
    pub async fn create_role_assignment(
        &self,
        scope: &str,
        name: &str,
        params: &RoleAssignmentCreateParameters,
    ) -> Result<RoleAssignment, ClientError> {
        let url = self.rbac_url(
            scope,
            &[ASSIGNMENTS, name_segment("role assignment name", name)?],
            None,
        )?;
        let body = json_body(params)?;
        self.rbac_call(Method::PUT, &url, Some(&body)).await
    }

    /// `DELETE …/roleAssignments/{name}`: removes an assignment at `scope` or inside it. Returns it as it was.
    pub async fn delete_role_assignment(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<RoleAssignment, ClientError> {
        let url = self.rbac_url(
            scope,
            &[ASSIGNMENTS, name_segment("role assignment name", name)?],
            None,
        )?;
        self.rbac_call(Method::DELETE, &url, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_of(scope: &str, rest: &[&str]) -> String {
        let base = Url::parse("https://payments.vault.example.com:8443/").unwrap_or_else(|e| {
            unreachable!("{e}");
        });
        rbac_url_on(&base, scope, rest)
            .unwrap_or_else(|e| unreachable!("{scope}: {e}"))
            .to_string()
    }

    #[test]
    fn scopes_become_paths_as_azure_writes_them() {
        let p = "providers/Microsoft.Authorization";
        assert_eq!(
            url_of("/", &[ASSIGNMENTS]),
            format!("https://payments.vault.example.com:8443//{p}/roleAssignments")
        );
        assert_eq!(url_of("", &[ASSIGNMENTS]), url_of("/", &[ASSIGNMENTS]));
        assert_eq!(
            url_of("/keys", &[DEFINITIONS]),
            format!("https://payments.vault.example.com:8443/keys/{p}/roleDefinitions")
        );
        assert_eq!(
            url_of("secrets/db-password/", &[ASSIGNMENTS, "abc"]),
            format!(
                "https://payments.vault.example.com:8443/secrets/db-password/{p}/roleAssignments/abc"
            )
        );
        for bad in [
            "/secrets/a/b",
            "/secrets/..",
            "/./keys",
            "/providers",
            "/keys/x/providers/Microsoft.Authorization",
        ] {
            assert!(
                matches!(scope_segments(bad), Err(ClientError::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_and_names() {
        assert_eq!(RoleAssignmentFilter::default().expression(), None);
        assert_eq!(
            RoleAssignmentFilter {
                at_scope: true,
                assigned_to: Some("o'id".into())
            }
            .expression()
            .as_deref(),
            Some("atScope() and assignedTo('o''id')")
        );
        assert_eq!(
            role_name_filter(Some("Key Vault Reader")).as_deref(),
            Some("roleName eq 'Key Vault Reader'")
        );
        let guid = "4633458b-17de-408a-b874-0445c86b69e6";
        for n in [
            guid.to_string(),
            format!("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
            format!("/secrets/x/providers/Microsoft.Authorization/roleAssignments/{guid}/"),
        ] {
            assert_eq!(name_segment("name", &n).ok(), Some(guid), "{n}");
        }
        assert!(name_segment("name", "..").is_err());
        assert!(name_segment("name", "").is_err());
    }
}
