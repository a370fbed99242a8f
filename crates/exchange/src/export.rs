//! Export: the register as a workbook for people, or the risks as CSV for other tools.
//!
//! The workbook is what a committee clerk prints and a partner filters: one sheet per entity,
//! bold frozen headers with filters, real dates, the header repeated on every printed page,
//! and every band shown as its label *and* its colour, so it reads in greyscale and to
//! colour-blind readers. Council ids are written as names. The Risks sheet's headings are the
//! ones the import recognises, so an exported workbook can be edited and imported back.

use chrono::{Datelike, NaiveDate};
use domain::documents::risk::{AssessmentKind, Band, Direction, Risk, RiskRegister, score};
use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
    XlsxError,
};

use crate::Councils;
use crate::import::Field;
use crate::import::values::{
    council_name, council_names, date_text, escalation_name, response_name, status_name,
};

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("could not write the workbook: {0}")]
    Xlsx(#[from] XlsxError),
}

/// One value to write; the same values make the XLSX and the CSV.
pub(crate) enum Out<'a> {
    Text(String),
    Number(f64),
    Date(NaiveDate),
    /// A band cell: its label as text, filled with its colour.
    Band(Option<&'a Band>),
}

impl Out<'_> {
    pub(crate) fn text(&self) -> String {
        match self {
            Out::Text(t) => t.clone(),
            Out::Number(n) => {
                if n.fract() == 0.0 {
                    format!("{}", *n as i64)
                } else {
                    n.to_string()
                }
            }
            Out::Date(d) => date_text(*d),
            Out::Band(b) => b.map(|b| b.label.clone()).unwrap_or_default(),
        }
    }
}

pub(crate) fn text(s: &str) -> Out<'static> {
    Out::Text(s.to_owned())
}

/// The Risks sheet's headings, in order. Fields use the labels the import recognises; the
/// computed columns (band, direction) are ignored on import, and the scores are checked
/// against likelihood × impact.
fn risk_headers() -> Vec<&'static str> {
    let mut h: Vec<&'static str> = Field::RISK.iter().map(|f| f.label()).collect();
    h.extend([
        Field::InherentLikelihood.label(),
        Field::InherentImpact.label(),
        Field::InherentScore.label(),
        Field::InherentBand.label(),
        Field::CurrentLikelihood.label(),
        Field::CurrentImpact.label(),
        Field::CurrentScore.label(),
        Field::CurrentBand.label(),
        "Direction of travel (computed)",
        Field::TargetLikelihood.label(),
        Field::TargetImpact.label(),
        Field::TargetScore.label(),
        Field::TargetBand.label(),
        Field::AssessmentReason.label(),
    ]);
    h
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::New => "New",
        Direction::Improving => "Improving",
        Direction::Stable => "Stable",
        Direction::Worsening => "Worsening",
    }
}

fn kind_name(k: AssessmentKind) -> &'static str {
    match k {
        AssessmentKind::Inherent => "Inherent",
        AssessmentKind::Current => "Current",
        AssessmentKind::Target => "Target",
    }
}

fn risk_row<'a>(register: &'a RiskRegister, r: &Risk, councils: &Councils) -> Vec<Out<'a>> {
    let mut row = vec![
        text(&r.reference),
        text(&r.title),
        text(&r.cause),
        text(&r.event),
        text(&r.effect),
        text(&r.category),
        text(&r.owner),
        Out::Text(council_names(&r.owning_councils, councils)),
        Out::Text(
            r.bearing_council
                .as_deref()
                .map(|c| council_name(c, councils))
                .unwrap_or_default(),
        ),
        Out::Text(council_names(&r.affected_councils, councils)),
        Out::Date(r.identified),
        text(response_name(r.response)),
        text(&r.controls),
        Out::Number(f64::from(r.review_frequency_days)),
        Out::Date(r.next_review),
        text(status_name(r.status)),
        text(escalation_name(r.escalation)),
        Out::Text(
            r.related
                .iter()
                .filter_map(|id| register.risks.iter().find(|x| &x.id == id))
                .map(|x| x.reference.clone())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        text(&r.stated_direction),
    ];
    for kind in [
        AssessmentKind::Inherent,
        AssessmentKind::Current,
        AssessmentKind::Target,
    ] {
        match register.latest(&r.id, kind) {
            Some(a) => row.extend([
                Out::Number(f64::from(a.likelihood)),
                Out::Number(f64::from(a.impact)),
                Out::Number(f64::from(score(a.likelihood, a.impact))),
                Out::Band(register.matrix.band(a.likelihood, a.impact)),
            ]),
            None => row.extend([text(""), text(""), text(""), Out::Band(None)]),
        }
        if kind == AssessmentKind::Current {
            row.push(text(direction_name(register.direction(&r.id))));
        }
    }
    row.push(Out::Text(
        register
            .latest(&r.id, AssessmentKind::Current)
            .map(|a| a.reason.clone())
            .unwrap_or_default(),
    ));
    row
}

/// The Risks sheet as CSV (RFC 4180, CRLF line ends, dates as dd/mm/yyyy), with the same
/// columns as the workbook.
pub fn csv(register: &RiskRegister, councils: &Councils) -> String {
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    line(risk_headers().into_iter().map(str::to_owned).collect());
    for r in &register.risks {
        line(
            risk_row(register, r, councils)
                .iter()
                .map(|o| match o {
                    Out::Text(t) => defuse(t),
                    other => other.text(),
                })
                .collect(),
        );
    }
    out
}

/// Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a leading tab or
/// carriage return) gets a leading apostrophe, which Excel shows as text and the import
/// strips: a partner's risk title cannot become a formula on another council's desktop.
pub fn defuse(t: &str) -> String {
    if t.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{t}")
    } else {
        t.to_owned()
    }
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Formats shared by every sheet.
pub(crate) struct Styles {
    header: Format,
    date: Format,
    text: Format,
    bands: Vec<(String, Format)>,
}

impl Styles {
    fn new(register: &RiskRegister) -> Styles {
        Styles::with_bands(&register.matrix.bands)
    }

    /// Styles whose band cells are filled with these bands' colours.
    pub(crate) fn with_bands(bands: &[Band]) -> Styles {
        let bands = bands
            .iter()
            .map(|b| {
                let mut f = Format::new()
                    .set_align(FormatAlign::Center)
                    .set_border(FormatBorder::Thin);
                if let Some(rgb) = rgb(&b.colour) {
                    let ink = if luminance(rgb) < 0.45 {
                        Color::White
                    } else {
                        Color::Black
                    };
                    f = f.set_background_color(Color::RGB(rgb)).set_font_color(ink);
                }
                (b.id.clone(), f)
            })
            .collect();
        Styles {
            header: Format::new()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Top)
                .set_background_color(Color::RGB(0xF3_F2_F1))
                .set_border(FormatBorder::Thin),
            date: Format::new()
                .set_num_format("dd/mm/yyyy")
                .set_align(FormatAlign::Top),
            text: Format::new().set_align(FormatAlign::Top),
            bands,
        }
    }

    fn band(&self, b: &Band) -> &Format {
        self.bands
            .iter()
            .find(|(id, _)| *id == b.id)
            .map_or(&self.text, |(_, f)| f)
    }
}

/// `#d4351c` → 0xd4351c.
fn rgb(css: &str) -> Option<u32> {
    let hex = css.trim().strip_prefix('#')?;
    match hex.len() {
        6 => u32::from_str_radix(hex, 16).ok(),
        3 => {
            let n = u32::from_str_radix(hex, 16).ok()?;
            let (r, g, b) = ((n >> 8) & 0xF, (n >> 4) & 0xF, n & 0xF);
            Some((r * 17) << 16 | (g * 17) << 8 | (b * 17))
        }
        _ => None,
    }
}

/// Relative luminance (0 dark … 1 light), to pick black or white text on a band's fill.
fn luminance(rgb: u32) -> f64 {
    let channel = |shift: u32| {
        let c = f64::from((rgb >> shift) & 0xFF) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(16) + 0.7152 * channel(8) + 0.0722 * channel(0)
}

/// Writes a sheet with a bold, frozen, filterable header repeated on printed pages, and sizes
/// the columns to their content.
pub(crate) struct SheetWriter<'a> {
    ws: &'a mut Worksheet,
    styles: &'a Styles,
    widths: Vec<usize>,
    rows: u32,
}

impl<'a> SheetWriter<'a> {
    pub(crate) fn new(
        ws: &'a mut Worksheet,
        styles: &'a Styles,
        name: &str,
        title: &str,
        headers: &[&str],
    ) -> Result<Self, XlsxError> {
        ws.set_name(name)?;
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(0, col(c), *h, &styles.header)?;
        }
        ws.set_freeze_panes(1, 0)?;
        ws.set_repeat_rows(0, 0)?;
        ws.set_landscape();
        ws.set_print_fit_to_pages(1, 0);
        ws.set_header(print_header(title, name));
        Ok(SheetWriter {
            ws,
            styles,
            widths: headers.iter().map(|h| h.chars().count()).collect(),
            rows: 1,
        })
    }

    pub(crate) fn row(&mut self, cells: &[Out]) -> Result<(), XlsxError> {
        let r = self.rows;
        for (c, cell) in cells.iter().enumerate() {
            match cell {
                Out::Text(t) if t.is_empty() => {}
                Out::Text(t) => {
                    self.ws
                        .write_string_with_format(r, col(c), t, &self.styles.text)?;
                }
                Out::Number(n) => {
                    self.ws
                        .write_number_with_format(r, col(c), *n, &self.styles.text)?;
                }
                Out::Date(d) => {
                    // Excel has no dates before 1900 (nor after 9999): such a date (a typing
                    // slip that the register accepted) goes out as text rather than failing
                    // the whole workbook.
                    match ExcelDateTime::from_ymd(
                        u16::try_from(d.year()).unwrap_or(0),
                        d.month() as u8,
                        d.day() as u8,
                    ) {
                        Ok(dt) => {
                            self.ws.write_datetime_with_format(
                                r,
                                col(c),
                                &dt,
                                &self.styles.date,
                            )?;
                        }
                        Err(_) => {
                            self.ws.write_string_with_format(
                                r,
                                col(c),
                                date_text(*d),
                                &self.styles.text,
                            )?;
                        }
                    }
                }
                Out::Band(Some(b)) => {
                    self.ws
                        .write_string_with_format(r, col(c), &b.label, self.styles.band(b))?;
                }
                Out::Band(None) => {}
            }
            let w = match cell {
                Out::Date(_) => 10,
                other => other
                    .text()
                    .lines()
                    .map(|l| l.chars().count())
                    .max()
                    .unwrap_or(0),
            };
            if let Some(slot) = self.widths.get_mut(c) {
                *slot = (*slot).max(w);
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<(), XlsxError> {
        let last_col = col(self.widths.len().saturating_sub(1));
        self.ws
            .autofilter(0, 0, self.rows.saturating_sub(1), last_col)?;
        for (c, w) in self.widths.iter().enumerate() {
            // Room for the filter button; long text is cut off on screen, not lost.
            self.ws
                .set_column_width(col(c), (*w as f64 + 3.0).clamp(8.0, 60.0))?;
        }
        Ok(())
    }
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// The printed page header: the register's title and the sheet. `&` is Excel's control
/// character there, so it is doubled; Excel refuses headers over 255 characters.
fn print_header(title: &str, sheet: &str) -> String {
    let t: String = title
        .chars()
        .take(180)
        .collect::<String>()
        .replace('&', "&&");
    format!("&L{t}&R{sheet}")
}

/// A new workbook titled `title`, created at `created` (the same bytes every time for a fixed
/// time), or now.
pub(crate) fn workbook(
    title: &str,
    created: Option<chrono::NaiveDateTime>,
) -> Result<Workbook, XlsxError> {
    use chrono::Timelike;
    let mut book = Workbook::new();
    let mut properties = DocProperties::new().set_title(title);
    if let Some(at) = created {
        let when = rust_xlsxwriter::ExcelDateTime::from_ymd(
            u16::try_from(at.year()).unwrap_or(1900),
            at.month() as u8,
            at.day() as u8,
        )?
        .and_hms(at.hour() as u16, at.minute() as u8, at.second())?;
        properties = properties.set_creation_datetime(&when);
    }
    book.set_properties(&properties);
    Ok(book)
}

/// The register as a workbook: sheets Risks, Assessments, Actions, Matrix and Appetite.
/// `title` names the workbook (document properties and the printed page header). `created`
/// is recorded as the workbook's creation time; with a fixed one (a named version's) the same
/// register exports to the same bytes every time, as a record must.
pub fn xlsx(
    register: &RiskRegister,
    councils: &Councils,
    title: &str,
    created: Option<chrono::NaiveDateTime>,
) -> Result<Vec<u8>, ExportError> {
    let styles = Styles::new(register);
    let mut book = workbook(title, created)?;

    let headers = risk_headers();
    let mut s = SheetWriter::new(book.add_worksheet(), &styles, "Risks", title, &headers)?;
    for r in &register.risks {
        s.row(&risk_row(register, r, councils))?;
    }
    s.finish()?;

    let mut s = SheetWriter::new(
        book.add_worksheet(),
        &styles,
        "Assessments",
        title,
        &[
            "Ref",
            "Risk title",
            "Assessment",
            "Likelihood",
            "Impact",
            "Score",
            "Band",
            "Date",
            "Assessor",
            "Reason",
        ],
    )?;
    for r in &register.risks {
        let mut history: Vec<(usize, _)> = register
            .assessments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.risk_id == r.id)
            .collect();
        history.sort_by_key(|(i, a)| (a.date, *i));
        for (_, a) in history {
            s.row(&[
                text(&r.reference),
                text(&r.title),
                text(kind_name(a.kind)),
                Out::Number(f64::from(a.likelihood)),
                Out::Number(f64::from(a.impact)),
                Out::Number(f64::from(score(a.likelihood, a.impact))),
                Out::Band(register.matrix.band(a.likelihood, a.impact)),
                Out::Date(a.date),
                text(&a.assessor),
                text(&a.reason),
            ])?;
        }
    }
    s.finish()?;

    let mut s = SheetWriter::new(
        book.add_worksheet(),
        &styles,
        "Actions",
        title,
        &[
            "Ref",
            "Risk title",
            "Action",
            "Owner",
            "Council",
            "Due",
            "Status",
            "Expected effect",
        ],
    )?;
    for a in &register.actions {
        let risk = register.risks.iter().find(|r| r.id == a.risk_id);
        s.row(&[
            Out::Text(risk.map(|r| r.reference.clone()).unwrap_or_default()),
            Out::Text(risk.map(|r| r.title.clone()).unwrap_or_default()),
            text(&a.title),
            text(&a.owner),
            Out::Text(council_name(&a.council, councils)),
            Out::Date(a.due),
            text(action_status_name(a.status)),
            text(&a.expected_effect),
        ])?;
    }
    s.finish()?;

    matrix_sheet(book.add_worksheet(), &styles, register, title)?;

    let mut s = SheetWriter::new(
        book.add_worksheet(),
        &styles,
        "Appetite",
        title,
        &["Category", "Maximum score", "Statement"],
    )?;
    for a in &register.appetite {
        s.row(&[
            text(&a.category),
            Out::Number(f64::from(a.max_score)),
            text(&a.statement),
        ])?;
    }
    s.finish()?;

    Ok(book.save_to_buffer()?)
}

fn action_status_name(s: domain::documents::risk::ActionStatus) -> &'static str {
    use domain::documents::risk::ActionStatus;
    match s {
        ActionStatus::NotStarted => "Not started",
        ActionStatus::InProgress => "In progress",
        ActionStatus::Done => "Done",
        ActionStatus::Cancelled => "Cancelled",
    }
}

/// The grid as people draw it: highest likelihood at the top, impact rising to the right,
/// each cell holding its band's label on its band's colour. A legend of the bands follows.
fn matrix_sheet(
    ws: &mut Worksheet,
    styles: &Styles,
    register: &RiskRegister,
    title: &str,
) -> Result<(), XlsxError> {
    let m = &register.matrix;
    let mut headers = vec!["Likelihood \\ Impact".to_owned()];
    headers.extend(
        m.impact
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{} {}", i + 1, l.label)),
    );
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut s = SheetWriter::new(ws, styles, "Matrix", title, &header_refs)?;
    for (li, level) in m.likelihood.iter().enumerate().rev() {
        let mut row = vec![Out::Text(format!("{} {}", li + 1, level.label))];
        row.extend((1..=m.impact.len()).map(|i| Out::Band(m.band(li as u32 + 1, i as u32))));
        s.row(&row)?;
    }
    let filter_rows = s.rows;
    s.rows += 1;
    let legend_header = s.rows;
    for (c, h) in ["Band", "Colour", "Pattern", "Severity rank"]
        .iter()
        .enumerate()
    {
        s.ws.write_string_with_format(legend_header, col(c), *h, &s.styles.header)?;
    }
    s.rows += 1;
    for b in &m.bands {
        s.row(&[
            Out::Band(Some(b)),
            text(&b.colour),
            text(&b.pattern),
            Out::Number(f64::from(b.rank)),
        ])?;
    }
    // The filter covers the grid only, not the legend.
    s.rows = filter_rows;
    s.finish()
}
