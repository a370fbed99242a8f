//! Import: from a council's workbook or CSV to a preview of the changes to a register.
//!
//! The steps are separate so a person (or a REST client) can look between them:
//! 1. [`read_table`] reads the cells and finds the header, keeping sheet row numbers so every
//!    problem can be found in the original file. A workbook's zip archive is checked against
//!    [`ArchiveLimits`] first ([`check_archive`]), and cells longer than
//!    [`Limits::cell_chars`] are read as [`Cell::TooLong`];
//! 2. [`Mapping::guess`] maps columns to [`Field`]s from the header text; the caller may send
//!    its own [`Mapping`] as JSON instead;
//! 3. [`preview`] decides, per row, create / update / unchanged / error, listing all of a
//!    row's problems at once; [`Preview::apply_to`] applies exactly that;
//! 4. [`read_register_sheets`] finds a workbook's other sheets (the assessment history, the
//!    actions, the appetite) and [`preview_workbook`] folds their rows into the preview, so an
//!    exported register imports back whole.

mod archive;
mod bands;
pub(crate) mod mapping;
pub(crate) mod preview;
pub(crate) mod scales;
pub(crate) mod sheets;
pub(crate) mod table;
pub(crate) mod values;

pub use archive::{ArchiveError, ArchiveLimits, ArchiveStats, check_archive};
pub use mapping::{Field, Mapping, MappingError};
pub use preview::{
    FieldChange, Outcome, Preview, RowPreview, Warning, WarningCode, preview, preview_workbook,
};
pub use scales::{MatrixProposal, propose_matrix};
pub use sheets::{OtherSheet, RegisterSheets, read_register_sheets};
pub use table::{
    Cell, Format, ImportError, Limits, Row, Table, column_letter, read_table, sheet_names,
};
