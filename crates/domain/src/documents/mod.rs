//! What the live documents hold, as types, and the rules derived from them. Pure: the server
//! reads a document's JSON form into these types to validate it and to build views.
//!
//! - [`risk`]: the risk register — matrix as data, risks, assessments (never overwritten),
//!   actions, appetite; score and band, direction of travel, overdue and stale, heat map.
//! - [`sla`]: the SLA — KPIs and measurements, cost shares, time allocation, savings; KPI
//!   RAG and trend, cost split by basis with the re-base check, savings per council.
//! - [`agreement`]: clauses of rich text with status, anchored comments, sign-offs.
//! - [`meeting`]: attendees, agenda, decisions, actions linked to risks and KPIs.
//! - [`check`]: problems found by each document's `check()`, each with the JSON path at fault.

pub mod agreement;
pub mod check;
pub mod meeting;
pub mod risk;
pub mod sla;
