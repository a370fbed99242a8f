//! The browser client's types come from the server's own: `web/src/api/openapi.json` must be
//! exactly the OpenAPI document the server generates from its Rust types (the documents'
//! schemas included), and `web/src/api/schema.d.ts` is generated from it (checked by the web
//! client's own test, `web/src/api/schema.test.ts`). Run with `CONCORDAT_UPDATE_WEB_TYPES=1`
//! after changing an API or document type, then `npm run types` in `web/`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use utoipa::OpenApi;

#[test]
fn web_client_openapi_matches_the_server() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src/api/openapi.json");
    let generated = server::api::ApiDoc::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("CONCORDAT_UPDATE_WEB_TYPES").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "web/src/api/openapi.json is out of date with the server's types: run \
         `CONCORDAT_UPDATE_WEB_TYPES=1 cargo nextest run -p tests --test e2e web_types::` and \
         `npm run types` in web/"
    );
}

/// A parameter the OpenAPI document puts `in: path` is one the path template names, and every
/// parameter a handler reads from the query string is declared `in: query`: generated clients
/// build their URLs from these, so a query parameter declared as a path one gives a wrong URL.
#[test]
fn parameters_are_declared_where_they_are_sent() {
    let doc = serde_json::to_value(server::api::ApiDoc::openapi()).unwrap();
    let mut misplaced = Vec::new();
    let mut query = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let named = path.contains(&format!("{{{name}}}"));
                match p["in"].as_str().unwrap() {
                    "path" if !named => misplaced.push(format!("{method} {path}: {name}")),
                    "query" if named => misplaced.push(format!("{method} {path}: {name}")),
                    "query" => query.push(format!("{method} {path}: {name}")),
                    _ => {}
                }
            }
        }
    }
    assert_eq!(misplaced, Vec::<String>::new());
    for expected in [
        "get /api/documents: space_id",
        "get /api/documents: cursor",
        "get /sync: ticket",
        "get /api/documents/{id}/content: version",
        "get /api/documents/{id}/changes: from",
        "get /api/documents/{id}/audit: risk",
        "get /api/documents/{id}/report.html: since",
    ] {
        assert!(
            query.iter().any(|q| q == expected),
            "{expected} not a query parameter: {query:?}"
        );
    }
}
