//! The barrier's bindings, key generations, and the authentication of records through the engine.

use super::engine::{authenticate_earlier_records, AuthenticatedEngine};
use super::*;
use crate::records::VaultRecord;
use keyhaven_store::{Engine, MemoryEngine, StoreError};

fn vault(barrier: &Barrier, name: &str) -> Result<VaultRecord> {
    Ok(VaultRecord {
        name: name.into(),
        location: "local".into(),
        geography: "local".into(),
        retention_days: 90,
        purge_protection: false,
        created: 0,
        wrapped_key: barrier.new_vault_key(name)?,
        rotated_keys: Vec::new(),
        seals: 0,
        resource_group: None,
        sku: None,
        deleted: None,
    })
}

/// The bindings of stored material are part of the store's format: existing stores must keep opening.
#[test]
fn associated_data_layouts_are_fixed() -> Result<()> {
    let v = Version::parse("0123456789abcdef0123456789abcdef")?;
    assert_eq!(
        value_aad("vault-1", ObjectKind::Certificate, "my-cert", &v),
        b"keyhaven/v1/value|vault-1|certificate|my-cert|0123456789abcdef0123456789abcdef".to_vec()
    );
    assert_eq!(
        issuer_password_aad("vault-1", "corp-ca"),
        b"keyhaven/v1/issuer-password|vault-1|corp-ca".to_vec()
    );
    assert_eq!(
        vault_key_aad("vault-1", 0),
        b"keyhaven/v1/vault-key|vault-1".to_vec()
    );
    assert_eq!(
        vault_key_aad("vault-1", 3),
        b"keyhaven/v1/vault-key|vault-1|3".to_vec()
    );
    assert_eq!(
        geography_key_aad("europe", "00ff"),
        b"keyhaven/v1/geography-key|europe|00ff".to_vec()
    );
    Ok(())
}

/// Material sealed for one place does not open in another: vault, kind, name, version, purpose and key
/// generation all count.
#[test]
fn material_is_bound_to_its_place() -> Result<()> {
    let barrier = Barrier::new(SealingKey::generate()?)?;
    let (a, b) = (
        barrier.vault_key(&vault(&barrier, "a")?)?,
        barrier.vault_key(&vault(&barrier, "b")?)?,
    );
    let name = ObjectName::parse("n")?;
    let other = ObjectName::parse("m")?;
    let v1 = Version::parse("0123456789abcdef0123456789abcdef")?;
    let v2 = Version::parse("fedcba9876543210fedcba9876543210")?;
    let (sealed, id) = a.seal_value(ObjectKind::Secret, &name, &v1, b"value")?;
    assert_eq!(id, 0);
    assert_eq!(
        &a.open_value(ObjectKind::Secret, &name, &v1, 0, &sealed)?[..],
        b"value"
    );
    for wrong in [
        b.open_value(ObjectKind::Secret, &name, &v1, 0, &sealed),
        a.open_value(ObjectKind::Key, &name, &v1, 0, &sealed),
        a.open_value(ObjectKind::Secret, &other, &v1, 0, &sealed),
        a.open_value(ObjectKind::Secret, &name, &v2, 0, &sealed),
        a.open_value(ObjectKind::Secret, &name, &v1, 1, &sealed),
        a.open_issuer_password(&name, 0, &sealed),
    ] {
        assert!(
            matches!(wrong, Err(Error::Store(StoreError::Corrupt(_)))),
            "refused as corruption"
        );
    }
    // A vault key wrapped for one vault does not unwrap as another's.
    let mut stolen = vault(&barrier, "b")?;
    stolen.wrapped_key = vault(&barrier, "a")?.wrapped_key;
    assert!(barrier.vault_key(&stolen).is_err());
    Ok(())
}

/// A rotation adds a generation that seals from then on; older generations keep opening what they sealed, and a
/// generation's wrapped key moved to another id or vault does not unwrap.
#[test]
fn rotated_generations_seal_and_old_ones_still_open() -> Result<()> {
    let barrier = Barrier::new(SealingKey::generate()?)?;
    let mut rec = vault(&barrier, "a")?;
    let name = ObjectName::parse("n")?;
    let v = Version::parse("0123456789abcdef0123456789abcdef")?;
    let (old, old_id) =
        barrier
            .vault_key(&rec)?
            .seal_value(ObjectKind::Secret, &name, &v, b"old")?;
    let next = barrier.next_vault_key(&rec, 5)?;
    assert_eq!(next.id, 1);
    rec.rotated_keys.push(next);
    let keys = barrier.vault_key(&rec)?;
    let (new, new_id) = keys.seal_value(ObjectKind::Secret, &name, &v, b"new")?;
    assert_eq!((old_id, new_id), (0, 1));
    assert_eq!(
        &keys.open_value(ObjectKind::Secret, &name, &v, 0, &old)?[..],
        b"old"
    );
    assert_eq!(
        &keys.open_value(ObjectKind::Secret, &name, &v, 1, &new)?[..],
        b"new"
    );
    assert!(keys
        .open_value(ObjectKind::Secret, &name, &v, 0, &new)
        .is_err());
    let mut renumbered = rec.clone();
    renumbered.rotated_keys[0].id = 2;
    assert!(barrier.vault_key(&renumbered).is_err(), "bound to its id");
    let mut moved = vault(&barrier, "b")?;
    moved.rotated_keys = rec.rotated_keys.clone();
    assert!(barrier.vault_key(&moved).is_err(), "bound to its vault");
    Ok(())
}

/// An engine holding a vault `v` and one deployment record, written through the barrier.
fn authenticated() -> Result<(Arc<MemoryEngine>, AuthenticatedEngine, Arc<Barrier>)> {
    let barrier = Arc::new(Barrier::new(SealingKey::generate()?)?);
    let raw = Arc::new(MemoryEngine::new());
    let engine = AuthenticatedEngine::new(raw.clone(), barrier.clone());
    let rec = vault(&barrier, "v")?;
    let mut txn = engine.begin()?;
    txn.put(b"vault\0v", &crate::records::encode(&rec)?)?;
    txn.put(b"obj\0v\0secret\0a", b"{\"latest\":\"1\"}")?;
    txn.put(b"obj\0v\0secret\0b", b"{\"latest\":\"2\"}")?;
    txn.put(b"meta\0deployment", b"{\"d\":1}")?;
    txn.commit()?;
    Ok((raw, engine, barrier))
}

fn raw_put(raw: &MemoryEngine, key: &[u8], value: &[u8]) -> Result<()> {
    let mut t = raw.begin()?;
    t.put(key, value)?;
    t.commit()?;
    Ok(())
}

fn raw_get(raw: &MemoryEngine, key: &[u8]) -> Result<Vec<u8>> {
    raw.snapshot()?
        .get(key)?
        .ok_or_else(|| Error::Internal("missing".into()))
}

fn refused(r: std::result::Result<Option<Vec<u8>>, StoreError>) -> bool {
    matches!(r, Err(StoreError::Corrupt(_)))
}

/// Records read through the engine come back as written; whoever writes the engine directly cannot edit a record,
/// move one to another key, or put in one of their own: each is refused, on reads from snapshots and from write
/// transactions alike.
#[test]
fn edited_moved_and_forged_records_are_refused() -> Result<()> {
    let (raw, engine, _) = authenticated()?;
    let snap = engine.snapshot()?;
    assert_eq!(
        snap.get(b"obj\0v\0secret\0a")?.as_deref(),
        Some(&b"{\"latest\":\"1\"}"[..])
    );
    assert_eq!(snap.scan(b"obj\0", b"obj\x01", 10)?.len(), 2);
    assert_ne!(
        raw_get(&raw, b"obj\0v\0secret\0a")?,
        b"{\"latest\":\"1\"}".to_vec(),
        "stored with its header"
    );

    // Edited: the last byte of the content changed.
    let mut edited = raw_get(&raw, b"obj\0v\0secret\0a")?;
    let n = edited.len();
    edited[n - 3] = b'9';
    raw_put(&raw, b"obj\0v\0secret\0a", &edited)?;
    assert!(refused(engine.snapshot()?.get(b"obj\0v\0secret\0a")));
    assert!(engine.snapshot()?.scan(b"obj\0", b"obj\x01", 10).is_err());
    assert!(refused(engine.begin()?.get(b"obj\0v\0secret\0a")));

    // Moved: b's record (validly signed, for b) put at a's key.
    raw_put(
        &raw,
        b"obj\0v\0secret\0a",
        &raw_get(&raw, b"obj\0v\0secret\0b")?,
    )?;
    assert!(refused(engine.snapshot()?.get(b"obj\0v\0secret\0a")));

    // Forged: a record without a header, and a deployment record signed as a vault's.
    raw_put(&raw, b"obj\0v\0secret\0a", b"{\"latest\":\"1\"}")?;
    assert!(refused(engine.snapshot()?.get(b"obj\0v\0secret\0a")));
    raw_put(
        &raw,
        b"meta\0deployment",
        &raw_get(&raw, b"obj\0v\0secret\0b")?,
    )?;
    assert!(refused(engine.snapshot()?.get(b"meta\0deployment")));

    // The vault record itself: edited, it cannot lend its keys to anything.
    let mut vault_rec = raw_get(&raw, b"vault\0v")?;
    let n = vault_rec.len();
    vault_rec[n - 2] ^= 1;
    raw_put(&raw, b"vault\0v", &vault_rec)?;
    assert!(refused(engine.snapshot()?.get(b"vault\0v")));
    assert!(refused(engine.begin()?.get(b"obj\0v\0secret\0b")));
    Ok(())
}

/// Records written under an older generation of the vault key keep being accepted after a rotation, and new ones
/// are written under the new generation.
#[test]
fn records_follow_the_vault_key_generations() -> Result<()> {
    let (raw, engine, barrier) = authenticated()?;
    let mut rec: VaultRecord =
        crate::records::decode(&engine.snapshot()?.get(b"vault\0v")?.unwrap_or_default())?;
    rec.rotated_keys.push(barrier.next_vault_key(&rec, 1)?);
    let mut txn = engine.begin()?;
    txn.put(b"vault\0v", &crate::records::encode(&rec)?)?;
    txn.put(b"obj\0v\0secret\0c", b"{\"latest\":\"3\"}")?;
    txn.commit()?;
    let c = raw_get(&raw, b"obj\0v\0secret\0c")?;
    let p = super::record_mac::parse(&c).ok_or_else(|| Error::Internal("no header".into()))?;
    assert_eq!(p.signer, super::record_mac::Signer::Vault(1));
    let a = raw_get(&raw, b"obj\0v\0secret\0a")?;
    let p = super::record_mac::parse(&a).ok_or_else(|| Error::Internal("no header".into()))?;
    assert_eq!(p.signer, super::record_mac::Signer::Vault(0));
    let snap = engine.snapshot()?;
    assert!(snap.get(b"obj\0v\0secret\0a")?.is_some());
    assert!(snap.get(b"obj\0v\0secret\0c")?.is_some());
    Ok(())
}

/// A store written before records were authenticated is converted once, and an interrupted conversion can run
/// again: every record ends up authenticated exactly once, under the right key.
#[test]
fn earlier_stores_are_authenticated_once() -> Result<()> {
    let barrier = Arc::new(Barrier::new(SealingKey::generate()?)?);
    let raw = Arc::new(MemoryEngine::new());
    let rec = vault(&barrier, "v")?;
    raw_put(&raw, b"vault\0v", &crate::records::encode(&rec)?)?;
    for i in 0..10 {
        raw_put(
            &raw,
            format!("ver\0v\0secret\0n\0{i}").as_bytes(),
            b"{\"x\":1}",
        )?;
    }
    raw_put(&raw, b"meta\0deployment", b"{\"d\":1}")?;
    let engine = AuthenticatedEngine::new(raw.clone(), barrier.clone());
    assert!(
        refused(engine.snapshot()?.get(b"meta\0deployment")),
        "refused before conversion"
    );
    assert_eq!(authenticate_earlier_records(&*raw, &barrier, 3)?, 12);
    assert_eq!(
        authenticate_earlier_records(&*raw, &barrier, 3)?,
        0,
        "nothing left to do"
    );
    let snap = engine.snapshot()?;
    assert_eq!(
        snap.get(b"meta\0deployment")?.as_deref(),
        Some(&b"{\"d\":1}"[..])
    );
    let all = snap.scan(b"ver\0", b"ver\x01", 100)?;
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|(_, v)| v == b"{\"x\":1}"));
    Ok(())
}
