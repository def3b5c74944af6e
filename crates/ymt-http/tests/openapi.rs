//! The OpenAPI document describes the router: every route of the one route
//! table is an operation of the document (and no operation is described
//! that the router does not serve), every reference resolves, and every
//! operation says what it answers when the node sheds load.

use std::collections::BTreeSet;

use serde_json::{Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `METHOD /path` of every route the router serves that `document` does not
/// describe, and of every operation `document` describes that no route
/// serves. Axum's `{param}` templates are OpenAPI's.
fn mismatches(routes: &[(String, String)], document: &Value) -> Vec<String> {
    let served: BTreeSet<String> = routes
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    let mut described = BTreeSet::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if item.get(method).is_some() {
                    described.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
    }
    let undescribed = served
        .difference(&described)
        .map(|route| format!("{route}: served but not described"));
    let unserved = described
        .difference(&served)
        .map(|operation| format!("{operation}: described but not served"));
    undescribed.chain(unserved).collect()
}

#[test]
fn every_route_is_described_and_every_operation_is_served() {
    let problems = mismatches(&ymt_http::route_table(), &ymt_http::openapi::openapi_json());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_check_fails_on_a_missing_route_or_a_stray_operation() {
    let routes = |lines: &[&str]| -> Vec<(String, String)> {
        lines
            .iter()
            .map(|line| {
                let (method, path) = line.split_once(' ').unwrap();
                (method.to_owned(), path.to_owned())
            })
            .collect()
    };
    let document = json!({"paths": {
        "/v1/persons/{pid}/status": {"get": {}},
        "/v1/rule-sets": {"get": {}, "post": {}},
    }});
    assert_eq!(
        mismatches(
            &routes(&[
                "GET /v1/persons/{pid}/status",
                "GET /v1/rule-sets",
                "POST /v1/rule-sets"
            ]),
            &document
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        mismatches(
            &routes(&[
                "GET /v1/persons/{pid}/status",
                "GET /v1/rule-sets",
                "DELETE /v1/rule-sets",
                "GET /healthz",
            ]),
            &document
        ),
        [
            "DELETE /v1/rule-sets: served but not described",
            "GET /healthz: served but not described",
            "POST /v1/rule-sets: described but not served",
        ]
    );
    // The real table with one route dropped from the document.
    let mut document = ymt_http::openapi::openapi_json();
    document["paths"]["/v1/persons/{pid}/status"]
        .as_object_mut()
        .unwrap()
        .remove("get");
    assert_eq!(
        mismatches(&ymt_http::route_table(), &document),
        ["GET /v1/persons/{pid}/status: served but not described"]
    );
}

/// Every `$ref` string anywhere in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            for (key, item) in object {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => found.push(target),
                    _ => refs(item, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let document = ymt_http::openapi::openapi_json();
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(!found.is_empty());
    let dangling: Vec<_> = found
        .into_iter()
        .filter(|target| {
            let pointer = target.strip_prefix('#').unwrap_or(target);
            document.pointer(pointer).is_none()
        })
        .collect();
    assert!(dangling.is_empty(), "unresolved: {dangling:?}");
}

#[test]
fn the_document_names_its_authentication_and_every_operation_may_shed_load() {
    let document = ymt_http::openapi::openapi_json();
    assert_eq!(document["openapi"], "3.1.0");
    let description = document["info"]["description"].as_str().unwrap();
    for phrase in [
        "Authorization: Bearer ymt_<principal>.<secret>",
        "ymt_session",
    ] {
        assert!(description.contains(phrase), "{phrase}");
    }
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["citizenSession"]["in"], "cookie");
    assert_eq!(schemes["citizenSession"]["name"], "ymt_session");
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["responses"].get("503").is_some(),
                "{method} {path} does not describe 503"
            );
            assert!(operation["tags"].is_array(), "{method} {path} has no tag");
        }
    }
    // Request bodies refuse unknown fields where the parser does.
    let schemas = &document["components"]["schemas"];
    for name in ["RegisterBody", "TestResult", "RiskAreaRequest"] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
}
