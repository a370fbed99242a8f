//! Bands as a sheet states them: a band's name ("High"), a RAG word ("Red"), or a colour with
//! no text at all. The register's band always comes from its matrix (likelihood × impact);
//! a stated one is checked against it, and a colour is read by its hue, so the fill councils
//! use to mark a rating is neither dropped nor taken on trust.

use domain::documents::risk::{Band, Matrix};

use super::WarningCode;

/// Hue (degrees), saturation and lightness (0–1) of `0xRRGGBB`.
fn hsl(rgb: u32) -> (f64, f64, f64) {
    let [r, g, b] = [16, 8, 0].map(|s| f64::from((rgb >> s) & 0xFF) / 255.0);
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let l = (max + min) / 2.0;
    let d = max - min;
    if d == 0.0 {
        return (0.0, 0.0, l);
    }
    let s = d / (1.0 - (2.0 * l - 1.0).abs());
    let h = if max == r {
        60.0 * (((g - b) / d).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    (h, s, l)
}

/// Whether a colour marks something (a saturated hue) rather than decorating (white, greys,
/// near-black).
fn is_marking(rgb: u32) -> bool {
    let (_, s, l) = hsl(rgb);
    s >= 0.25 && (0.1..=0.95).contains(&l)
}

fn css(colour: &str) -> Option<u32> {
    let hex = colour.trim().strip_prefix('#')?;
    (hex.len() == 6).then(|| u32::from_str_radix(hex, 16).ok())?
}

/// The band whose colour is nearest in hue to `rgb`, if `rgb` is a marking colour near one.
fn by_colour(matrix: &Matrix, rgb: u32) -> Option<&Band> {
    if !is_marking(rgb) {
        return None;
    }
    let (h, ..) = hsl(rgb);
    let distance = |a: f64, b: f64| {
        let d = (a - b).abs();
        d.min(360.0 - d)
    };
    matrix
        .bands
        .iter()
        .filter_map(|b| css(&b.colour).filter(|c| is_marking(*c)).map(|c| (b, c)))
        .map(|(b, c)| (b, distance(h, hsl(c).0)))
        .filter(|(_, d)| *d <= 60.0)
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(b, _)| b)
}

/// A colour's everyday name, for messages.
fn colour_name(rgb: u32) -> &'static str {
    let (h, s, l) = hsl(rgb);
    if s < 0.25 {
        return if l > 0.5 { "grey" } else { "dark grey" };
    }
    match h {
        h if !(15.0..345.0).contains(&h) => "red",
        h if h < 40.0 => "orange",
        h if h < 70.0 => "amber",
        h if h < 170.0 => "green",
        h if h < 260.0 => "blue",
        _ => "purple",
    }
}

/// A band named in words: its label or id ("High", "very-high"), or a RAG word read as its
/// colour ("Red", "A").
fn by_word<'m>(matrix: &'m Matrix, text: &str) -> Option<&'m Band> {
    let t = text.trim().to_lowercase();
    if let Some(b) = matrix
        .bands
        .iter()
        .find(|b| b.label.to_lowercase() == t || b.id == t)
    {
        return Some(b);
    }
    let rgb = match t.as_str() {
        "red" | "r" => 0xFF_0000,
        "amber" | "a" | "orange" | "yellow" => 0xFF_BF00,
        "green" | "g" => 0x00_B050,
        _ => return None,
    };
    by_colour(matrix, rgb)
}

/// Checks a stated band (`text`, or the cell's `fill` when it has no text) against the
/// matrix's band for `pair` (likelihood, impact). `None` when there is nothing to say: the
/// words agree, or the fill is decoration.
pub(crate) fn check(
    matrix: &Matrix,
    text: Option<&str>,
    fill: Option<u32>,
    pair: Option<(u32, u32)>,
) -> Option<(WarningCode, String)> {
    let names = || {
        matrix
            .bands
            .iter()
            .map(|b| b.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (stated, said) = match (text, fill) {
        (Some(t), _) => match by_word(matrix, t) {
            Some(b) => (b, format!("{t:?}")),
            None => {
                return Some((
                    WarningCode::BandMismatch,
                    format!(
                        "{t:?} is not one of the register's bands ({}): the band comes from \
                         likelihood × impact",
                        names()
                    ),
                ));
            }
        },
        (None, Some(rgb)) => match by_colour(matrix, rgb) {
            Some(b) => (
                b,
                format!("filled {} (#{rgb:06X}) with no text", colour_name(rgb)),
            ),
            None => return None,
        },
        (None, None) => return None,
    };
    let Some((l, i)) = pair else {
        return Some((
            WarningCode::BandWithoutRatings,
            format!(
                "{said}, read as {}, is a rating without likelihood and impact, so no \
                 assessment is made from it",
                stated.label
            ),
        ));
    };
    let computed = matrix.band(l, i)?;
    if computed.id != stated.id {
        return Some((
            WarningCode::BandMismatch,
            format!(
                "{said} is {}, but the register's matrix puts {l} × {i} = {} in {}: the \
                 register keeps {}",
                stated.label,
                l * i,
                computed.label,
                computed.label
            ),
        ));
    }
    if text.is_none() {
        return Some((
            WarningCode::BandFromColour,
            format!(
                "{said}: read as {}, which agrees with {l} × {i} = {}",
                stated.label,
                l * i
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_words_read_as_the_five_by_five_bands() {
        let m = Matrix::five_by_five();
        let band = |rgb| by_colour(&m, rgb).map(|b| b.id.as_str());
        assert_eq!(band(0xFF_0000), Some("very-high"));
        assert_eq!(band(0xFF_C7CE), Some("very-high"), "Excel's light red");
        assert_eq!(band(0xFF_C000), Some("medium"), "amber");
        assert_eq!(band(0x00_B050), Some("low"));
        assert_eq!(band(0xC6_EFCE), Some("low"), "Excel's light green");
        assert_eq!(band(0xF2_F2F2), None, "a grey stripe is decoration");
        assert_eq!(band(0xFF_FFFF), None);
        assert_eq!(band(0x44_72C4), None, "blue is no band here");
        let word = |t| by_word(&m, t).map(|b| b.id.as_str());
        assert_eq!(word("High"), Some("high"));
        assert_eq!(word("red"), Some("very-high"));
        assert_eq!(word("Purple"), None);
    }

    #[test]
    fn a_stated_band_is_checked_against_the_matrix() {
        let m = Matrix::five_by_five();
        // 4 × 5 = 20 is very high on the default matrix; 1 × 2 = 2 is low.
        assert_eq!(check(&m, Some("Red"), None, Some((4, 5))), None);
        let (code, msg) = check(&m, Some("Red"), None, Some((1, 2))).unwrap();
        assert_eq!(code, WarningCode::BandMismatch);
        assert!(msg.contains("the register keeps Low"), "{msg}");
        let (code, msg) = check(&m, None, Some(0xFF_0000), Some((4, 5))).unwrap();
        assert_eq!(code, WarningCode::BandFromColour);
        assert!(msg.contains("filled red (#FF0000) with no text"), "{msg}");
        let (code, _) = check(&m, None, Some(0x00_B050), None).unwrap();
        assert_eq!(code, WarningCode::BandWithoutRatings);
        assert_eq!(check(&m, None, Some(0xF2_F2F2), Some((1, 1))), None);
        let (code, msg) = check(&m, Some("Purple"), None, Some((1, 1))).unwrap();
        assert_eq!(code, WarningCode::BandMismatch);
        assert!(msg.contains("not one of the register's bands"), "{msg}");
    }
}
