//! The parts of a dashboard that the admin's overview and the portal's both draw: figure cards
//! (`kpi`, `rate_kpi`), sums per currency ([`Amounts`]), and the conversions-by-status chart's
//! series, classes and colour key ([`CHART`]), with its day labels.

use crate::tracking::conversion::{ByStatus, Status};
use crate::tracking::money::Currency;
use crate::ui::html::{self, Html, fragment, html};

/// The conversions chart's statuses in stacking order, with the colour of each (its bars have
/// the CSS class `s-<status>`).
pub const CHART: [(Status, &str); 4] = [
    (Status::Approved, "#22a35a"),
    (Status::Pending, "#f0a53a"),
    (Status::Refunded, "#98a2b3"),
    (Status::Rejected, "#e5604d"),
];

/// The CSS classes of the conversions chart's bars, in [`CHART`] order.
pub fn chart_classes() -> Vec<String> {
    CHART.iter().map(|(s, _)| format!("s-{}", s.as_str())).collect()
}

/// One day's (or a period's) conversions by status as the chart stacks them, and their title.
pub fn chart_values(by_status: &ByStatus) -> (Vec<i64>, String) {
    let values: Vec<i64> = CHART.iter().map(|(s, _)| by_status.of(*s)).collect();
    let parts: Vec<String> =
        CHART.iter().zip(&values).filter(|(_, n)| **n > 0).map(|((s, _), n)| format!("{n} {}", s.as_str())).collect();
    (values, if parts.is_empty() { "no conversions".into() } else { parts.join(", ") })
}

/// Sums per currency, in the order currencies first appear.
#[derive(Clone, Debug, Default)]
pub struct Amounts(pub Vec<(Currency, i64)>);

impl Amounts {
    pub fn add(&mut self, currency: Currency, minor: i64) {
        match self.0.iter_mut().find(|(c, _)| *c == currency) {
            Some((_, sum)) => *sum += minor,
            None => self.0.push((currency, minor)),
        }
    }

    pub fn of(&self, currency: Currency) -> i64 {
        self.0.iter().find(|(c, _)| *c == currency).map(|(_, v)| *v).unwrap_or(0)
    }

    /// One line per currency (largest first); `–` when empty.
    pub fn html(&self) -> Html {
        let mut sorted = self.0.clone();
        sorted.sort_by_key(|(c, v)| (-*v, c.code()));
        let lines: Vec<String> = sorted.iter().map(|(c, v)| html::money(*c, *v)).collect();
        if lines.is_empty() {
            return Html::from_static("–");
        }
        let mut out = Html::new();
        for (i, line) in lines.iter().enumerate() {
            html!(out, "{}{}", if i > 0 { Html::from_static("<br>") } else { Html::new() }, line);
        }
        out
    }
}

/// The conversion rate's card: the rate, and what it counts.
pub fn rate_kpi(converted: i64, clicks: i64) -> Html {
    let note = if clicks > 0 {
        format!("{} of {} clicks led to a conversion", html::count(converted.min(clicks)), html::count(clicks))
    } else {
        "no clicks: coupon and customer conversions have none".into()
    };
    kpi("Conversion rate", &fragment!("{}", html::conversion_rate(converted, clicks)), &note)
}

/// The colour key of the conversions-by-status chart (the portal's overview shows it too).
pub fn legend_swatches() -> Html {
    let mut out = Html::new();
    for (status, color) in CHART {
        html!(out, "<span><i style=\"background:{}\"></i>{}</span>", color, status.as_str());
    }
    out
}

/// One figure in a card: label, value, a note below.
pub fn kpi(label: &str, value: &Html, note: &str) -> Html {
    let size = if value.as_str().contains("<br>") { " small" } else { "" };
    fragment!(
        "<div class=\"card kpi\"><div class=\"label\">{}</div><div class=\"value{}\">{}</div><div class=\"note\">{}</div></div>",
        label,
        size,
        value,
        note
    )
}

/// `Nov 3`.
pub fn short_day(day: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(day * crate::tracking::time::MS_PER_DAY)
        .map(|t| t.format("%b %-d").to_string())
        .unwrap_or_default()
}
