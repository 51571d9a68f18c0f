#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        seq: 0,
        time: keyhaven_model::time::rfc3339_millis(1_796_649_623_000 + i as i64),
        request_id: format!("req-{i}"),
        principal: Some(Caller {
            client_id: "c".into(),
            object_id: Some("o".into()),
        }),
        source: Some("127.0.0.1".into()),
        method: "GET".into(),
        vault: Some("default".into()),
        operation: Some("Microsoft.KeyVault/vaults/secrets/getSecret/action".into()),
        kind: Some("secret".into()),
        name: Some(format!("s{i}")),
        version: None,
        status: 200,
        result: Outcome::Allowed,
        duration_ms: 1.5,
        recovered: false,
        prev: String::new(),
    }
}

fn settings(dir: &std::path::Path, max: u64) -> AuditSettings {
    AuditSettings {
        enabled: true,
        dir: dir.to_path_buf(),
        max_file_bytes: max,
        hash_names: false,
        sync_reads: false,
    }
}

async fn write(dir: &std::path::Path, max: u64, from: u64, n: u64) {
    let log = AuditLog::open(&settings(dir, max), None).unwrap();
    for i in from..from + n {
        log.append(record(i), false, None).await.unwrap();
    }
    log.close();
}

fn lines(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(file: &std::path::Path, lines: &[String]) {
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn a_chain_across_rotations_and_restarts_verifies() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 4096, 0, 30).await;
    write(dir.path(), 4096, 30, 30).await;
    let files = log_files(dir.path()).unwrap();
    assert!(files.len() > 2, "rotated by size: {files:?}");
    let v = verify(&files, true).unwrap();
    assert_eq!(v.lines, 60);
    assert_eq!((v.first_seq, v.last_seq), (Some(1), Some(60)));
    assert!(v.from_start);
    // A later file alone still checks (it continues an earlier one).
    let later = verify(&files[1..], false).unwrap();
    assert!(verify(&files[1..], true).is_err(), "not from the start");
    assert!(!later.from_start);
}

#[tokio::test]
async fn every_kind_of_tampering_is_named_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 1 << 30, 0, 10).await;
    let file = log_files(dir.path()).unwrap().remove(0);
    let good = lines(&file);
    let check = |edited: Vec<String>, line: u64, what: &str| {
        rewrite(&file, &edited);
        let e = verify(std::slice::from_ref(&file), true).unwrap_err();
        assert_eq!(e.line, line, "{what}: {e}");
        e.problem
    };
    let mut edited = good.clone();
    edited[3] = edited[3].replace("\"status\":200", "\"status\":403");
    assert!(check(edited, 4, "edit").contains("edited"));
    let mut removed = good.clone();
    removed.remove(5);
    assert!(check(removed, 6, "removal").contains("removed"));
    let mut swapped = good.clone();
    swapped.swap(2, 3);
    assert!(check(swapped, 3, "swap").contains("moved"));
    let mut inserted = good.clone();
    inserted.insert(7, good[6].clone());
    assert!(check(inserted, 8, "insertion").contains("inserted"));
    let mut first_gone = good.clone();
    first_gone.remove(0);
    let _ = check(first_gone, 1, "first line removed");
    rewrite(&file, &good);
    assert_eq!(verify(&[file], true).unwrap().lines, 10);
}

#[tokio::test]
async fn a_torn_last_line_is_cut_off_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 1 << 30, 0, 5).await;
    let file = log_files(dir.path()).unwrap().remove(0);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"seq\":6,\"time\":\"2026").unwrap();
    drop(f);
    assert!(verify(std::slice::from_ref(&file), true).is_err());
    write(dir.path(), 1 << 30, 5, 5).await;
    let v = verify(&log_files(dir.path()).unwrap(), true).unwrap();
    assert_eq!((v.lines, v.last_seq), (10, Some(10)));
}

#[tokio::test]
async fn names_may_be_keyed_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), 1 << 20);
    s.hash_names = true;
    let log = AuditLog::open(&s, Some(zeroize::Zeroizing::new([7u8; 32]))).unwrap();
    let a = log.name("v", "secret", "db-password");
    assert!(a.starts_with("hmac:") && !a.contains("db-password"), "{a}");
    assert_eq!(
        a,
        log.name("v", "secret", "DB-Password"),
        "names are case-insensitive"
    );
    assert_ne!(a, log.name("w", "secret", "db-password"));
    log.close();
}

#[tokio::test]
async fn an_unwritable_log_fails_closed_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit");
    let log = AuditLog::open(&settings(&audit, 4096), None).unwrap();
    log.append(record(1), false, None).await.unwrap();
    assert!(log.healthy());
    // The directory goes away: the next file cannot be created (root or not), so a record is refused.
    std::fs::remove_dir_all(&audit).unwrap();
    let mut refused = false;
    for i in 2..100 {
        if log.append(record(i), false, None).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "a record that cannot be written is an error");
    assert!(!log.healthy());
    // Once it can be written again, it is: the chain goes on from the last line that was written.
    std::fs::create_dir_all(&audit).unwrap();
    log.append(record(200), false, None).await.unwrap();
    assert!(log.healthy());
    log.append(record(201), true, None).await.unwrap();
    log.close();
    // What was refused left nothing behind: the new file continues the chain with the records that were taken.
    let v = verify(&log_files(&audit).unwrap(), false).unwrap();
    assert_eq!(v.lines, 2);
}

#[tokio::test]
async fn a_read_and_a_write_are_in_the_file_when_their_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&settings(dir.path(), 1 << 20), None).unwrap();
    let in_file = |dir: &std::path::Path| -> usize {
        log_files(dir)
            .unwrap()
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
            .sum()
    };
    log.append(record(1), true, None).await.unwrap();
    assert_eq!(
        in_file(dir.path()),
        1,
        "a read's record is in the file once answered"
    );
    let mut put = record(2);
    put.method = "PUT".into();
    log.append(put, false, None).await.unwrap();
    assert_eq!(in_file(dir.path()), 2);
    // Past the read sync interval the writer is still serving (its timed sync did not stop it).
    tokio::time::sleep(writer::SYNC_READS_WITHIN * 3).await;
    log.append(record(3), true, None).await.unwrap();
    log.close();
    let v = verify(&log_files(dir.path()).unwrap(), true).unwrap();
    assert_eq!((v.lines, v.last_seq), (3, Some(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_and_reads_all_land_in_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    // Small files: rotations happen while syncs run.
    let log = AuditLog::open(&settings(dir.path(), 8192), None).unwrap();
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25u64 {
                let mut r = record(t * 100 + i);
                let write = i % 2 == 0;
                if write {
                    r.method = "PUT".into();
                }
                log.append(r, !write, None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    log.close();
    let files = log_files(dir.path()).unwrap();
    assert!(files.len() > 1, "rotated: {files:?}");
    let v = verify(&files, true).unwrap();
    assert_eq!((v.lines, v.last_seq), (400, Some(400)));
    // Closed: nothing more is written, and a write is refused rather than left unrecorded.
    let mut put = record(999);
    put.method = "PUT".into();
    assert!(log.append(put, false, None).await.is_err());
    assert!(log.append(record(998), true, None).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_whose_requests_are_dropped_midway_do_not_stall_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&settings(dir.path(), 1 << 20), None).unwrap();
    // Requests cut off while they wait for the disk (clients gone): some are cut inside the sync they began.
    for round in 0..50u64 {
        let mut tasks = Vec::new();
        for i in 0..8u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut put = record(round * 10 + i);
                put.method = "PUT".into();
                let wait = std::time::Duration::from_micros(20 * (i + 1));
                let _ = tokio::time::timeout(wait, log.append(put, false, None)).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    // A write after them still reaches the disk and is answered.
    let mut put = record(10_000);
    put.method = "PUT".into();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        log.append(put, false, None),
    )
    .await
    .expect("a write is answered: no sync was left half-done by a dropped request")
    .unwrap();
    log.close();
}

#[test]
fn a_line_made_from_its_middle_is_the_records_serialization() {
    for i in [1, 9, 10, 12_345_678_901] {
        let mut r = record(i);
        r.name = Some("a \"quoted\" name, with \\ and \u{e9}".into());
        let middle = r.middle().unwrap();
        let prev = "ab".repeat(32);
        let made = super::record::line(i, &middle, &prev);
        r.seq = i;
        r.prev = prev;
        assert_eq!(
            String::from_utf8(made).unwrap(),
            serde_json::to_string(&r).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_written_by_another_request_is_in_the_file_when_its_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&settings(dir.path(), 1 << 20), None).unwrap();
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let (log, dir) = (log.clone(), dir.path().to_path_buf());
        tasks.push(tokio::spawn(async move {
            for i in 0..60u64 {
                let r = record(t * 1000 + i);
                let id = format!("\"requestId\":\"{}\"", r.request_id);
                log.append(r, true, None).await.unwrap();
                let text: String = log_files(&dir)
                    .unwrap()
                    .iter()
                    .map(|f| std::fs::read_to_string(f).unwrap())
                    .collect();
                assert!(text.contains(&id), "{id} is in the file once answered");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    log.close();
    let v = verify(&log_files(dir.path()).unwrap(), true).unwrap();
    assert_eq!(v.lines, 480);
}

#[tokio::test]
async fn receipts_not_in_the_log_are_written_at_start_once() {
    use keyhaven_store::receipt::{carried, Receipt};
    use keyhaven_store::{MemoryEngine, Store};
    struct Part(Vec<u8>);
    impl Receipt for Part {
        fn part(&self) -> Option<Vec<u8>> {
            Some(self.0.clone())
        }
        fn committed(&self, _: &[u8], _: usize) {}
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::new(Arc::new(MemoryEngine::default())).unwrap());

    // Three writes carry receipts: one request's record reached the log, the other's (two writes) did not.
    let log = AuditLog::open(&settings(dir.path(), 1 << 20), None).unwrap();
    assert_eq!(log.keep_receipts(store.clone()).await.unwrap(), 0);
    let (logged, lost) = (record(1), record(2));
    for r in [&logged, &lost, &lost] {
        let part = Arc::new(Part(log.receipt(r).unwrap()));
        carried(part, store.write(|txn| txn.put(b"x", b"1")))
            .await
            .map_err(|e: keyhaven_store::StoreError| e)
            .unwrap();
    }
    log.append(logged, false, None).await.unwrap();
    log.close();
    let entries = |store: &Store| {
        store
            .snapshot()
            .unwrap()
            .scan(b"audit-receipt", b"audit-receipu", usize::MAX)
            .unwrap()
            .len()
    };
    assert_eq!(entries(&store), 3);

    // At the next start only the lost record is written, once, marked recovered, and the entries are deleted; the
    // start after that writes nothing.
    for expected in [1, 0] {
        let log = AuditLog::open(&settings(dir.path(), 1 << 20), None).unwrap();
        assert_eq!(log.keep_receipts(store.clone()).await.unwrap(), expected);
        log.close();
    }
    let v = verify(&log_files(dir.path()).unwrap(), true).unwrap();
    assert_eq!(v.lines, 2);
    let lines: Vec<AuditRecord> = log_files(dir.path())
        .unwrap()
        .iter()
        .flat_map(|f| lines(f))
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    assert_eq!(lines[1].request_id, "req-2");
    assert!(lines[1].recovered && !lines[0].recovered);
    assert_eq!(entries(&store), 0);
}
