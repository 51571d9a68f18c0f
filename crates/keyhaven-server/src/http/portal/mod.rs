//! The web portal, under `/portal/` on the server's own listener: server-written HTML pages (no template engine:
//! every outside string passes `html::esc`), one stylesheet and one small script embedded in the binary, and a
//! strict Content-Security-Policy. People sign in with a principal's client id and secret; every action then calls
//! the same domain operation as the REST API with that principal, so it is authorized and audited the same way.

mod context;
mod create;
mod html;
mod listing;
mod lists;
mod nav;
mod object;
mod restore;
mod session;
mod signin;
mod vault_jobs;
mod vaults;

use crate::http::request::MAX_RESTORE_BODY;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use context::PortalState;
use std::sync::Arc;

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// The portal's routes, for the server's router.
pub(crate) fn router(st: AppState) -> Router<AppState> {
    let state = PortalState {
        app: st,
        sessions: Arc::new(session::Sessions::default()),
    };
    let objects = "/portal/vaults/{vault}/{kind}/objects/{name}";
    Router::new()
        .route("/portal", get(|| async { Redirect::permanent("/portal/") }))
        .route("/portal/", get(vaults::list))
        .route(
            "/portal/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/portal/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route("/portal/signin", get(signin::show).post(signin::submit))
        .route("/portal/signout", post(signin::sign_out))
        .route("/portal/open", get(vaults::open))
        .route("/portal/vaults/{vault}", get(vaults::show))
        .route(
            "/portal/vaults/{vault}/backup",
            get(vault_jobs::backup_form).post(vault_jobs::backup_start),
        )
        .route(
            "/portal/vaults/{vault}/backup/{job}",
            get(vault_jobs::backup_status),
        )
        .route(
            "/portal/vaults/{vault}/backup/{job}/content",
            get(vault_jobs::backup_content),
        )
        .route(
            "/portal/vaults/{vault}/restore",
            get(vault_jobs::restore_form)
                // A vault backup has any size: it is streamed to disk.
                .post(vault_jobs::restore_start)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/portal/vaults/{vault}/restore/{job}",
            get(vault_jobs::restore_status),
        )
        .route("/portal/vaults/{vault}/{kind}", get(lists::list))
        .route("/portal/vaults/{vault}/{kind}/deleted", get(lists::deleted))
        .route(
            "/portal/vaults/{vault}/{kind}/deleted/{name}/recover",
            post(lists::recover),
        )
        .route(
            "/portal/vaults/{vault}/{kind}/deleted/{name}/purge",
            post(lists::purge),
        )
        .route(
            "/portal/vaults/{vault}/{kind}/new",
            get(create::show).post(create::submit),
        )
        .route(
            "/portal/vaults/{vault}/{kind}/restore",
            get(restore::show)
                .post(restore::submit)
                .layer(DefaultBodyLimit::max(MAX_RESTORE_BODY + 64 * 1024)),
        )
        .route(objects, get(object::show))
        .route(&format!("{objects}/backup"), post(object::backup))
        .route(&format!("{objects}/delete"), post(object::delete))
        .route(&format!("{objects}/versions"), post(object::new_version))
        .route(
            &format!("{objects}/versions/{{version}}/enabled"),
            post(object::set_enabled),
        )
        .route(
            &format!("{objects}/versions/{{version}}/value"),
            post(object::show_value),
        )
        // Anything else under /portal/ is the portal's own 404, not the data plane's.
        .route(
            "/portal/{*rest}",
            axum::routing::any(|| async {
                context::PortalError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "There is no such page.",
                )
            }),
        )
        .layer(middleware::from_fn(context::security_headers))
        .with_state(state)
}
