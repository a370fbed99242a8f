//! Spreadsheet exchange for the risk register: import from and export to XLSX and CSV.
//!
//! Partner councils already keep their risk registers in Excel, and committees still want a
//! workbook they can print and filter. This crate is the bridge, and it is pure: bytes in,
//! bytes out, no IO, no async, so the server can call it from a request handler and the tests
//! can run it on workbooks built in memory.
//!
//! - [`import`] turns a council's workbook into changes to a register in three steps that a
//!   person can check between: [`import::read_table`] finds the header row (below title rows,
//!   across merged two-row headings) and keeps each row's sheet row number;
//!   [`import::Mapping::guess`] says which column holds which field, and a REST caller can
//!   override it as JSON; [`import::preview`] shows, row by row, what would be created, updated
//!   or refused and why, and [`import::Preview::apply_to`] does exactly that and nothing more.
//! - [`export`] writes the register as a workbook (one sheet per entity, with bands as text
//!   *and* colour, real dates, frozen and filterable headers, print titles) or the risks as
//!   CSV. Its column headers are ones [`import::Mapping::guess`] recognises, so a workbook
//!   exported, edited and imported again round-trips.
//!
//! - [`sla`] does the same for service-level agreements: KPIs with a column of figures per
//!   month, measurements, cost shares with a column per council.
//! - [`report`] writes the committee report's HTML (for print and PDF): the register's heat
//!   maps, red risks and what changed since a named version.
//!
//! Council fields hold organisation ids; sheets hold council names. Both directions take the
//! partnership's `(organisation id, name)` pairs to translate.

pub mod export;
pub mod import;
pub mod report;
pub mod sla;

/// The partnership's councils as `(organisation id, display name)` pairs: names are what a
/// sheet shows, ids are what the register stores.
pub type Councils = [(String, String)];

/// `councils` with more names for them, as an officer gave them for one import ("Eastbridge
/// DC (old name)" → Eastbridge's id): each name that names one of `councils` comes after the
/// councils themselves (so a council is still shown by its own name); the rest are returned,
/// refused.
pub fn with_names(
    councils: &Councils,
    names: &std::collections::BTreeMap<String, String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut all = councils.to_vec();
    let mut refused = Vec::new();
    for (name, id) in names {
        if councils.iter().any(|(i, _)| i == id) && !name.trim().is_empty() {
            all.push((id.clone(), name.trim().to_owned()));
        } else {
            refused.push(name.clone());
        }
    }
    (all, refused)
}
