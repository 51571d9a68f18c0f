//! Which server the engine uses, and moving to another when it fails.
//!
//! The engine works against one server of the URL at a time (the *current* host). A watcher on the engine's
//! runtime asks it `pg_is_in_recovery()` every check interval, and at once when a request saw a broken
//! connection:
//!
//! - current host answers as a primary: stay (even if an earlier host of the URL is back: it may be a former
//!   primary that was failed over from, and must not take writes again);
//! - current host answers as a standby: read-only; move to a primary if any other host is one;
//! - current host does not answer: move to the first primary of the URL's order, else the first standby; if none
//!   answers, stay and keep trying.
//!
//! Moving bumps a generation: pooled connections of an earlier generation are closed instead of reused.

use crate::conn::{self, Role};
use crate::shared::Shared;
use crate::url::PostgresUrl;
use std::time::Duration;
use tokio_postgres::Client;

/// Asks every host (at once) what it is, leaving out `skip`. The first primary in URL order, else the first
/// standby; the errors of the hosts that did not answer otherwise.
pub(crate) async fn choose(
    url: &PostgresUrl,
    limit: Duration,
    skip: Option<usize>,
) -> Result<(usize, Role), String> {
    let mut probes = tokio::task::JoinSet::new();
    for host in 0..url.hosts().len() {
        if Some(host) == skip {
            continue;
        }
        let url = url.clone();
        probes.spawn(async move {
            (
                host,
                conn::open(&url, host, limit).await.map(|(_, role)| role),
            )
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = probes.join_next().await {
        if let Ok(answer) = done {
            answers.push(answer);
        }
    }
    answers.sort_by_key(|(host, _)| *host);
    let pick = |want: Role| {
        answers
            .iter()
            .find(|(_, r)| matches!(r, Ok(role) if *role == want))
            .map(|(h, _)| (*h, want))
    };
    if let Some(found) = pick(Role::Primary).or_else(|| pick(Role::Standby)) {
        return Ok(found);
    }
    let errors: Vec<String> = answers
        .iter()
        .filter_map(|(host, r)| {
            let shown = url
                .hosts()
                .get(*host)
                .map(|h| h.to_string())
                .unwrap_or_default();
            r.as_ref().err().map(|e| format!("{shown}: {e}"))
        })
        .collect();
    Err(errors.join("; "))
}

/// The watcher: runs until the engine's runtime shuts down.
pub(crate) async fn watch(shared: std::sync::Arc<Shared>) {
    let mut probe: Option<(usize, Client)> = None;
    let mut unreachable_logged = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.options.check_interval) => {}
            _ = shared.target.poke.notified() => {}
        }
        let current = shared.target.current();
        let role = probe_current(&shared, current.host, &mut probe).await;
        let next = match role {
            Some(Role::Primary) => Some((current.host, Role::Primary)),
            Some(Role::Standby) => match choose(
                &shared.url,
                shared.options.connect_timeout,
                Some(current.host),
            )
            .await
            {
                Ok((host, Role::Primary)) => Some((host, Role::Primary)),
                _ => Some((current.host, Role::Standby)),
            },
            None => choose(&shared.url, shared.options.connect_timeout, None)
                .await
                .ok(),
        };
        match next {
            Some((host, role)) => {
                unreachable_logged = false;
                if let Some(generation) = shared.target.settle(&shared.url, host, role) {
                    shared.readers.retire_before(generation);
                    shared.writers.retire_before(generation);
                    probe = None;
                }
            }
            None if !unreachable_logged => {
                unreachable_logged = true;
                tracing::error!(url = %shared.url, "PostgreSQL: no server answers; retrying");
            }
            None => {}
        }
    }
}

/// The current host's role, over a connection kept for the purpose; `None` if it does not answer in time.
async fn probe_current(
    shared: &Shared,
    host: usize,
    probe: &mut Option<(usize, Client)>,
) -> Option<Role> {
    let limit: Duration = shared.options.connect_timeout;
    if let Some((h, client)) = probe.as_ref() {
        if *h == host && !client.is_closed() {
            if let Ok(Ok(role)) = tokio::time::timeout(limit, conn::role_of(client)).await {
                return Some(role);
            }
        }
    }
    *probe = None;
    match conn::open(&shared.url, host, limit).await {
        Ok((client, role)) => {
            *probe = Some((host, client));
            Some(role)
        }
        Err(_) => None,
    }
}
