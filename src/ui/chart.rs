//! Bar charts: stacked bars per day in inline SVG, with a value axis, gridlines and date labels.
//! Integer geometry; each bar carries a `<title>` so hovering shows its numbers without script.
//!
//! The bars stretch to the width they are given (`preserveAspectRatio="none"`), but the axes'
//! text is HTML beside and below the drawing, so it keeps its size (11 px) on a phone as on a
//! laptop: text inside a scaled SVG shrinks with it (to 4 px at 390 px wide). On a narrow screen
//! every other date label is hidden (class `thin`) so the rest never overlap.

use super::html::{Html, html};

/// The drawing's width in its own units (the bars' geometry); it is stretched to the page.
const WIDTH: i64 = 1000;
/// The plot's height in CSS pixels (the drawing is not scaled vertically).
const PLOT_HEIGHT: i64 = 174;
/// Room above the highest gridline, so its label is not cut off.
const TOP: i64 = 10;
const TICKS: i64 = 4;

/// One bar: its x-axis label, its hover text, and one value per stacked series.
pub struct Bar {
    pub label: String,
    pub title: String,
    pub values: Vec<i64>,
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `x` (and at least 1).
fn nice(x: i64) -> i64 {
    let mut power = 1i64;
    loop {
        for m in [1, 2, 5] {
            if power.saturating_mul(m) >= x {
                return power.saturating_mul(m);
            }
        }
        power = power.saturating_mul(10);
    }
}

/// A stacked bar chart. `classes[i]` styles series `i`; `axis` formats a value for the y axis.
pub fn stacked_bars(aria_label: &str, classes: &[&str], bars: &[Bar], axis: &dyn Fn(i64) -> String) -> Html {
    let max = bars.iter().map(|b| b.values.iter().filter(|v| **v > 0).sum::<i64>()).max().unwrap_or(0);
    let step = nice((max + TICKS - 1) / TICKS);
    let top = step * TICKS;
    let mut out = Html::from_static("<div class=\"chart-box\"><div class=\"chart-axis chart-y\" aria-hidden=\"true\">");
    for tick in (0..=TICKS).rev() {
        html!(out, "<span>{}</span>", axis(step * tick));
    }
    html!(
        out,
        "</div><div class=\"chart-plot\"><svg class=\"chart\" viewBox=\"0 0 {} {}\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        WIDTH,
        TOP + PLOT_HEIGHT,
        aria_label
    );
    grid(&mut out);
    let n = bars.len().max(1) as i64;
    let slot = WIDTH * 100 / n; // in hundredths of a unit, so 90 bars still line up
    let bar_w = (slot * 68 / 100).max(100);
    let mut labels = Html::new();
    let label_every = (n + 9) / 10;
    for (i, bar) in bars.iter().enumerate() {
        let i = i as i64;
        let x = slot * i + (slot - bar_w) / 2;
        html!(out, "<g><title>{}</title>", bar.title);
        // An invisible full-height target makes small bars easy to hover.
        html!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"transparent\"/>",
            hundredths(slot * i),
            TOP,
            hundredths(slot),
            PLOT_HEIGHT
        );
        let mut base = TOP + PLOT_HEIGHT;
        for (value, class) in bar.values.iter().zip(classes) {
            if *value <= 0 {
                continue;
            }
            let h = (PLOT_HEIGHT * value / top).max(1);
            base -= h;
            html!(
                out,
                "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"1.5\"/>",
                *class,
                hundredths(x),
                base,
                hundredths(bar_w),
                h
            );
        }
        html!(out, "</g>");
        if i % label_every == 0 {
            // Every other label is `thin`: hidden on a narrow screen.
            let thin = Html::from_static(if (i / label_every) % 2 == 1 { " class=\"thin\"" } else { "" });
            // The centre of slot i, exactly: (i + 1/2) / n of the width.
            html!(labels, "<span{} style=\"left:calc(100% * {} / {})\">{}</span>", thin, 2 * i + 1, 2 * n, bar.label);
        }
    }
    html!(out, "</svg><div class=\"chart-axis chart-x\" aria-hidden=\"true\">{}</div>", labels);
    if max == 0 {
        html!(out, "<p class=\"chart-empty\">Nothing in this period yet</p>");
    }
    html!(out, "</div></div>");
    out
}

/// The horizontal gridlines (their values are the y axis beside the drawing).
fn grid(out: &mut Html) {
    for tick in 0..=TICKS {
        let y = TOP + PLOT_HEIGHT - PLOT_HEIGHT * tick / TICKS;
        html!(
            out,
            "<line class=\"grid\" x1=\"0\" x2=\"{}\" y1=\"{}\" y2=\"{}\" vector-effect=\"non-scaling-stroke\"/>",
            WIDTH,
            y,
            y
        );
    }
}

/// `1234` hundredths as `12.34`.
fn hundredths(v: i64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice(0), 1);
        assert_eq!(nice(1), 1);
        assert_eq!(nice(3), 5);
        assert_eq!(nice(7), 10);
        assert_eq!(nice(11), 20);
        assert_eq!(nice(2600), 5000);
    }

    #[test]
    fn bars_are_drawn_escaped_and_stacked() {
        let bars = vec![
            Bar { label: "Nov 1".into(), title: "<b>".into(), values: vec![3, 1] },
            Bar { label: "Nov 2".into(), title: "x".into(), values: vec![0, 0] },
        ];
        let svg = stacked_bars("Conversions", &["a", "b"], &bars, &|v| v.to_string());
        let svg = svg.as_str();
        assert!(svg.contains("<title>&lt;b&gt;</title>"));
        assert_eq!(svg.matches("class=\"a\"").count(), 1);
        assert_eq!(svg.matches("class=\"b\"").count(), 1);
        assert!(svg.contains(">Nov 1</span>") && svg.contains(">Nov 2</span>"));
        let empty = stacked_bars("Nothing", &["a"], &[], &|v| v.to_string());
        assert!(empty.as_str().contains("Nothing in this period yet"));
    }
}
