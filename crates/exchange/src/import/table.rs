//! Reading cells and finding the header.
//!
//! Council workbooks are made for people: a title row or two, a blank row, headings merged
//! over two rows ("Current score" over "Likelihood" | "Impact"), blank rows between sections.
//! This module turns any of that into one header per column and the data rows below it, each
//! with the row number Excel shows, so that errors can point at the original.

use std::io::Cursor;

use calamine::{DataRef, Reader, Xlsx};
use chrono::NaiveDate;

use super::archive::{ArchiveError, ArchiveLimits, check_archive};
use super::mapping::guess_field;
use super::values::{looks_like_number_or_date, ymd};
use crate::import::Field;

/// Which kind of file the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// Why a file could not be read as a table at all (problems with single rows are reported by
/// the preview instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not a readable XLSX workbook: {0}")]
    Xlsx(String),
    #[error("the file is not readable as CSV: {0}")]
    Csv(String),
    #[error("the workbook has no sheet named {0:?}")]
    NoSuchSheet(String),
    #[error("the workbook has no sheets")]
    NoSheets,
    #[error("the workbook has {0} sheets; an import reads at most {1}")]
    TooManySheets(usize, usize),
    /// A column mapping sent with the file names no column or no council.
    #[error("the mapping is refused: {0}")]
    Mapping(String),
    #[error("the sheet is larger than an import takes ({0} rows, {1} columns)")]
    TooLarge(u32, u32),
    /// The workbook's zip archive is past one of [`Limits::archive`]: refused before the
    /// workbook is parsed.
    #[error("the workbook is refused before reading: {0}")]
    Archive(#[from] ArchiveError),
    #[error(
        "no header row found: none of the first {HEADER_SEARCH_ROWS} rows names at least \
         {MIN_KNOWN_HEADERS} known columns (such as Ref, Risk title, Owner)"
    )]
    NoHeader,
}

/// How far down the header is looked for: below that, a sheet is not a register.
const HEADER_SEARCH_ROWS: usize = 10;
/// How many recognised column names make a row the header: fewer could be a title or a note.
const MIN_KNOWN_HEADERS: usize = 3;

/// One cell, with just the kinds the import needs to tell apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    /// A cell Excel formatted as a date.
    Date(NaiveDate),
    Bool(bool),
    /// Text longer than [`Limits::cell_chars`]: the text itself is dropped as it is read, and
    /// the preview refuses the row if the cell's column is imported.
    TooLong {
        /// The text's length in characters.
        chars: usize,
        /// The limit it is over.
        limit: usize,
    },
}

impl Cell {
    /// Text, or [`Cell::TooLong`] when it has more than `limit` characters.
    pub(crate) fn text_within(text: &str, limit: usize) -> Cell {
        // A byte count at most the limit is a character count at most the limit.
        if text.len() <= limit {
            return Cell::Text(text.to_owned());
        }
        match text.chars().count() {
            chars if chars > limit => Cell::TooLong { chars, limit },
            _ => Cell::Text(text.to_owned()),
        }
    }

    /// Empty, or only whitespace.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text, trimmed: numbers without a trailing `.0`, dates as `dd/mm/yyyy`;
    /// empty for text that was too long.
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(t) => t.trim().replace("\r\n", "\n"),
            Cell::Number(n) => format_number(*n),
            Cell::Date(d) => d.format("%d/%m/%Y").to_string(),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            Cell::TooLong { .. } => String::new(),
        }
    }

    /// How an error message shows the value: numbers bare, text quoted.
    pub fn shown(&self) -> String {
        match self {
            Cell::Number(n) => format_number(*n),
            Cell::TooLong { chars, .. } => format!("({chars} characters of text)"),
            other => format!("{:?}", other.text()),
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A data row below the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row number Excel shows (1-based); for CSV, the row Excel would show on opening it.
    pub number: u32,
    /// Cells from column A; a row may be shorter than the header.
    pub cells: Vec<Cell>,
    /// Cells filled with a colour, as (column, `0xRRGGBB`): councils mark a RAG rating by
    /// colour alone. Only a workbook's cells have one.
    pub fills: Vec<(usize, u32)>,
}

impl Row {
    /// The cell in column `col` (0 = A); empty past the end of the row.
    pub fn get(&self, col: usize) -> &Cell {
        self.cells.get(col).unwrap_or(&Cell::Empty)
    }

    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(Cell::is_blank)
    }

    /// The colour a cell is filled with, if any.
    pub fn fill(&self, col: usize) -> Option<u32> {
        self.fills
            .iter()
            .find(|(c, _)| *c == col)
            .map(|(_, rgb)| *rgb)
    }
}

/// A sheet as header plus data rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// One heading per column from A; a heading spread over two rows is combined
    /// ("Current score Likelihood"). Empty where a column has no heading.
    pub headers: Vec<String>,
    /// The sheet row of the (first) header row, 1-based.
    pub header_row: u32,
    /// 1, or 2 when a group heading row sits above the sub headings.
    pub header_height: u32,
    /// Every row below the header, blank ones included (the preview counts them).
    pub rows: Vec<Row>,
}

impl Table {
    /// The column's heading for messages, or its letter when it has none.
    pub fn header_name(&self, col: usize) -> String {
        match self.headers.get(col) {
            Some(h) if !h.trim().is_empty() => h.trim().to_owned(),
            _ => format!("Column {}", column_letter(col)),
        }
    }
}

/// The spreadsheet letter of a column: 0 → `A`, 26 → `AA`.
pub fn column_letter(col: usize) -> String {
    let mut n = col + 1;
    let mut s = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        s.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    s.reverse();
    String::from_utf8_lossy(&s).into_owned()
}

/// How large an import may be. A workbook names its own size, and a hostile one with a single
/// cell at XFD1048576 would otherwise make a grid of seventeen billion cells; its zip archive
/// may expand a thousandfold; a single cell may hold a book. Rows and columns are checked cell
/// by cell while reading, before anything is allocated for the grid; the archive before the
/// workbook is parsed at all; cell text as each cell is read.
///
/// Build it with `..Default::default()` so limits added later take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows, counted as the sheet numbers them (title and header rows included). Default 5 000.
    pub rows: u32,
    /// Default 200.
    pub columns: u32,
    /// Most characters of text one cell may hold, for XLSX and CSV alike. Default 10 000
    /// (Excel itself stops at 32 767). A longer cell is read as [`Cell::TooLong`], without
    /// its text, and [`preview`](super::preview) refuses its row, naming the column and this
    /// limit, when the column is imported; the rest of the file imports as usual.
    pub cell_chars: usize,
    /// The zip archive of an XLSX workbook, checked by [`check_archive`] before the workbook
    /// is parsed. Not used for CSV.
    pub archive: ArchiveLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rows: 5_000,
            columns: 200,
            cell_chars: 10_000,
            archive: ArchiveLimits::default(),
        }
    }
}

/// Reads the first sheet of a workbook (or the named one), or a CSV file, and finds its header.
///
/// `sheet` is ignored for CSV. A workbook whose archive is past `limits.archive` is refused
/// before it is parsed ([`ImportError::Archive`]); a sheet past `limits.rows` or
/// `limits.columns` is refused whole; cells longer than `limits.cell_chars` are kept only as
/// [`Cell::TooLong`].
pub fn read_table(
    bytes: &[u8],
    format: Format,
    sheet: Option<&str>,
    limits: Limits,
) -> Result<Table, ImportError> {
    match format {
        Format::Xlsx => {
            check_archive(bytes, &limits.archive)?;
            read_xlsx(bytes, sheet, limits)
        }
        Format::Csv => {
            let grid = read_csv(bytes, limits)?;
            detect(grid, None)
        }
    }
}

/// A merged range, 0-based and inclusive: ((first row, first col), (last row, last col)).
pub(crate) type Merge = ((u32, u32), (u32, u32));

fn read_xlsx(bytes: &[u8], sheet: Option<&str>, limits: Limits) -> Result<Table, ImportError> {
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| ImportError::Xlsx(e.to_string()))?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(s)))
            .cloned()
            .ok_or_else(|| ImportError::NoSuchSheet(s.to_owned()))?,
        None => names.first().cloned().ok_or(ImportError::NoSheets)?,
    };
    let (grid, merges) = xlsx_grid(&mut book, &name, limits)?;
    if grid.is_empty() {
        return Err(ImportError::NoHeader);
    }
    // Row numbers are absolute, so the header search counts rows as a person sees them even
    // when the used range starts lower down.
    detect(grid, Some(&merges))
}

/// A workbook's sheets in order, for choosing which one to import (none for CSV). The
/// archive is checked against `archive` first.
pub fn sheet_names(
    bytes: &[u8],
    format: Format,
    archive: &ArchiveLimits,
) -> Result<Vec<String>, ImportError> {
    match format {
        Format::Csv => Ok(Vec::new()),
        Format::Xlsx => {
            check_archive(bytes, archive)?;
            let book: Xlsx<_> =
                Xlsx::new(Cursor::new(bytes)).map_err(|e| ImportError::Xlsx(e.to_string()))?;
            Ok(book.sheet_names())
        }
    }
}

/// One sheet of a workbook (or the one table of a CSV) as read, before its header is found.
#[derive(Debug, Clone)]
pub(crate) struct Sheet {
    /// The sheet's name ("CSV" for a CSV file).
    pub name: String,
    pub grid: Vec<Row>,
    /// Merged ranges (none for CSV).
    pub merges: Option<Vec<Merge>>,
}

/// Every sheet of a workbook, up to `max_sheets` (more is refused), or the CSV's one table.
/// The archive is checked against `limits.archive` first, and each sheet against the row,
/// column and cell limits as for [`read_table`].
pub(crate) fn read_sheets(
    bytes: &[u8],
    format: Format,
    limits: Limits,
    max_sheets: usize,
) -> Result<Vec<Sheet>, ImportError> {
    match format {
        Format::Csv => Ok(vec![Sheet {
            name: "CSV".to_owned(),
            grid: read_csv(bytes, limits)?,
            merges: None,
        }]),
        Format::Xlsx => {
            check_archive(bytes, &limits.archive)?;
            let mut book: Xlsx<_> =
                Xlsx::new(Cursor::new(bytes)).map_err(|e| ImportError::Xlsx(e.to_string()))?;
            let names = book.sheet_names();
            if names.is_empty() {
                return Err(ImportError::NoSheets);
            }
            if names.len() > max_sheets {
                return Err(ImportError::TooManySheets(names.len(), max_sheets));
            }
            names
                .into_iter()
                .map(|name| {
                    let (grid, merges) = xlsx_grid(&mut book, &name, limits)?;
                    Ok(Sheet {
                        name,
                        grid,
                        merges: Some(merges),
                    })
                })
                .collect()
        }
    }
}

/// A sheet's non-empty cells as rows (numbered as Excel shows them), and its merged ranges.
fn xlsx_grid(
    book: &mut Xlsx<Cursor<&[u8]>>,
    name: &str,
    limits: Limits,
) -> Result<(Vec<Row>, Vec<Merge>), ImportError> {
    let merges: Vec<Merge> = book
        .merge_cells_by_sheet_name(name)
        .map_err(|e| ImportError::Xlsx(e.to_string()))?
        .into_iter()
        .map(|d| (d.start, d.end))
        .collect();
    // Cell by cell, sparse, so a far-away cell is refused before a grid is built for it.
    let mut cells: std::collections::BTreeMap<u32, Vec<(u32, Cell)>> = Default::default();
    let mut reader = book
        .worksheet_cells_reader(name)
        .map_err(|e| ImportError::Xlsx(e.to_string()))?;
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| ImportError::Xlsx(e.to_string()))?
    {
        let (r, c) = cell.get_position();
        let value = convert(cell.get_value(), limits.cell_chars);
        if value == Cell::Empty {
            continue;
        }
        if r >= limits.rows || c >= limits.columns {
            return Err(ImportError::TooLarge(limits.rows, limits.columns));
        }
        cells.entry(r).or_default().push((c, value));
    }
    drop(reader);
    let Some(last) = cells.keys().next_back().copied() else {
        return Ok((Vec::new(), merges));
    };
    let first = cells.keys().next().copied().unwrap_or(0);
    let mut grid = Vec::with_capacity((last - first + 1) as usize);
    for r in first..=last {
        let mut row: Vec<Cell> = Vec::new();
        for (c, value) in cells.remove(&r).unwrap_or_default() {
            if row.len() <= c as usize {
                row.resize(c as usize + 1, Cell::Empty);
            }
            row[c as usize] = value;
        }
        grid.push(Row {
            number: r + 1,
            cells: row,
            fills: Vec::new(),
        });
    }
    add_fills(book, name, &mut grid, limits)?;
    Ok((grid, merges))
}

/// Records each grid cell's fill colour (within the sheet's column limit). Looked up cell by
/// cell: the styles' bounding box may be vast in a hostile workbook, the grid is bounded.
fn add_fills(
    book: &mut Xlsx<Cursor<&[u8]>>,
    name: &str,
    grid: &mut [Row],
    limits: Limits,
) -> Result<(), ImportError> {
    let styles = book
        .worksheet_style(name)
        .map_err(|e| ImportError::Xlsx(e.to_string()))?;
    if styles.is_empty() {
        return Ok(());
    }
    let width = grid
        .iter()
        .map(|r| r.cells.len())
        .max()
        .unwrap_or(0)
        .min(limits.columns as usize);
    for row in grid.iter_mut() {
        for col in 0..width {
            let rgb = styles
                .get((row.number - 1, col as u32))
                .and_then(|s| s.fill.as_ref())
                .filter(|f| f.is_visible())
                .and_then(|f| f.get_color())
                .map(|c| c.to_argb() & 0xFF_FFFF);
            if let Some(rgb) = rgb {
                row.fills.push((col, rgb));
            }
        }
    }
    Ok(())
}

fn convert(d: &DataRef<'_>, cell_chars: usize) -> Cell {
    let text = |s: &str| Cell::text_within(s, cell_chars);
    match d {
        DataRef::Empty => Cell::Empty,
        DataRef::String(s) if s.trim().is_empty() => Cell::Empty,
        DataRef::SharedString(s) if s.trim().is_empty() => Cell::Empty,
        DataRef::String(s) => text(s),
        DataRef::SharedString(s) => text(s),
        DataRef::Int(i) => Cell::Number(*i as f64),
        DataRef::Float(f) => Cell::Number(*f),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(dt) if dt.is_datetime() => {
            let (y, m, day, ..) = dt.to_ymd_hms_milli();
            ymd(i32::from(y), u32::from(m), u32::from(day))
                .map_or_else(|| Cell::Number(dt.as_f64()), Cell::Date)
        }
        DataRef::DateTime(dt) => Cell::Number(dt.as_f64()),
        DataRef::DateTimeIso(s) => s
            .get(..10)
            .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok())
            .map_or_else(|| text(s), Cell::Date),
        DataRef::DurationIso(s) => text(s),
        DataRef::Error(e) => Cell::Text(e.to_string()),
    }
}

fn read_csv(bytes: &[u8], limits: Limits) -> Result<Vec<Row>, ImportError> {
    // One kind of line break, ending every record: the row numbering below relies on it
    // (the csv crate counts a CRLF's LF towards the next record).
    let mut text = decode(bytes).replace("\r\n", "\n").replace('\r', "\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut grid = Vec::new();
    // The csv crate skips empty lines; Excel shows them as blank rows. Put them back so row
    // numbers match what a person sees when opening the file.
    let mut record = csv::StringRecord::new();
    loop {
        // The reader's position before a record is where the previous one ended, before any
        // skipped empty lines; after it, the line following the record. The record's own
        // first line is found by counting back over the new lines inside its quoted cells.
        let before = reader.position().line();
        let more = reader
            .read_record(&mut record)
            .map_err(|e| ImportError::Csv(e.to_string()))?;
        if !more {
            break;
        }
        let inner = record
            .iter()
            .map(|f| f.matches('\n').count() as u64)
            .sum::<u64>();
        let start = reader.position().line().saturating_sub(1 + inner);
        if start.saturating_sub(before) + grid.len() as u64 > u64::from(limits.rows) {
            return Err(ImportError::TooLarge(limits.rows, limits.columns));
        }
        for _ in before..start {
            grid.push(Row {
                number: grid.len() as u32 + 1,
                cells: Vec::new(),
                fills: Vec::new(),
            });
        }
        if grid.len() as u64 + 1 > u64::from(limits.rows) || record.len() > limits.columns as usize
        {
            return Err(ImportError::TooLarge(limits.rows, limits.columns));
        }
        let cells = record
            .iter()
            .map(|f| {
                if f.trim().is_empty() {
                    Cell::Empty
                } else {
                    // The export's guard against formulas (`'=…`) comes off again.
                    match f.strip_prefix('\'') {
                        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
                            Cell::text_within(rest, limits.cell_chars)
                        }
                        _ => Cell::text_within(f, limits.cell_chars),
                    }
                }
            })
            .collect();
        grid.push(Row {
            number: grid.len() as u32 + 1,
            cells,
            fills: Vec::new(),
        });
    }
    Ok(grid)
}

/// UTF-8 (with or without a byte-order mark), or else Windows-1252, which is what Excel on a
/// UK council desktop writes as "CSV" — so "£" survives either way.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Text of a header cell (numbers and dates never name a column).
pub(crate) fn heading(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => t.split_whitespace().collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

/// How many different fields a candidate header names.
fn known(headers: &[String]) -> usize {
    let mut fields: Vec<Field> = headers
        .iter()
        .map(|h| guess_field(h))
        .filter(|f| *f != Field::Ignore)
        .collect();
    fields.sort();
    fields.dedup();
    fields.len()
}

/// Finds the header in the first rows and splits the grid into header and data rows.
///
/// `merges` is `None` for CSV, where a group heading spans its sub headings by being followed
/// by empty cells; in a workbook, merged ranges say exactly which columns a heading covers.
fn detect(grid: Vec<Row>, merges: Option<&[Merge]>) -> Result<Table, ImportError> {
    detect_with(grid, merges, &known, heading).ok_or(ImportError::NoHeader)
}

/// [`detect`] with another vocabulary: `known` counts the fields a candidate header names
/// (at least [`MIN_KNOWN_HEADERS`] make it the header), `heading` reads a header cell.
/// `None` when no row in the first [`HEADER_SEARCH_ROWS`] is a header.
pub(crate) fn detect_with(
    grid: Vec<Row>,
    merges: Option<&[Merge]>,
    known: &dyn Fn(&[String]) -> usize,
    heading: fn(&Cell) -> String,
) -> Option<Table> {
    let width = grid.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    let window = grid
        .iter()
        .take_while(|r| (r.number as usize) <= HEADER_SEARCH_ROWS)
        .count();
    let at = (0..window).find(|&i| {
        let h: Vec<String> = grid[i].cells.iter().map(heading).collect();
        known(&h) >= MIN_KNOWN_HEADERS
    })?;
    let single: Vec<String> = (0..width).map(|c| heading(grid[at].get(c))).collect();
    let mut headers = single.clone();
    let mut height = 1;
    if let Some(below) = grid.get(at + 1)
        && is_sub_heading_row(below)
    {
        let combined = combine(&grid[at], below, width, merges, heading);
        if known(&combined) > known(&single) {
            headers = combined;
            height = 2;
        }
    }
    let header_row = grid[at].number;
    let rows = grid.into_iter().skip(at + height).collect();
    Some(Table {
        headers,
        header_row,
        header_height: height as u32,
        rows,
    })
}

/// A row of sub headings holds only words: a data row has numbers or dates somewhere.
fn is_sub_heading_row(row: &Row) -> bool {
    !row.is_blank()
        && row.cells.iter().all(|c| match c {
            Cell::Empty => true,
            Cell::Text(t) => !looks_like_number_or_date(t),
            _ => false,
        })
}

/// Each column's group heading (from the row above, spread over its merged range) joined with
/// its sub heading: "Current score" + "Likelihood" → "Current score Likelihood".
fn combine(
    top: &Row,
    below: &Row,
    width: usize,
    merges: Option<&[Merge]>,
    heading: fn(&Cell) -> String,
) -> Vec<String> {
    let top_row = top.number - 1; // 0-based, as calamine reports merges
    let mut groups: Vec<String> = Vec::with_capacity(width);
    for c in 0..width {
        let own = heading(top.get(c));
        let group = if !own.is_empty() {
            own
        } else {
            match merges {
                Some(merges) => merges
                    .iter()
                    .find(|((r0, c0), (r1, c1))| {
                        *r0 <= top_row && top_row <= *r1 && (*c0 as usize) <= c && c <= *c1 as usize
                    })
                    .map(|((_, c0), _)| heading(top.get(*c0 as usize)))
                    .unwrap_or_default(),
                // CSV: a heading carries right over empty cells while there are sub headings
                // under them.
                None if c > 0 && !below.get(c).is_blank() && !below.get(c - 1).is_blank() => {
                    groups[c - 1].clone()
                }
                None => String::new(),
            }
        };
        groups.push(group);
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(c, group)| {
            let sub = heading(below.get(c));
            match (group.is_empty(), sub.is_empty()) {
                (_, true) => group,
                (true, false) => sub,
                (false, false) => format!("{group} {sub}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn csv_keeps_excel_row_numbers_across_blank_lines_and_multiline_cells() {
        let csv = "Register\n\nRef,Title,Owner\nA1,\"two\nlines\",Jo\n\n\nA2,x,Jo";
        let t = read_table(csv.as_bytes(), Format::Csv, None, Default::default()).unwrap();
        assert_eq!(t.header_row, 3);
        let numbers: Vec<(u32, bool)> = t.rows.iter().map(|r| (r.number, r.is_blank())).collect();
        assert_eq!(numbers, [(4, false), (5, true), (6, true), (7, false)]);
        assert_eq!(t.rows[0].get(1), &Cell::Text("two\nlines".into()));
        // The same with Windows line ends and a byte-order mark, as Excel saves "CSV UTF-8".
        let crlf = format!("\u{feff}{}", csv.replace('\n', "\r\n"));
        let t = read_table(crlf.as_bytes(), Format::Csv, None, Default::default()).unwrap();
        assert_eq!(t.headers[0], "Ref");
        let again: Vec<(u32, bool)> = t.rows.iter().map(|r| (r.number, r.is_blank())).collect();
        assert_eq!(again, numbers);
        assert_eq!(t.rows[0].get(1).text(), "two\nlines");
    }

    #[test]
    fn csv_group_headings_carry_over_empty_cells() {
        let csv = "Ref,Title,Owner,Current score,,Notes\n,,,L,I,\nR1,t,o,2,3,n\n";
        let t = read_table(csv.as_bytes(), Format::Csv, None, Default::default()).unwrap();
        assert_eq!(t.header_height, 2);
        assert_eq!(t.headers[3], "Current score L");
        assert_eq!(t.headers[4], "Current score I");
        assert_eq!(t.headers[5], "Notes");
        assert_eq!(t.rows[0].number, 3);
    }

    #[test]
    fn windows_1252_csv_is_decoded() {
        let bytes = b"Ref,Title,Owner\nR1,Cost \xa3100k \x96 rising,Jo\n";
        let t = read_table(bytes, Format::Csv, None, Default::default()).unwrap();
        assert_eq!(t.rows[0].get(1).text(), "Cost £100k – rising");
    }

    #[test]
    fn a_sheet_without_a_header_is_refused() {
        let csv = "just,some,words\n1,2,3\n";
        assert_eq!(
            read_table(csv.as_bytes(), Format::Csv, None, Default::default()),
            Err(ImportError::NoHeader)
        );
        assert!(matches!(
            read_table(b"not a zip", Format::Xlsx, None, Default::default()),
            Err(ImportError::Xlsx(_))
        ));
    }

    /// A hostile workbook with one far-away cell, and a CSV too wide or too long, are refused
    /// before a grid is built for them.
    #[test]
    fn sheets_past_the_limits_are_refused() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "Ref").unwrap();
        sheet.write_string(0, 1, "Risk title").unwrap();
        sheet.write_string(0, 2, "Owner").unwrap();
        sheet.write_string(1_048_575, 16_383, "far away").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert_eq!(
            read_table(&bytes, Format::Xlsx, None, Limits::default()),
            Err(ImportError::TooLarge(5_000, 200))
        );
        let wide = format!("Ref,Risk title,Owner{}\n", ",x".repeat(300));
        assert!(matches!(
            read_table(wide.as_bytes(), Format::Csv, None, Limits::default()),
            Err(ImportError::TooLarge(..))
        ));
        let long = format!("Ref,Risk title,Owner\n{}A,b,c\n", "\n".repeat(10_000));
        assert!(matches!(
            read_table(long.as_bytes(), Format::Csv, None, Limits::default()),
            Err(ImportError::TooLarge(..))
        ));
        let small = Limits {
            rows: 3,
            columns: 5,
            ..Default::default()
        };
        assert!(read_table(b"Ref,Risk title,Owner\nA,b,c\n", Format::Csv, None, small).is_ok());
    }
}
