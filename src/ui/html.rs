//! Building HTML safely. Every value interpolated with [`html!`] goes through [`Render`], which
//! escapes text; the one type that is written as is is [`Html`], and only this module and the
//! macro make those. So a value can only reach a page unescaped by being HTML we built.
//! Never use inline captures (`{name}`) in an `html!` format string: they bypass the escaping.

use std::fmt;

/// HTML built by [`html!`]: safe to write as is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    pub fn new() -> Html {
        Html(String::with_capacity(4096))
    }

    /// Markup written in the source code (never data).
    pub fn from_static(markup: &'static str) -> Html {
        Html(markup.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// For [`html!`] only: the buffer the format string and escaped values are written to.
    #[doc(hidden)]
    pub fn buffer(&mut self) -> &mut String {
        &mut self.0
    }
}

/// How a value is written into a page.
pub trait Render {
    fn render(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Escapes `& < > " '`, so text is safe both between tags and inside quoted attributes.
pub fn escape_into(text: &str, out: &mut impl fmt::Write) -> fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

impl Render for str {
    fn render(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_into(self, out)
    }
}

impl Render for String {
    fn render(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_into(self, out)
    }
}

impl Render for Html {
    fn render(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(&self.0)
    }
}

impl<T: Render + ?Sized> Render for &T {
    fn render(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).render(out)
    }
}

impl<T: Render> Render for Option<T> {
    fn render(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Some(v) => v.render(out),
            None => Ok(()),
        }
    }
}

macro_rules! render_numbers {
    ($($t:ty),*) => {$(
        impl Render for $t {
            fn render(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(out, "{}", self)
            }
        }
    )*};
}
render_numbers!(i64, u64, i32, u32, u16, usize);

/// Adapts a [`Render`] value to `{}` in a format string.
pub struct Arg<'a, T: ?Sized>(pub &'a T);

impl<T: Render + ?Sized> fmt::Display for Arg<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.render(f)
    }
}

/// `html!(out, "<td>{}</td>", value)` appends to the [`Html`] `out`, escaping every value.
macro_rules! html {
    ($out:expr, $fmt:literal $(, $arg:expr)* $(,)?) => {{
        use std::fmt::Write as _;
        let _ = write!($out.buffer(), $fmt $(, $crate::ui::html::Arg(&$arg))*);
    }};
}
pub(crate) use html;

/// `html!` into a new [`Html`].
macro_rules! fragment {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        let mut out = $crate::ui::html::Html::new();
        $crate::ui::html::html!(out, $fmt $(, $arg)*);
        out
    }};
}
pub(crate) use fragment;

/// A whole number with thousands separators: `1,203`.
pub fn count(n: i64) -> String {
    group_thousands(&n.to_string())
}

fn group_thousands(digits: &str) -> String {
    let (sign, digits) = digits.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", digits));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount for display: `$1,234.50`, `€12.00`, `CHF 9.90`. The digits come from
/// `Currency::format`, so display and API always agree.
pub fn money(currency: crate::tracking::money::Currency, minor: i64) -> String {
    let text = currency.format(minor);
    let (sign, unsigned) = text.strip_prefix('-').map(|t| ("-", t)).unwrap_or(("", text.as_str()));
    let (whole, fraction) = unsigned.split_once('.').map(|(w, f)| (w, Some(f))).unwrap_or((unsigned, None));
    let mut number = group_thousands(whole);
    if let Some(f) = fraction {
        number.push('.');
        number.push_str(f);
    }
    let symbol = match currency.code() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        _ => "",
    };
    if symbol.is_empty() { format!("{sign}{} {number}", currency.code()) } else { format!("{sign}{symbol}{number}") }
}

/// `12.34%` of `part / whole` with integer math; `–` when `whole` is zero.
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "–".into();
    }
    basis_points((i128::from(part) * 10_000 + i128::from(whole) / 2) / i128::from(whole))
}

/// The conversion rate of `converted` clicks out of `clicks` (`tracking::rate`, never above
/// 100%): `2.50%`, or `–` without clicks.
pub fn conversion_rate(converted: i64, clicks: i64) -> String {
    crate::tracking::rate::basis_points(converted, clicks).map_or_else(|| "–".into(), |bp| basis_points(bp.into()))
}

/// `1234` basis points as `12.34%`.
fn basis_points(bp: i128) -> String {
    format!("{}.{:02}%", bp / 100, bp % 100)
}

/// When `then_ms` is, seen at `now_ms`, as a phrase that stands on its own: `just now` (within
/// a minute either way), `1 minute ago`, `5 minutes ago`, `3 hours ago`, `12 days ago`; a time
/// further ahead (another machine's clock, a retry planned) reads `in 5 minutes`. Whole units,
/// rounded down: 119 seconds is `1 minute ago`. The one relative time of every page.
pub fn ago(then_ms: i64, now_ms: i64) -> String {
    let seconds = now_ms.saturating_sub(then_ms) / 1000;
    let (amount, unit) = match seconds.unsigned_abs() {
        0..60 => return "just now".into(),
        s @ 60..3600 => (s / 60, "minute"),
        s @ 3600..86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    if seconds > 0 { format!("{amount} {unit}{plural} ago") } else { format!("in {amount} {unit}{plural}") }
}

/// `2026-11-21 23:20 UTC`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A status badge (pending, approved, delivered, failed, …).
pub fn badge(status: &str) -> Html {
    let tone = match status {
        "approved" | "delivered" | "created" | "paid" | "sent" => "good",
        "pending" => "wait",
        "rejected" | "failed" => "bad",
        _ => "neutral",
    };
    fragment!("<span class=\"badge {}\">{}</span>", tone, status)
}

/// A query string (`a=1&b=x%20y`) from pairs, percent-encoded (then escaped where it is written).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    q.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::money::Currency;

    #[test]
    fn every_value_is_escaped_and_fragments_are_not() {
        let evil = "<script>alert('x')</script>&\"";
        let inner = fragment!("<b>{}</b>", evil);
        let page = fragment!("<p title=\"{}\">{}{}</p>", evil, inner, 42i64);
        assert_eq!(
            page.as_str(),
            "<p title=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\">\
             <b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;</b>42</p>"
        );
        assert_eq!(fragment!("{}", None::<String>).as_str(), "");
    }

    #[test]
    fn numbers_and_money() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1203), "1,203");
        assert_eq!(count(-1234567), "-1,234,567");
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(money(usd, 123_450), "$1,234.50");
        assert_eq!(money(usd, -5), "-$0.05");
        assert_eq!(money(Currency::from_code("JPY").unwrap(), 1_000_000), "¥1,000,000");
        assert_eq!(money(Currency::from_code("CHF").unwrap(), 990), "CHF 9.90");
        assert_eq!(percent(847, 1203), "70.41%");
        assert_eq!(percent(1, 3), "33.33%");
        assert_eq!(percent(5, 0), "–");
        assert_eq!(conversion_rate(12, 480), "2.50%");
        assert_eq!(conversion_rate(480, 480), "100.00%");
        assert_eq!(conversion_rate(3, 0), "–");
    }

    #[test]
    fn relative_times_read_as_phrases_at_every_boundary() {
        let (minute, hour, day) = (60_000, 3_600_000, 86_400_000);
        let now = 1_800_000_000_000;
        let cases = [
            (0, "just now"),
            (999, "just now"),
            (59_999, "just now"),
            (minute, "1 minute ago"),
            (2 * minute - 1, "1 minute ago"),
            (2 * minute, "2 minutes ago"),
            (hour - 1, "59 minutes ago"),
            (hour, "1 hour ago"),
            (2 * hour, "2 hours ago"),
            (day - 1, "23 hours ago"),
            (day, "1 day ago"),
            (49 * hour, "2 days ago"),
            (400 * day, "400 days ago"),
            (-59_999, "just now"),
            (-minute, "in 1 minute"),
            (-5 * minute, "in 5 minutes"),
            (-hour, "in 1 hour"),
            (-3 * day, "in 3 days"),
        ];
        for (elapsed, text) in cases {
            assert_eq!(ago(now - elapsed, now), text, "{elapsed} ms");
        }
        assert!(!ago(now, now).contains("ago ago") && !ago(now - day, now).contains("just now ago"));
        assert_eq!(ago(i64::MIN, i64::MAX), format!("{} days ago", i64::MAX / 1000 / 86_400));
        assert_eq!(ago(i64::MAX, i64::MIN), format!("in {} days", i64::MAX / 1000 / 86_400));
    }

    #[test]
    fn query_strings() {
        assert_eq!(query(&[("status", "pending"), ("q", ""), ("x", "a b&c")]), "status=pending&x=a+b%26c");
    }
}
