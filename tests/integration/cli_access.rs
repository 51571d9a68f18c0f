//! Principals and role assignments made with the `keyhaven` CLI, and what they let an application do through the
//! official Azure SDK (with the credential the CLI printed) and raw HTTP with its tokens: refused (`403`,
//! `ForbiddenByRbac`) without a role, one secret and not the next with a role on that secret, every vault's
//! metadata and no value with Key Vault Reader at deployment scope; revoked (`401`) tokens once their secret or
//! principal is gone.

use crate::sdk::{client_options, status};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::Secret;
use azure_core::error::ErrorResponse;
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use keyhaven_testkit::TestServer;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The credential `principal create -o json` prints.
struct Created {
    json: Value,
}

impl Created {
    fn get(&self, k: &str) -> &str {
        self.json[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {}", self.json))
    }
}

/// Runs the CLI against `ts` as the holder of the credential file `cred`.
async fn keyhaven(ts: &TestServer, cred: &Path, args: &[&str]) -> (i32, String, String) {
    let server = ts.authority();
    let ca = ts.ca_file();
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--server",
        &server,
        "--ca-file",
        ca.to_str().unwrap(),
        "--credential-file",
        cred.to_str().unwrap(),
    ]);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(&all)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn admin(ts: &TestServer) -> PathBuf {
    ts.data_dir().join("admin-credential.json")
}

/// The CLI as the admin; the command must succeed. Its standard output.
async fn ok(ts: &TestServer, args: &[&str]) -> String {
    let (code, out, err) = keyhaven(ts, &admin(ts), args).await;
    assert_eq!(code, 0, "keyhaven {args:?}: {err}");
    out
}

/// The CLI as the admin, with `-o json`; its output parsed.
async fn ok_json(ts: &TestServer, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = ok(ts, &all).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("keyhaven {args:?}: {e}: {out}"))
}

async fn create_principal(ts: &TestServer, name: &str) -> Created {
    let json = ok_json(ts, &["principal", "create", "--display-name", name]).await;
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "clientId",
        "objectId",
        "clientSecret",
        "tenantId",
        "authorityHost",
        "displayName",
    ] {
        assert!(
            json[k].as_str().is_some_and(|v| !v.is_empty()),
            "{k}: {json}"
        );
    }
    for k in &keys {
        assert!(
            [
                "clientId",
                "objectId",
                "clientSecret",
                "tenantId",
                "authorityHost",
                "displayName",
                "secretId",
                "secretExpires"
            ]
            .contains(k),
            "unexpected {k}"
        );
    }
    assert_eq!(json["displayName"], name);
    assert_eq!(json["authorityHost"], ts.authority());
    assert_eq!(json["tenantId"], ts.admin.tenant_id.as_str());
    Created { json }
}

/// The official SDK's client of `vault`, authenticated with a client secret of a principal.
fn sdk_as(ts: &TestServer, vault: &str, client_id: &str, secret: &str) -> SecretClient {
    let mut co = client_options(ts, vault);
    let mut cc = CustomConfiguration::default();
    cc.authority_host = ts.authority();
    co.cloud = Some(Arc::new(CloudConfiguration::from(cc)));
    let mut opts = ClientSecretCredentialOptions::default();
    opts.client_options = co;
    let cred = ClientSecretCredential::new(
        &ts.admin.tenant_id,
        client_id.to_string(),
        Secret::new(secret.to_string()),
        Some(opts),
    )
    .unwrap();
    let mut o = SecretClientOptions::default();
    o.client_options = client_options(ts, vault);
    SecretClient::new(&ts.vault_url(vault), cred, Some(o)).unwrap()
}

fn sdk_of(ts: &TestServer, vault: &str, p: &Created) -> SecretClient {
    sdk_as(ts, vault, p.get("clientId"), p.get("clientSecret"))
}

/// Asserts that an SDK call was refused by role-based access: `403` with `innererror.code` `ForbiddenByRbac`.
fn assert_forbidden_by_rbac(e: azure_core::Error, what: &str) {
    assert_eq!(status(&e), 403, "{what}: {e}");
    let body = ErrorResponse::try_from(e).unwrap_or_else(|e| panic!("{what}: no error body: {e}"));
    let inner = body
        .error
        .and_then(|d| d.inner_error)
        .and_then(|i| i.code)
        .unwrap_or_default();
    assert_eq!(inner, "ForbiddenByRbac", "{what}");
}

async fn set_secret(ts: &TestServer, vault: &str, name: &str, value: &str) {
    let mut p = SetSecretParameters::default();
    p.value = Some(value.into());
    crate::sdk::secret_client(ts, vault)
        .set_secret(name, p.try_into().unwrap(), None)
        .await
        .unwrap();
}

/// A token for the vaults with a principal's client secret, from the server's token endpoint; the HTTP status
/// when refused.
async fn vault_token(ts: &TestServer, client_id: &str, secret: &str) -> Result<String, u16> {
    let resp = ts
        .http(&[])
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            ts.authority(),
            ts.admin.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            (
                "scope",
                &format!("https://vault.localhost:{}/.default", ts.port()),
            ),
        ])
        .send()
        .await
        .unwrap();
    if !resp.status().is_success() {
        return Err(resp.status().as_u16());
    }
    let v: Value = resp.json().await.unwrap();
    Ok(v["access_token"].as_str().unwrap().to_string())
}

/// The status of reading a secret's value with a bearer token.
async fn read_status(ts: &TestServer, token: &str, vault: &str, name: &str) -> u16 {
    ts.http(&[vault])
        .get(format!(
            "{}/secrets/{name}?api-version=7.5",
            ts.vault_url(vault)
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The assignments `role assignment list` prints with these arguments.
async fn assignments(ts: &TestServer, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["role", "assignment", "list"];
    all.extend(args);
    ok_json(ts, &all).await.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_assigned_with_the_cli_decide_what_a_new_principal_may_do() {
    let ts = TestServer::start().await;
    set_secret(&ts, "default", "one", "value-one").await;
    set_secret(&ts, "default", "two", "value-two").await;

    let app = create_principal(&ts, "payments-api").await;
    let (client_id, object_id) = (app.get("clientId"), app.get("objectId"));
    let first_secret = app.get("clientSecret");
    let first_secret_id = app.get("secretId");

    // Authenticated, but no role yet: refused by role-based access.
    let c = sdk_of(&ts, "default", &app);
    let e = c.get_secret("one", None).await.unwrap_err();
    assert_forbidden_by_rbac(e, "reading before any assignment");

    // Key Vault Secrets User on one secret (the principal named by its client id).
    let a = ok_json(
        &ts,
        &[
            "role",
            "assignment",
            "create",
            "--role",
            "Key Vault Secrets User",
            "--assignee",
            client_id,
            "--vault-name",
            "default",
            "--scope",
            "/secrets/one",
        ],
    )
    .await;
    let assignment = a["name"].as_str().unwrap().to_string();
    assert_eq!(a["principalId"], object_id, "{a}");
    assert_eq!(a["scope"], "/secrets/one", "{a}");
    assert_eq!(a["roleName"], "Key Vault Secrets User", "{a}");
    assert!(
        a["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with("/4633458b-17de-408a-b874-0445c86b69e6"),
        "{a}"
    );

    let got = c
        .get_secret("one", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.value.as_deref(), Some("value-one"));
    let e = c.get_secret("two", None).await.unwrap_err();
    assert_forbidden_by_rbac(e, "a secret outside the assignment's scope");

    // Listed in the vault (by assignee) and in the deployment's listing, with the vault in its scope.
    let listed = assignments(&ts, &["--vault-name", "default", "--assignee", client_id]).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], assignment.as_str());
    assert_eq!(listed[0]["principalName"], "payments-api");
    let everywhere = assignments(&ts, &["--assignee", object_id]).await;
    assert_eq!(everywhere.len(), 1, "{everywhere:?}");
    assert_eq!(everywhere[0]["scope"], "/vaults/default/secrets/one");
    let table = ok(
        &ts,
        &[
            "role",
            "assignment",
            "list",
            "--vault-name",
            "default",
            "-o",
            "table",
        ],
    )
    .await;
    assert!(
        table.contains(&assignment) && table.contains("Key Vault Secrets User"),
        "{table}"
    );

    // Deleted: refused again.
    ok(
        &ts,
        &[
            "role",
            "assignment",
            "delete",
            "--id",
            &assignment,
            "--vault-name",
            "default",
            "--scope",
            "/secrets/one",
        ],
    )
    .await;
    let e = c.get_secret("one", None).await.unwrap_err();
    assert_forbidden_by_rbac(e, "reading after the assignment was deleted");
    assert!(assignments(&ts, &["--assignee", client_id])
        .await
        .is_empty());

    // Secrets User on every secret of the vault, then a second client secret: both work.
    ok(
        &ts,
        &[
            "role",
            "assignment",
            "create",
            "--role",
            "key vault secrets user",
            "--assignee",
            object_id,
            "--vault-name",
            "default",
            "--scope",
            "secrets",
        ],
    )
    .await;
    let second = ok_json(&ts, &["principal", "secret", "add", "--id", client_id]).await;
    let second_secret = second["clientSecret"].as_str().unwrap().to_string();
    let second_secret_id = second["secretId"].as_str().unwrap().to_string();
    assert_eq!(second["clientId"], client_id);
    assert_ne!(second_secret_id, first_secret_id);
    let got = sdk_as(&ts, "default", client_id, &second_secret)
        .get_secret("two", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.value.as_deref(), Some("value-two"));
    let shown = ok_json(&ts, &["principal", "show", "--id", object_id]).await;
    let ids: Vec<&str> = shown["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["secretId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{shown}");
    assert!(ids.contains(&first_secret_id) && ids.contains(&second_secret_id.as_str()));
    assert!(
        !shown.to_string().contains(first_secret),
        "no secret is listed"
    );

    // Removing the first secret revokes the token obtained with it, on its next request.
    let first_token = vault_token(&ts, client_id, first_secret).await.unwrap();
    let second_token = vault_token(&ts, client_id, &second_secret).await.unwrap();
    assert_eq!(read_status(&ts, &first_token, "default", "one").await, 200);
    ok(
        &ts,
        &[
            "principal",
            "secret",
            "remove",
            "--id",
            client_id,
            "--secret-id",
            first_secret_id,
        ],
    )
    .await;
    assert_eq!(read_status(&ts, &first_token, "default", "one").await, 401);
    assert!(vault_token(&ts, client_id, first_secret).await.is_err());
    assert_eq!(read_status(&ts, &second_token, "default", "one").await, 200);

    // Deleting the principal revokes the rest, and its assignments go with it.
    ok(&ts, &["principal", "delete", "--id", object_id]).await;
    assert_eq!(read_status(&ts, &second_token, "default", "one").await, 401);
    assert!(vault_token(&ts, client_id, &second_secret).await.is_err());
    assert!(assignments(&ts, &["--assignee-object-id", object_id])
        .await
        .is_empty());
    let (code, _, err) =
        keyhaven(&ts, &admin(&ts), &["principal", "show", "--id", client_id]).await;
    assert_eq!(code, 1);
    assert!(err.contains("PrincipalNotFound"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_scope_reader_lists_every_vault_and_reads_no_value() {
    let ts = TestServer::start().await;
    ts.create_vault("second").await;
    set_secret(&ts, "default", "in-default", "d").await;
    set_secret(&ts, "second", "in-second", "s").await;

    // The built-in roles, at deployment scope and at a vault's.
    for args in [
        vec!["role", "definition", "list"],
        vec!["role", "definition", "list", "--vault-name", "second"],
    ] {
        let defs = ok_json(&ts, &args).await;
        let names: Vec<&str> = defs
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["roleName"].as_str().unwrap())
            .collect();
        for role in [
            "Keyhaven Backup Operator",
            "Key Vault Administrator",
            "Key Vault Reader",
            "Key Vault Secrets User",
            "Key Vault Data Access Administrator",
        ] {
            assert!(names.contains(&role), "{role} in {names:?}");
        }
    }
    let table = ok(&ts, &["role", "definition", "list", "-o", "table"]).await;
    assert!(table.contains("Keyhaven Backup Operator"), "{table}");

    let reader = create_principal(&ts, "auditor").await;
    // A scope needs a vault: refused before anything is assigned.
    let (code, _, err) = keyhaven(
        &ts,
        &admin(&ts),
        &[
            "role",
            "assignment",
            "create",
            "--role",
            "Key Vault Reader",
            "--assignee",
            reader.get("clientId"),
            "--scope",
            "/secrets",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("--vault-name"), "{err}");
    let (code, _, err) = keyhaven(
        &ts,
        &admin(&ts),
        &[
            "role",
            "assignment",
            "create",
            "--role",
            "Key Vault Readers",
            "--assignee",
            reader.get("clientId"),
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("\"Key Vault Reader\""),
        "the roles are listed: {err}"
    );
    assert!(assignments(&ts, &["--assignee", reader.get("clientId")])
        .await
        .is_empty());

    // Key Vault Reader at deployment scope (no --vault-name), the role by its GUID.
    let a = ok_json(
        &ts,
        &[
            "role",
            "assignment",
            "create",
            "--role",
            "21090545-7ca7-4776-b22c-e363652d74d2",
            "--assignee",
            reader.get("clientId"),
        ],
    )
    .await;
    assert_eq!(a["scope"], "/", "{a}");
    assert_eq!(a["roleName"], "Key Vault Reader", "{a}");
    let at_deployment =
        assignments(&ts, &["--scope", "/", "--assignee", reader.get("objectId")]).await;
    assert_eq!(at_deployment.len(), 1, "{at_deployment:?}");
    assert_eq!(at_deployment[0]["name"], a["name"]);

    for (vault, name) in [("default", "in-default"), ("second", "in-second")] {
        let c = sdk_of(&ts, vault, &reader);
        let listed: Vec<_> = c
            .list_secret_properties(None)
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(
            listed.iter().any(|s| s
                .id
                .as_deref()
                .is_some_and(|id| id.ends_with(&format!("/{name}")))),
            "{vault}"
        );
        let e = c.get_secret(name, None).await.unwrap_err();
        assert_forbidden_by_rbac(e, "reading a value as Key Vault Reader");
    }

    // Through the CLI with the credential it saved: the file is the owner's only, and works.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auditor-2.json");
    let out = ok_json(
        &ts,
        &[
            "principal",
            "secret",
            "add",
            "--id",
            reader.get("objectId"),
            "--expires-days",
            "30",
            "--save-credential",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.get("clientSecret").is_none(), "{out}");
    assert!(out["secretExpires"].as_i64().is_some(), "{out}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (code, out, err) = keyhaven(
        &ts,
        &file,
        &["secret", "list", "--vault-name", "second", "-o", "json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("in-second"), "{out}");
    let (code, _, err) = keyhaven(
        &ts,
        &file,
        &[
            "secret",
            "show",
            "--vault-name",
            "second",
            "--name",
            "in-second",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("Forbidden"), "{err}");
    // A reader may not assign roles.
    let (code, _, err) = keyhaven(
        &ts,
        &file,
        &[
            "role",
            "assignment",
            "create",
            "--role",
            "Key Vault Administrator",
            "--assignee-object-id",
            reader.get("objectId"),
            "--vault-name",
            "second",
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Forbidden"), "{err}");

    // Deleted without a vault, by name.
    ok(
        &ts,
        &[
            "role",
            "assignment",
            "delete",
            "--id",
            a["name"].as_str().unwrap(),
        ],
    )
    .await;
    let e = sdk_of(&ts, "second", &reader)
        .list_secret_properties(None)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_forbidden_by_rbac(e, "listing after the assignment was deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_is_shown_once_and_labelled_in_a_table() {
    let ts = TestServer::start().await;
    let (code, out, err) = keyhaven(
        &ts,
        &admin(&ts),
        &["principal", "create", "--display-name", "ci", "-o", "table"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("clientSecret"))
        .unwrap_or_else(|| panic!("no clientSecret line: {out}"));
    assert!(line.contains("only this once"), "{line}");
    let secret = line.split_whitespace().nth(1).unwrap();
    assert_eq!(out.matches(secret).count(), 1, "{out}");
    assert!(!err.contains(secret), "{err}");
    let client_id = out
        .lines()
        .find_map(|l| l.strip_prefix("clientId"))
        .unwrap()
        .trim();
    assert!(vault_token(&ts, client_id, secret).await.is_ok());
    // Listing never shows it.
    let listed = ok(&ts, &["principal", "list", "-o", "json"]).await;
    assert!(listed.contains(client_id) && !listed.contains(secret));
}
