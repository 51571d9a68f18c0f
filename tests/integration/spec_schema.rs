//! The Azure Key Vault specs (Swagger 2.0) as the conformance test reads them: operations found by their
//! examples, and a small JSON-schema check of a response against the operation's schema — types, required
//! properties, enums, array items and maps (`additionalProperties`), following `$ref`s within a spec and to a
//! sibling file (`common.json#/…`). Properties the schema does not name are allowed, as Swagger allows them.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Optional properties Azure writes as `null` rather than leaving out, which the generated specs do not mark
/// nullable: the last page of a list says `"nextLink": null` (the SDKs read both). Only these are let through.
const NULL_WHEN_ABSENT: &[&str] = &["nextLink"];

/// Where the specs are: `KEYHAVEN_AZURE_SPECS`, else `../shared/azure-specs` beside the repository.
pub fn specs_dir() -> PathBuf {
    match std::env::var_os("KEYHAVEN_AZURE_SPECS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/azure-specs"),
    }
}

/// One api-version's spec files, by file name (`keys.json`, `common.json`, …).
pub struct SpecSet {
    pub files: BTreeMap<String, Value>,
}

/// An operation as an example refers to it.
pub struct Operation {
    /// The spec file that holds it (`keys.json`).
    pub file: String,
    pub method: String,
    /// The path template, `/keys/{key-name}/{key-version}/sign`.
    pub path: String,
    pub operation_id: String,
    /// The operation object, its `parameters` resolved.
    pub parameters: Vec<Value>,
    pub responses: Value,
}

impl SpecSet {
    pub fn load(dir: &Path) -> SpecSet {
        let mut files = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("the Azure specs are expected in {}: {e}", dir.display()));
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "json") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                files.insert(name, v);
            }
        }
        SpecSet { files }
    }

    /// Every operation, by the file name of each example it references.
    pub fn operations_by_example(&self) -> BTreeMap<String, Operation> {
        let mut out = BTreeMap::new();
        for (file, doc) in &self.files {
            for section in ["paths", "x-ms-paths"] {
                let Some(paths) = doc[section].as_object() else {
                    continue;
                };
                for (path, item) in paths {
                    let Some(methods) = item.as_object() else {
                        continue;
                    };
                    for (method, op) in methods {
                        let Some(examples) = op["x-ms-examples"].as_object() else {
                            continue;
                        };
                        let mut parameters: Vec<Value> = Vec::new();
                        for p in item["parameters"]
                            .as_array()
                            .into_iter()
                            .chain(op["parameters"].as_array())
                            .flatten()
                        {
                            parameters.push(self.resolve(file, p).1.clone());
                        }
                        for ex in examples.values() {
                            let Some(r) = ex["$ref"].as_str() else {
                                continue;
                            };
                            let name = r.rsplit('/').next().unwrap().to_string();
                            out.insert(
                                name,
                                Operation {
                                    file: file.clone(),
                                    method: method.to_uppercase(),
                                    path: path.clone(),
                                    operation_id: op["operationId"]
                                        .as_str()
                                        .unwrap_or_default()
                                        .to_string(),
                                    parameters: parameters.clone(),
                                    responses: op["responses"].clone(),
                                },
                            );
                        }
                    }
                }
            }
        }
        out
    }

    /// Follows `$ref`s (`#/definitions/X`, `common.json#/definitions/X`, `./common.json#/…`) from `file`; returns
    /// the file the target lives in and the target.
    pub fn resolve<'a>(&'a self, file: &'a str, v: &'a Value) -> (&'a str, &'a Value) {
        let (mut file, mut v) = (file, v);
        for _ in 0..32 {
            let Some(r) = v["$ref"].as_str() else {
                return (file, v);
            };
            let (target_file, pointer) = r.split_once('#').unwrap_or((r, ""));
            let target_file = target_file.trim_start_matches("./");
            if !target_file.is_empty() {
                file = self
                    .files
                    .get_key_value(target_file)
                    .map(|(k, _)| k.as_str())
                    .unwrap_or_else(|| panic!("$ref to a missing spec file: {r}"));
            }
            v = self.files[file]
                .pointer(pointer)
                .unwrap_or_else(|| panic!("$ref to nothing: {r} in {file}"));
        }
        panic!("$ref cycle in {file}");
    }

    /// Checks `value` against `schema` (from `file`); each problem is added to `errors` with its JSON path.
    pub fn check(
        &self,
        file: &str,
        schema: &Value,
        value: &Value,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let (file, schema) = self.resolve(file, schema);
        if value.is_null() && schema["x-nullable"] == Value::Bool(true) {
            return;
        }
        let ty = schema["type"].as_str().or_else(|| {
            (schema.get("properties").is_some() || schema.get("additionalProperties").is_some())
                .then_some("object")
        });
        let type_ok = match ty {
            None => true,
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some(other) => {
                errors.push(format!("{at}: the schema's type {other} is not known here"));
                return;
            }
        };
        if !type_ok {
            errors.push(format!(
                "{at}: expected {}, got {}",
                ty.unwrap_or("?"),
                short(value)
            ));
            return;
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                errors.push(format!(
                    "{at}: {} is not one of {}",
                    short(value),
                    Value::Array(allowed.clone())
                ));
            }
        }
        match value {
            Value::Object(map) => {
                for r in schema["required"].as_array().into_iter().flatten() {
                    if let Some(name) = r.as_str() {
                        if !map.contains_key(name) {
                            errors.push(format!("{at}: required property '{name}' is missing"));
                        }
                    }
                }
                let props = schema["properties"].as_object();
                let required = |k: &str| {
                    schema["required"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x == k))
                };
                for (k, v) in map {
                    if v.is_null() && NULL_WHEN_ABSENT.contains(&k.as_str()) && !required(k) {
                        continue;
                    }
                    match props.and_then(|p| p.get(k)) {
                        Some(s) => self.check(file, s, v, &format!("{at}.{k}"), errors),
                        None => {
                            if let Some(extra) = schema.get("additionalProperties") {
                                if extra.is_object() {
                                    self.check(file, extra, v, &format!("{at}.{k}"), errors);
                                }
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(s) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.check(file, s, v, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[test]
fn the_schema_check_finds_what_it_should() {
    let dir = specs_dir().join("7.5");
    let specs = SpecSet::load(&dir);
    let bundle = serde_json::json!({"$ref": "#/definitions/SecretBundle"});
    let mut errors = Vec::new();
    specs.check(
        "secrets.json",
        &bundle,
        &serde_json::json!({"value": "v", "id": "https://x/secrets/a/b", "attributes": {"enabled": true, "recoveryLevel": "Recoverable+Purgeable", "created": 1}, "tags": {"a": "b"}}),
        "$",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    specs.check(
        "secrets.json",
        &bundle,
        &serde_json::json!({"value": 5, "attributes": {"recoveryLevel": "Sometimes", "created": "yesterday"}, "tags": {"a": 1}}),
        "$",
        &mut errors,
    );
    let list = serde_json::json!({"$ref": "#/definitions/SecretListResult"});
    let mut last_page = Vec::new();
    specs.check(
        "secrets.json",
        &list,
        &serde_json::json!({"value": [], "nextLink": null}),
        "$",
        &mut last_page,
    );
    assert!(last_page.is_empty(), "{last_page:?}");
    specs.check(
        "secrets.json",
        &list,
        &serde_json::json!({"value": null, "nextLink": 3}),
        "$",
        &mut errors,
    );
    let text = errors.join("\n");
    for needle in [
        "$.value: expected string",
        "$.attributes.recoveryLevel: \"Sometimes\" is not one of",
        "$.attributes.created: expected integer",
        "$.tags.a: expected string",
        "$.value: expected array, got null",
        "$.nextLink: expected string, got 3",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // Required properties, and a $ref into common.json (the 7.5 backup spec).
    let mut errors = Vec::new();
    let err = serde_json::json!({"$ref": "common.json#/definitions/KeyVaultError"});
    specs.check(
        "backuprestore.json",
        &err,
        &serde_json::json!({"error": {"code": 1}}),
        "$",
        &mut errors,
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("$.error.code: expected string")),
        "{errors:?}"
    );
    let mut errors = Vec::new();
    specs.check(
        "keys.json",
        &serde_json::json!({"$ref": "#/definitions/KeyRestoreParameters"}),
        &serde_json::json!({}),
        "$",
        &mut errors,
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("required property 'value'")),
        "{errors:?}"
    );
}
