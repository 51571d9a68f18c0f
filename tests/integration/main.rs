//! Integration tests: a real Keyhaven server per test, driven by the official Azure SDK crates and raw HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The SDK option and model types are non-exhaustive, so they are built from `Default` and then filled in.
#![allow(clippy::field_reassign_with_default)]

mod at_rest;
mod audit;
mod az;
mod azurite;
mod bad_certificates;
mod bad_input;
mod cli;
mod cli_access;
mod cli_certificates;
mod cli_secret_files;
mod cli_tokens;
mod compat_fixes;
mod cost_classes;
mod crash;
mod geography;
mod health;
mod interop;
mod key_release;
mod many_versions;
mod newest_api;
mod portable;
mod portal;
mod portal_signin;
mod postgres;
mod postgres_failover;
mod postgres_nodes;
mod postgres_sdk;
mod rbac_api;
mod rbac_matrix;
mod restore_crash;
mod rsa1_5;
mod sdk;
mod sdk_certificates;
mod sdk_keys;
mod sdk_secrets;
mod slow_clients;
mod spec_conformance;
mod spec_conformance_jobs;
mod spec_schema;
mod storage_tls;
mod store_integrity;
mod tls;
mod token_limits;
mod typed_client;
mod uploads_and_jobs;
mod vault_backup;
