//! Inline SVG bar charts: stacked bars per day with a value axis, gridlines and date labels.
//! Integer geometry; each bar carries a `<title>` so hovering shows its numbers without script.

use super::html::{Html, fragment, html};

const WIDTH: i64 = 1000;
const HEIGHT: i64 = 210;
const LEFT: i64 = 70;
const RIGHT: i64 = 8;
const TOP: i64 = 10;
const BOTTOM: i64 = 26;
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
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = bars.iter().map(|b| b.values.iter().filter(|v| **v > 0).sum::<i64>()).max().unwrap_or(0);
    let step = nice((max + TICKS - 1) / TICKS);
    let top = step * TICKS;
    let mut out = fragment!(
        "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        WIDTH,
        HEIGHT,
        aria_label
    );
    grid(&mut out, step, axis);
    let n = bars.len().max(1) as i64;
    let slot = plot_w * 100 / n; // in hundredths of a unit, so 90 bars still line up
    let bar_w = (slot * 68 / 100).max(100);
    let label_every = (n + 9) / 10;
    for (i, bar) in bars.iter().enumerate() {
        let i = i as i64;
        let x = LEFT * 100 + slot * i + (slot - bar_w) / 2;
        html!(out, "<g><title>{}</title>", bar.title);
        // An invisible full-height target makes small bars easy to hover.
        html!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"transparent\"/>",
            hundredths(LEFT * 100 + slot * i),
            TOP,
            hundredths(slot),
            plot_h
        );
        let mut base = TOP + plot_h;
        for (value, class) in bar.values.iter().zip(classes) {
            if *value <= 0 {
                continue;
            }
            let h = (plot_h * value / top).max(1);
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
            html!(
                out,
                "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                hundredths(x + bar_w / 2),
                HEIGHT - 8,
                bar.label
            );
        }
    }
    if max == 0 {
        html!(
            out,
            "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">Nothing in this period yet</text>",
            LEFT + plot_w / 2,
            TOP + plot_h / 2
        );
    }
    html!(out, "</svg>");
    out
}

/// The horizontal gridlines, each with its value on the y axis (`axis` formats it).
fn grid(out: &mut Html, step: i64, axis: &dyn Fn(i64) -> String) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    for tick in 0..=TICKS {
        let y = TOP + plot_h - plot_h * tick / TICKS;
        html!(
            out,
            "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LEFT,
            WIDTH - RIGHT,
            y,
            y,
            LEFT - 8,
            y + 4,
            axis(step * tick)
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
        assert!(svg.contains(">Nov 1<") && svg.contains(">Nov 2<"));
        let empty = stacked_bars("Nothing", &["a"], &[], &|v| v.to_string());
        assert!(empty.as_str().contains("Nothing in this period yet"));
    }
}
