//! QR codes as SVG, for the portal's link builder: the affiliate shows it on a page or prints
//! it. Encoding is the `qrcode` crate's (Reed-Solomon and masks are not ours to write); this
//! file only chooses the settings and makes the drawing safe to put inline in a page.
//!
//! Architecture Invariant: draws only what it is given; the text is encoded into modules, never
//! written into the SVG as text, so nothing of it needs escaping.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::html::Html;

/// Each module's size in the drawing's own units (the SVG scales; this is its size on its own).
const MODULE: u32 = 8;

/// The QR code for `text` as a standalone SVG document (for a download), or `None` when the
/// text is too long for any QR code (more than 2,331 bytes at error correction level M).
pub fn svg_document(text: &str) -> Option<String> {
    // Level M restores up to 15% of damaged modules: a printed code still scans when creased.
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .quiet_zone(true)
            .module_dimensions(MODULE, MODULE)
            .dark_color(svg::Color("#000"))
            .light_color(svg::Color("#fff"))
            .build(),
    )
}

/// The same drawing to put inline in a page: without the XML declaration, with a class and an
/// accessible name instead of a fixed size (the style sheet sizes `svg.qr`).
pub fn svg_inline(text: &str, label: &'static str) -> Option<Html> {
    let document = svg_document(text)?;
    let start = document.find("<svg")?;
    let drawing = &document[start + "<svg".len()..];
    let mut out = Html::from_static("<svg class=\"qr\" role=\"img\" aria-label=\"");
    out.buffer().push_str(label);
    out.buffer().push('"');
    // The crate writes `width` and `height` attributes first; the viewBox keeps the proportions.
    let drawing = drop_attribute(&drop_attribute(drawing, "width"), "height");
    out.buffer().push_str(&drawing);
    Some(out)
}

/// `attrs` without its first ` name="…"` attribute.
fn drop_attribute(attrs: &str, name: &str) -> String {
    let needle = format!(" {name}=\"");
    match attrs.find(&needle) {
        Some(at) => {
            let value_end = attrs[at + needle.len()..].find('"').map_or(attrs.len(), |e| at + needle.len() + e + 1);
            format!("{}{}", &attrs[..at], &attrs[value_end..])
        }
        None => attrs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_a_drawing_of_modules_without_its_text() {
        let link = "https://t.example/r/ann?offer=main&url=https%3A%2F%2Fshop.example%2Fp%2F1%3Fa%3D%3Cb%3E";
        let doc = svg_document(link).unwrap();
        assert!(doc.starts_with("<?xml") && doc.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{doc}");
        assert!(doc.contains("<path fill=\"#000\" d=\"M") && doc.ends_with("</svg>"), "{doc}");
        assert!(!doc.contains("shop.example") && !doc.contains("%3Cb"), "the text is not in the drawing: {doc}");
        let inline = svg_inline(link, "QR code of your link").unwrap().into_string();
        assert!(inline.starts_with("<svg class=\"qr\" role=\"img\" aria-label=\"QR code of your link\" xmlns="));
        let svg_tag = &inline[..inline.find('>').unwrap()];
        assert!(
            !inline.contains("<?xml") && !svg_tag.contains(" width=") && !svg_tag.contains(" height="),
            "{svg_tag}"
        );
        assert!(svg_tag.contains(" viewBox=\"0 0 "), "{svg_tag}");
        assert!(inline.contains("<rect x=\"0\" y=\"0\" width=\""), "the background keeps its size: {inline}");
    }

    #[test]
    fn text_too_long_for_a_qr_code_has_none() {
        assert!(svg_document(&"a".repeat(2_331)).is_some());
        assert!(svg_document(&"a".repeat(2_400)).is_none());
        assert!(svg_inline(&"a".repeat(2_400), "x").is_none());
    }
}
