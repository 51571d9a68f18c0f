//! A whole-vault backup is one instant of the vault, whatever writers do meanwhile.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_one_instant_while_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "busy").await;
    let names: Vec<ObjectName> = (0..20)
        .map(|i| ObjectName::parse(&format!("s{i:02}")).unwrap())
        .collect();
    let writer = {
        let (kh, src, names) = (kh.clone(), src.clone(), names.clone());
        tokio::spawn(async move {
            for step in 0..400 {
                let items = names
                    .iter()
                    .map(|n| (n.clone(), secret(&step.to_string())))
                    .collect();
                kh.set_secrets(&admin(), &src, items).await.unwrap();
            }
        })
    };
    let mut checked = 0;
    while !writer.is_finished() || checked == 0 {
        let (kh2, src2) = (kh.clone(), src.clone());
        let (data, manifest) = tokio::task::spawn_blocking(move || backup(&kh2, &src2, false))
            .await
            .unwrap();
        if manifest.secrets == 0 {
            continue;
        }
        let target = vault(&kh, &format!("copy{checked}")).await;
        restore(&kh, &target, data, RestoreOptions::default())
            .await
            .unwrap();
        let restored = values(&kh, &target);
        let counters: std::collections::BTreeSet<&String> = restored.values().collect();
        assert_eq!(restored.len(), 20);
        assert_eq!(
            counters.len(),
            1,
            "every secret holds the same step: {restored:?}"
        );
        checked += 1;
    }
    writer.await.unwrap();
    assert!(checked >= 1);
}
