//! The REST API: routes, our JSON extractor (so bad input gets our error shape), health
//! endpoints and the OpenAPI document generated from the handlers' annotations.

pub(crate) mod documents;
mod exchange;
mod exit;
mod figures;
mod history;
mod invitations;
pub(crate) mod organisations;
mod partnerships;
pub(crate) mod platform;
mod session;
mod sso;
mod sync;
mod views;

use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub use documents::DocumentView;

/// `concordat invite`: creates an invitation as the named administrator; returns the link.
pub async fn invite_from_cli(
    state: &AppState,
    inviter: &str,
    email: &str,
    organisation: &str,
    documents: Vec<String>,
    role: &str,
    days: u32,
) -> anyhow::Result<String> {
    let (user, _) = state
        .store
        .login_lookup(store::System::LOGIN, &inviter.trim().to_lowercase())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account {inviter}"))?;
    let org = state
        .store
        .organisation_by_name(store::System::PROVISION, organisation)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organisation named {organisation:?}"))?;
    // Acts as the inviter through a short session of its own, ended when done.
    let principal = store::act_as(state.store.as_ref(), &user, 5 * 60 * 1000).await?;
    let at = store::now_millis();
    let caller = crate::auth::Caller {
        session_id: principal.session_id,
        session_expires_at: at + 5 * 60 * 1000,
        at,
        principal,
        user,
    };
    let req = invitations::CreateInvitation {
        email: email.to_owned(),
        organisation_id: org.id,
        documents,
        role: role.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        expires_in_days: Some(days),
        access_days: None,
    };
    let created = invitations::invite(state, &caller, req).await;
    state
        .store
        .revoke_session(&caller.principal, caller.session_id, store::now_millis())
        .await?;
    let created = created.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(created.link)
}

/// All routes, with body limit, timeout and request tracing applied.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    // An import carries the file as base64 (4 bytes per 3) inside a small JSON body.
    let import_limit = state.config.max_import_bytes / 3 * 4 + 64 * 1024;
    let timeout = crate::request_timeout(&state.config);
    let hsts = state
        .config
        .public_url
        .starts_with("https://")
        .then(|| axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let api = Router::new()
        .route("/auth/login", post(session::login))
        .route("/auth/refresh", post(session::refresh))
        .route("/auth/logout", post(session::logout))
        .route("/auth/setup", post(platform::set_up_account))
        .route("/auth/setup/lookup", post(platform::lookup_setup))
        .route("/auth/sso/start", get(sso::start))
        .route("/auth/sso/callback", get(sso::callback))
        .route("/auth/sso/complete", post(sso::complete))
        .route(
            "/platform/organisations/{id}/sso",
            axum::routing::put(sso::set_provider),
        )
        .route("/me", get(session::me))
        .route(
            "/platform/organisations",
            post(platform::create_organisation),
        )
        .route(
            "/platform/organisations/{id}/administrators",
            post(platform::create_administrator),
        )
        .route("/platform/partnerships", post(platform::create_partnership))
        .route(
            "/organisations",
            get(organisations::list).post(organisations::create),
        )
        .route("/organisations/{id}", get(organisations::get))
        .route(
            "/organisations/{id}/aliases",
            get(organisations::aliases).put(organisations::set_aliases),
        )
        .route(
            "/users",
            get(organisations::list_users).post(organisations::add_user),
        )
        .route("/users/setup-links", post(organisations::add_colleague))
        .route(
            "/users/{id}",
            axum::routing::patch(organisations::change_user),
        )
        .route(
            "/partnerships",
            get(partnerships::list).post(partnerships::create),
        )
        .route("/partnerships/{id}", get(partnerships::get))
        .route("/partnerships/{id}/members", post(partnerships::add_member))
        .route("/partnerships/{id}/exit", post(exit::exit))
        .route("/exits", get(exit::list))
        .route("/exits/{id}/export.zip", get(exit::download))
        .route(
            "/partnerships/{id}/members/{org_id}",
            axum::routing::delete(partnerships::remove_member),
        )
        .route("/spaces", get(partnerships::list_spaces))
        .route("/spaces/{id}", get(partnerships::get_space))
        .route("/documents", get(documents::list).post(documents::create))
        .route(
            "/documents/{id}",
            get(documents::get).patch(documents::update),
        )
        .route("/documents/{id}/grants", get(documents::list_grants))
        .route("/documents/{id}/partners-figures", post(figures::ensure))
        .route("/documents/{id}/content", get(history::content))
        .route(
            "/documents/{id}/versions",
            get(history::list_versions).post(history::create_version),
        )
        .route("/documents/{id}/changes", get(history::changes))
        .route("/documents/{id}/audit", get(history::audit))
        .route("/documents/{id}/sign-offs", post(history::sign_off))
        .route("/versions/{id}", get(history::get_version))
        .route(
            "/documents/{id}/import/preview",
            post(exchange::preview).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route(
            "/documents/{id}/import/apply",
            post(exchange::apply).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route(
            "/documents/{id}/matrix",
            axum::routing::put(exchange::set_matrix),
        )
        .route("/documents/{id}/export.xlsx", get(exchange::export_xlsx))
        .route("/documents/{id}/export.csv", get(exchange::export_csv))
        .route("/documents/{id}/report.html", get(exchange::report))
        .route("/partnerships/{id}/dashboard", get(views::dashboard))
        .route("/overview", get(views::overview))
        .route(
            "/grants/{id}",
            axum::routing::delete(documents::revoke_grant),
        )
        .route(
            "/invitations",
            get(invitations::list).post(invitations::create),
        )
        .route("/invitations/accept", post(invitations::accept))
        .route(
            "/invitations/{id}",
            axum::routing::delete(invitations::revoke),
        )
        .route("/sync/ticket", post(sync::ticket))
        .route("/openapi.json", get(openapi_json))
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(axum::middleware::map_response(api_headers));

    Router::new()
        .nest("/api", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/sync", get(sync::upgrade))
        .fallback(crate::web::serve)
        .layer(DefaultBodyLimit::max(limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            hsts,
            transport_security,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: a query string could carry a secret. The request id (a load
            // balancer's, or ours) ties every line of one request together and is sent back.
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Every API response: never cached or stored by a browser or proxy (tokens, document
/// content), not sniffed, not framed, no referrer. A handler's own header wins (the committee
/// report sets its own policy).
async fn api_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    // The committee report is HTML with its own inline styles (and inline colours); nothing
    // else it holds may load or run.
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let csp = if html {
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, csp),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, axum::http::HeaderValue::from_static(value));
        }
    }
    resp
}

/// Strict-Transport-Security on every response when people reach the server over https.
async fn transport_security(
    State(hsts): State<Option<axum::http::HeaderValue>>,
    mut resp: axum::response::Response,
) -> axum::response::Response {
    if let Some(v) = hsts {
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
    resp
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database takes a write (this node's heartbeat row, committed), so a node whose
/// database answers reads but refuses writes — read-only, full, failed over — leaves the pool.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "ready: a write committed"),
    (status = 503, description = "the database refused the write or is unreachable")))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state
        .store
        .probe_write(&state.node, store::now_millis())
        .await
    {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Prometheus metrics (text exposition format). With `CONCORDAT_METRICS_TOKEN` set, only for
/// requests bearing it.
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared as digests: equal length, so the comparison's time says nothing useful.
        if crate::auth::token_hash(given) != crate::auth::token_hash(token.expose()) {
            return (StatusCode::UNAUTHORIZED, "metrics need their bearer token").into_response();
        }
    }
    let Some(handle) = crate::metrics::handle() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed",
        )
            .into_response();
    };
    // Gauges read from the live runtime as it is now.
    ::metrics::gauge!(crate::metrics::CONNECTIONS).set(
        state
            .hub
            .connections
            .load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    ::metrics::gauge!(crate::metrics::DOCUMENTS_LOADED).set(state.hub.loaded_rooms() as f64);
    (
        [
            (header::CONTENT_TYPE, "text/plain; version=0.0.4"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        handle.render(),
    )
        .into_response()
}

async fn openapi_json() -> impl axum::response::IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Json(ApiDoc::openapi()),
    )
}

/// A JSON body parsed into `T`, with our error shape: 415 without a JSON content type, 413 past
/// the size limit, 400 for malformed JSON, 422 naming the field for a well-formed body of the
/// wrong shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.config.max_body_bytes;
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::from_body_rejection(r, limit))?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Data => {
                // "missing field `x`" names the field only in the message.
                let field = match (path.as_str(), message.strip_prefix("missing field `")) {
                    (".", Some(rest)) => rest.split('`').next().unwrap_or("").to_owned(),
                    (".", None) => String::new(),
                    (p, Some(rest)) => format!("{p}.{}", rest.split('`').next().unwrap_or("")),
                    (p, None) => p.to_owned(),
                };
                ApiError::Invalid {
                    message,
                    field: (!field.is_empty()).then_some(field),
                }
            }
            _ => ApiError::BadRequest {
                code: "malformed_json",
                message: format!("the body is not valid JSON: {message}"),
                field: None,
            },
        }
    })
}

/// Query-string parameters, with our error shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> axum::extract::FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_deserializer(q);
        de.map(ApiQuery)
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(q: &str) -> ApiResult<T> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::bad_request("query", "malformed query string"))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| ApiError::BadRequest {
        code: "bad_request",
        message: e.body_text(),
        field: None,
    })
}

/// A listing's page size: the one asked for (default 50), between 1 and the configured most.
pub fn page_limit(state: &AppState, requested: Option<u32>) -> ApiResult<u32> {
    let max = state.config.max_page_size.max(1);
    let limit = requested.unwrap_or(50.min(max));
    if limit == 0 || limit > max {
        return Err(ApiError::bad_request(
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(limit)
}

/// An id in the path that does not parse names nothing that exists.
pub fn parse_uuid(s: &str, what: &'static str) -> ApiResult<uuid::Uuid> {
    s.parse().map_err(|_| ApiError::NotFound(what))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Concordat API", description = "Partner councils' shared registers, SLAs, agreements and meetings."),
    paths(
        healthz, readyz,
        session::login, session::refresh, session::logout, session::me,
        organisations::list, organisations::get, organisations::create, organisations::aliases, organisations::set_aliases,
        organisations::list_users, organisations::add_user, organisations::add_colleague,
        organisations::change_user,
        partnerships::list, partnerships::get, partnerships::create,
        partnerships::add_member, partnerships::remove_member,
        partnerships::list_spaces, partnerships::get_space,
        documents::list, documents::create, documents::get, documents::update,
        documents::list_grants, documents::revoke_grant, figures::ensure,
        invitations::list, invitations::create, invitations::revoke, invitations::accept,
        sync::ticket, sync::upgrade,
        history::content, history::create_version, history::list_versions, history::changes,
        history::audit, history::get_version, history::sign_off,
        views::dashboard, views::overview,
        exchange::preview, exchange::apply, exchange::set_matrix, exchange::export_xlsx, exchange::export_csv,
        exchange::report,
        platform::create_organisation, platform::create_administrator,
        platform::create_partnership, platform::lookup_setup, platform::set_up_account,
        sso::set_provider, sso::start, sso::callback, sso::complete,
        exit::exit, exit::list, exit::download,
    ),
    // The documents' own schemas, so a client's types are generated from the same Rust types
    // the server validates against.
    components(schemas(
        crate::error::ErrorBody,
        domain::documents::risk::RiskRegister,
        domain::documents::sla::Sla,
        domain::documents::sla::PartnersFigures,
        domain::documents::agreement::Agreement,
        domain::documents::meeting::Meeting,
        domain::documents::changes::ChangeReport,
    )),
    modifiers(&BearerAuth, &OperationIds),
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Operation ids from method and path (`get_api_partnerships_id_dashboard`): utoipa takes the
/// handler's name, and several modules have a `get` or a `list`; client generators need them
/// unique.
struct OperationIds;

impl utoipa::Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let slug: String = path
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("_");
            for (method, op) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ] {
                if let Some(op) = op {
                    op.operation_id = Some(format!("{method}_{slug}"));
                }
            }
        }
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        inner: Inner,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field_of(json: &str) -> Option<String> {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"inner":{"count":1}}"#).as_deref(),
            Some("title")
        );
        assert_eq!(
            field_of(r#"{"title":"x","inner":{}}"#).as_deref(),
            Some("inner.count")
        );
        assert_eq!(
            field_of(r#"{"title":5,"inner":{"count":1}}"#).as_deref(),
            Some("title")
        );
        assert_eq!(
            field_of(r#"{"title":"x","inner":{"count":-1}}"#).as_deref(),
            Some("inner.count")
        );
        assert!(matches!(
            parse_json::<Body>(b"{\"title\":"),
            Err(ApiError::BadRequest {
                code: "malformed_json",
                ..
            })
        ));
    }
}
