//! Service-level agreements in and out of spreadsheets: KPIs with monthly figures as councils
//! keep them (a column per month, "n/a" for no figure), measurements one per row, and cost
//! shares with a column per council; out as a workbook (and the KPIs and measurements as CSV)
//! whose headings the import reads back.

pub mod export;
pub mod import;
mod values;

pub use import::{
    Action, Change, Counts, MeasurementChange, SheetKind, SheetView, SlaColumn, SlaField,
    SlaMapping, SlaOutcome, SlaPreview, SlaRowPreview, SlaSheet, SlaWorkbook, preview_sla,
    read_sla,
};
