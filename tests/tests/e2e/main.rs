//! Every end-to-end test, in one binary: each test binary links the whole server, so one link
//! instead of one per area. Each module is one area (its own `//!` says what it shows); nextest
//! still runs every test in a process of its own. Run one area with
//! `cargo nextest run -p tests --test e2e <module>::`.

mod api;
mod api_requests;
mod browser;
mod deploy;
mod document_edits;
mod documents_rest;
mod durability;
mod exchange_rest;
mod exchange_sla;
mod exhaustion;
mod exit;
mod js_interop;
mod jwt;
mod operations;
mod postgres_rls;
mod samod_interop;
mod several_nodes;
mod sso;
mod store_story;
mod sync_ws;
mod tenant_wall;
mod web_types;
