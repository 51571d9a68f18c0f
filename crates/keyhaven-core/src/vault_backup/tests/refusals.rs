//! Damaged and foreign backups are refused and change nothing.

use super::*;

#[tokio::test]
async fn damaged_or_foreign_backups_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "src").await;
    for i in 0..200 {
        let n = ObjectName::parse(&format!("s{i}")).unwrap();
        kh.set_secret(&admin(), &src, &n, secret(&"x".repeat(500 + i)))
            .await
            .unwrap();
    }
    let (data, _) = backup(&kh, &src, false);
    let dst = vault(&kh, "dst").await;
    let n = data.len();
    let mut cases: Vec<(String, Vec<u8>)> = vec![("empty".into(), Vec::new())];
    for cut in [1, 10, 40, 100, n / 3, n / 2, n - 17, n - 1] {
        cases.push((format!("truncated at {cut}"), data[..cut].to_vec()));
    }
    for at in [5, 30, 90, n / 4, n / 2, n - 5] {
        let mut d = data.clone();
        d[at] ^= 0x20;
        cases.push((format!("flipped byte {at}"), d));
    }
    let mut longer = data.clone();
    longer.extend_from_slice(b"junk");
    cases.push(("trailing bytes".into(), longer));
    for (what, bytes) in cases {
        let r = restore(&kh, &dst, bytes, RestoreOptions::default()).await;
        assert!(
            matches!(r, Err(Error::BadParameter(_)) | Err(Error::BadBackup(_))),
            "{what}: {r:?}"
        );
        assert!(values(&kh, &dst).is_empty(), "{what}: nothing written");
    }
    // Another deployment (another subscription) refuses it.
    let other_dir = tempfile::tempdir().unwrap();
    let other = service(other_dir.path(), Arc::new(SystemClock));
    let ov = vault(&other, "dst").await;
    let r = restore(&other, &ov, data, RestoreOptions::default()).await;
    assert!(
        matches!(
            r,
            Err(Error::BadBackup(
                keyhaven_blob::BlobError::ForeignSubscription
            ))
        ),
        "{r:?}"
    );
}
