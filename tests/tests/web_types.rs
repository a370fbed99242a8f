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
         `CONCORDAT_UPDATE_WEB_TYPES=1 cargo nextest run -p tests --test web_types` and \
         `npm run types` in web/"
    );
}
