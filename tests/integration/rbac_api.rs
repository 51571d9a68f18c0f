//! The RBAC API's shapes where Keyhaven's deployment scope meets a vault's own: what each listing shows, the
//! error code of a duplicate assignment, single role definitions at deployment scope.

use keyhaven_testkit::TestServer;
use serde_json::{json, Value};

const READER: &str = "21090545-7ca7-4776-b22c-e363652d74d2";
const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

fn assignment(role: &str, principal: &str) -> Value {
    json!({"properties": {
        "roleDefinitionId": format!("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "principalId": principal,
    }})
}

#[tokio::test]
async fn deployment_and_vault_assignments_each_listed_where_they_belong() {
    let ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let mgmt = ts.management_token().await;
    let admin = ts.admin_token().await;
    let p: Value = http
        .post(format!("{}/_keyhaven/principals", ts.authority()))
        .bearer_auth(&mgmt)
        .json(&json!({"displayName": "app"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oid = p["objectId"].as_str().unwrap().to_string();

    // Key Vault Reader at deployment scope, Secrets User on the vault's secrets.
    let deployment_name = "6a3e8f6c-1b2d-4c5e-8f90-0a1b2c3d4e5f";
    let r = http
        .put(format!(
            "{}/_keyhaven/roleAssignments/{deployment_name}",
            ts.authority()
        ))
        .bearer_auth(&mgmt)
        .json(&assignment(READER, &oid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let vault_name = "7b4f9a7d-2c3e-4d6f-9a01-1b2c3d4e5f60";
    let at_secrets = format!(
        "{}/secrets/providers/Microsoft.Authorization/roleAssignments",
        ts.vault_url("default")
    );
    let r = http
        .put(format!("{at_secrets}/{vault_name}?api-version=7.5"))
        .bearer_auth(&admin)
        .json(&assignment(SECRETS_USER, &oid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // The same role for the same principal at the same scope under another name: Azure's code for it.
    let r = http
        .put(format!(
            "{at_secrets}/8c5a0b8e-3d4f-4e70-8b12-2c3d4e5f6071?api-version=7.5"
        ))
        .bearer_auth(&admin)
        .json(&assignment(SECRETS_USER, &oid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RoleAssignmentExists", "{body}");

    // The vault's API lists what is in the vault, each with a scope its own GET and DELETE accept.
    let listed: Value = http
        .get(format!(
            "{}//providers/Microsoft.Authorization/roleAssignments?api-version=7.5&$filter=assignedTo('{oid}')",
            ts.vault_url("default")
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [vault_name], "{listed}");
    assert_eq!(listed["value"][0]["properties"]["scope"], "/secrets");
    let r = http
        .get(format!("{at_secrets}/{vault_name}?api-version=7.5"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The deployment's listing has both, the deployment-wide one at `/`.
    let all: Value = http
        .get(format!(
            "{}/_keyhaven/roleAssignments?$filter=assignedTo('{oid}')",
            ts.authority()
        ))
        .bearer_auth(&mgmt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut scopes: Vec<(String, String)> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["properties"]["scope"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    scopes.sort();
    assert_eq!(
        scopes,
        [
            (deployment_name.to_string(), "/".to_string()),
            (
                vault_name.to_string(),
                "/vaults/default/secrets".to_string()
            )
        ],
        "{all}"
    );

    // A single role definition at deployment scope.
    let r = http
        .get(format!(
            "{}/_keyhaven/roleDefinitions/{READER}",
            ts.authority()
        ))
        .bearer_auth(&mgmt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["properties"]["roleName"], "Key Vault Reader", "{d}");
    let r = http
        .get(format!(
            "{}/_keyhaven/roleDefinitions/00000000-0000-0000-0000-000000000000",
            ts.authority()
        ))
        .bearer_auth(&mgmt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
