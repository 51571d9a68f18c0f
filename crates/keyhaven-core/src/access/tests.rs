//! Principals, role assignments and their enforcement, over the in-memory engine with a manual clock.

use crate::*;
use keyhaven_crypto::SealingKey;
use keyhaven_model::{
    AttributesPatch, ManualClock, ObjectKind, ObjectName, SecretValue, Tags, VaultName,
};
use keyhaven_store::{MemoryEngine, Store};
use std::sync::Arc;

const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
const READER: &str = "21090545-7ca7-4776-b22c-e363652d74d2";

fn service() -> (Keyhaven, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let (kh, _) = Keyhaven::open(
        Arc::new(MemoryEngine::new()),
        SealingKey::generate().unwrap(),
        clock.clone(),
        Settings::default(),
        StoredRecords::Authenticated,
    )
    .unwrap();
    (kh, clock)
}

fn secret(v: &str) -> SetSecret {
    SetSecret {
        value: SecretValue::new(v.into()).unwrap(),
        content_type: None,
        attributes: AttributesPatch::default(),
        tags: Tags::default(),
    }
}

async fn vault(kh: &Keyhaven, name: &str) -> VaultName {
    let v = VaultName::parse(name).unwrap();
    kh.create_vault(
        &Principal::system("admin"),
        NewVault {
            name: v.clone(),
            location: None,
            retention_days: None,
            purge_protection: false,
        },
    )
    .await
    .unwrap();
    v
}

/// The bootstrap administrator, as a request would see it.
fn login(kh: &Keyhaven, new: &NewPrincipal) -> Principal {
    let a = kh
        .authenticate_client(&new.client_id, &new.secret.client_secret)
        .unwrap();
    kh.caller(&a.object_id, &a.secret_id).unwrap()
}

fn name(n: &str) -> ObjectName {
    ObjectName::parse(n).unwrap()
}

fn guid() -> String {
    keyhaven_crypto::random_uuid().unwrap()
}

fn denied<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(Error::AccessDenied { .. }))
}

#[tokio::test]
async fn a_principal_without_assignments_can_do_nothing_and_roles_open_exactly_their_scope() {
    let (kh, _) = service();
    let admin_new = kh.bootstrap_principal("admin").unwrap();
    let admin = login(&kh, &admin_new);
    assert!(admin.is_deployment_administrator());
    let v = vault(&kh, "payments").await;
    let other = vault(&kh, "other").await;
    for (vv, n) in [(&v, "one"), (&v, "two"), (&other, "one")] {
        kh.set_secret(&admin, vv, &name(n), secret(n))
            .await
            .unwrap();
    }

    let app = kh.create_principal(&admin, "app", None).await.unwrap();
    let me = login(&kh, &app);
    assert!(denied(kh.get_secret(&me, &v, &name("one"), None)));
    assert!(denied(kh.list_objects(
        &me,
        &v,
        ObjectKind::Secret,
        false,
        &PageRequest::default()
    )));
    assert!(denied(kh.list_vaults(&me)));

    // Secrets User on one secret: that secret only; the listing shows only it.
    let object = Resource::object(&v, ObjectKind::Secret, &name("one"));
    let a = kh
        .create_role_assignment(&admin, &object, &guid(), SECRETS_USER, &app.object_id)
        .await
        .unwrap();
    let me = login(&kh, &app);
    assert_eq!(
        kh.get_secret(&me, &v, &name("one"), None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "one"
    );
    assert!(denied(kh.get_secret(&me, &v, &name("two"), None)));
    assert!(denied(kh.get_secret(&me, &other, &name("one"), None)));
    assert!(denied(
        kh.set_secret(&me, &v, &name("one"), secret("x")).await
    ));
    let listed: Vec<String> = kh
        .list_objects(&me, &v, ObjectKind::Secret, false, &PageRequest::default())
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(listed, ["one"]);
    assert!(denied(kh.list_objects(
        &me,
        &v,
        ObjectKind::Key,
        false,
        &PageRequest::default()
    )));

    // Removing the assignment takes effect at once on this node.
    kh.delete_role_assignment(&admin, &object, &a.name)
        .await
        .unwrap();
    let me = login(&kh, &app);
    assert!(denied(kh.get_secret(&me, &v, &name("one"), None)));

    // Reader at deployment scope: metadata of every vault, never a value.
    kh.create_role_assignment(
        &admin,
        &Resource::Deployment,
        &guid(),
        READER,
        &app.object_id,
    )
    .await
    .unwrap();
    let me = login(&kh, &app);
    assert_eq!(
        kh.list_objects(
            &me,
            &other,
            ObjectKind::Secret,
            false,
            &PageRequest::default()
        )
        .unwrap()
        .items
        .len(),
        1
    );
    assert!(denied(kh.get_secret(&me, &other, &name("one"), None)));
    assert!(!me.is_deployment_administrator());
    let request = me.fresh();
    assert!(
        denied(kh.list_vaults(&request)),
        "management needs a deployment administrator"
    );
    let d = request.decision().unwrap();
    assert_eq!(d.action, Action::VaultsRead);
    assert!(!d.allowed);
}

#[tokio::test]
async fn data_access_administrators_assign_data_roles_only_and_the_last_administrator_stays() {
    let (kh, _) = service();
    let admin_new = kh.bootstrap_principal("admin").unwrap();
    let admin = login(&kh, &admin_new);
    let v = vault(&kh, "payments").await;
    let dara_new = kh
        .create_principal(&admin, "access admin", None)
        .await
        .unwrap();
    let app = kh.create_principal(&admin, "app", None).await.unwrap();
    kh.create_role_assignment(
        &admin,
        &Resource::vault(&v),
        &guid(),
        KEY_VAULT_DATA_ACCESS_ADMINISTRATOR,
        &dara_new.object_id,
    )
    .await
    .unwrap();
    let dara = login(&kh, &dara_new);
    // It assigns data roles within its vault…
    kh.create_role_assignment(
        &dara,
        &Resource::kind(&v, ObjectKind::Secret),
        &guid(),
        SECRETS_USER,
        &app.object_id,
    )
    .await
    .unwrap();
    // …not outside it, not itself, not a custom role; and it reads no data.
    assert!(denied(
        kh.create_role_assignment(
            &dara,
            &Resource::Deployment,
            &guid(),
            READER,
            &app.object_id
        )
        .await
    ));
    assert!(matches!(
        kh.create_role_assignment(
            &dara,
            &Resource::vault(&v),
            &guid(),
            KEY_VAULT_DATA_ACCESS_ADMINISTRATOR,
            &app.object_id
        )
        .await,
        Err(Error::Forbidden(_))
    ));
    assert!(denied(kh.list_objects(
        &dara,
        &v,
        ObjectKind::Secret,
        false,
        &PageRequest::default()
    )));
    // The only deployment administrator can be neither unassigned nor deleted.
    let admin_assignments = kh
        .list_role_assignments(
            &admin,
            &Resource::Deployment,
            &AssignmentFilter {
                at_scope: true,
                principal: Some(admin_new.object_id.clone()),
            },
        )
        .unwrap();
    let kva = admin_assignments
        .iter()
        .find(|a| a.role_definition_id == KEY_VAULT_ADMINISTRATOR)
        .unwrap();
    assert!(matches!(
        kh.delete_role_assignment(&admin, &Resource::Deployment, &kva.name)
            .await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        kh.delete_principal(&admin, &admin_new.client_id).await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn revoked_and_expired_secrets_and_deleted_principals_stop_working() {
    let (kh, clock) = service();
    let admin = login(&kh, &kh.bootstrap_principal("admin").unwrap());
    let app = kh
        .create_principal(&admin, "app", Some(2 * 86_400))
        .await
        .unwrap();
    assert!(app
        .secret
        .client_secret
        .starts_with(&format!("{}.", app.secret.secret_id)));
    let first = kh
        .authenticate_client(&app.client_id, &app.secret.client_secret)
        .unwrap();
    assert!(kh.authenticate_client(&app.client_id, "nope").is_err());
    assert!(
        kh.authenticate_client(&app.object_id, &app.secret.client_secret)
            .is_err(),
        "by client id only"
    );
    let second = kh
        .add_principal_secret(&admin, &app.object_id, None)
        .await
        .unwrap();
    let second_auth = kh
        .authenticate_client(&app.client_id, &second.client_secret)
        .unwrap();
    // Removing the first secret revokes what was obtained with it, not the rest.
    kh.remove_principal_secret(&admin, &app.client_id, &first.secret_id)
        .await
        .unwrap();
    assert!(matches!(
        kh.caller(&first.object_id, &first.secret_id),
        Err(Error::Unauthorized(_))
    ));
    assert!(kh
        .caller(&second_auth.object_id, &second_auth.secret_id)
        .is_ok());
    assert!(kh
        .authenticate_client(&app.client_id, &app.secret.client_secret)
        .is_err());
    // An expiring secret stops working when it expires.
    let third = kh
        .add_principal_secret(&admin, &app.client_id, Some(86_400))
        .await
        .unwrap();
    let third_auth = kh
        .authenticate_client(&app.client_id, &third.client_secret)
        .unwrap();
    clock.advance(86_401);
    assert!(kh
        .authenticate_client(&app.client_id, &third.client_secret)
        .is_err());
    assert!(kh
        .caller(&third_auth.object_id, &third_auth.secret_id)
        .is_err());
    // Deleting the principal revokes everything.
    kh.delete_principal(&admin, &app.client_id).await.unwrap();
    assert!(kh
        .caller(&second_auth.object_id, &second_auth.secret_id)
        .is_err());
    assert!(matches!(
        kh.get_principal(&admin, &app.client_id),
        Err(Error::PrincipalNotFound(_))
    ));
}

#[tokio::test]
async fn custom_roles_exclude_with_not_data_actions_and_deleted_vaults_take_their_assignments() {
    let (kh, _) = service();
    let admin = login(&kh, &kh.bootstrap_principal("admin").unwrap());
    let v = vault(&kh, "payments").await;
    kh.set_secret(&admin, &v, &name("s"), secret("x"))
        .await
        .unwrap();
    let role = guid();
    kh.set_role_definition(
        &admin,
        &Resource::Deployment,
        &role,
        RoleDefinitionChange {
            role_name: "Writes secrets, cannot read them".into(),
            description: String::new(),
            permissions: vec![Permission {
                data_actions: vec!["Microsoft.KeyVault/vaults/secrets/*".into()],
                not_data_actions: vec!["Microsoft.KeyVault/vaults/secrets/getSecret/action".into()],
                ..Default::default()
            }],
            assignable_scopes: vec![],
        },
    )
    .await
    .unwrap();
    let app = kh.create_principal(&admin, "writer", None).await.unwrap();
    kh.create_role_assignment(&admin, &Resource::vault(&v), &guid(), &role, &app.object_id)
        .await
        .unwrap();
    let me = login(&kh, &app);
    kh.set_secret(&me, &v, &name("s"), secret("y"))
        .await
        .unwrap();
    assert!(denied(kh.get_secret(&me, &v, &name("s"), None)));
    assert!(matches!(
        kh.delete_role_definition(&admin, &Resource::Deployment, &role)
            .await,
        Err(Error::Conflict(_))
    ));
    // A vault deleted and created again does not inherit the assignments of the first.
    kh.delete_object(&admin, &v, ObjectKind::Secret, &name("s"))
        .await
        .unwrap();
    kh.purge_deleted(&admin, &v, ObjectKind::Secret, &name("s"))
        .await
        .unwrap();
    kh.delete_vault(&admin, &v).await.unwrap();
    let v = vault(&kh, "payments").await;
    let me = login(&kh, &app);
    assert!(denied(
        kh.set_secret(&me, &v, &name("s"), secret("z")).await
    ));
    kh.delete_role_definition(&admin, &Resource::Deployment, &role)
        .await
        .unwrap();
}

#[tokio::test]
async fn clients_of_an_earlier_version_become_principals() {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let engine = Arc::new(MemoryEngine::new());
    let root = SealingKey::generate().unwrap();
    let secret_text = "an-old-style-secret-without-an-id";
    let legacy = serde_json::json!({
        "clientId": "11111111-2222-3333-4444-555555555555",
        "displayName": "admin",
        "secretHash": keyhaven_crypto::hash_client_secret(secret_text).unwrap(),
        "roles": ["Administrator"],
        "created": 1,
    });
    {
        let store = Store::new(engine.clone()).unwrap();
        let bytes = serde_json::to_vec(&legacy).unwrap();
        let key = keyhaven_store::keys::key(&[b"client", b"11111111-2222-3333-4444-555555555555"]);
        store.write_blocking(move |t| t.put(&key, &bytes)).unwrap();
    }
    let (kh, _) = Keyhaven::open(
        engine,
        root,
        clock,
        Settings::default(),
        StoredRecords::Earlier,
    )
    .unwrap();
    let a = kh
        .authenticate_client("11111111-2222-3333-4444-555555555555", secret_text)
        .unwrap();
    let who = kh.caller(&a.object_id, &a.secret_id).unwrap();
    assert!(
        who.is_deployment_administrator(),
        "an administrator keeps full access"
    );
}
