//! `/admin/reconcile`: the merchant pastes or uploads the order IDs their shop attributes to
//! affiliates (one per line, or a CSV export) and sees which ones affiliated recorded, which not,
//! and the attribution rate: "the network says 1,203, we recorded 847; which are missing?".
//! Nothing is stored; the request body limit (1 MiB) bounds the input.

use std::collections::{BTreeMap, HashSet};

use crate::error::Error;
use crate::shapes::csv::{self, Cell, write_row};
use crate::store::reports;
use crate::transport::Req;
use crate::transport::response::Response;
use crate::ui::html::{self, Html, fragment, html};
use crate::ui::layout::{self, Notice};
use crate::web::Ctx;
use crate::web::form::Form;

/// Header names that mark the order ID column, best first.
const ID_COLUMNS: &[&str] = &["order_id", "external_id", "order", "id"];
/// Missing IDs listed on the page; all of them are in the download.
const SHOWN_MISSING: usize = 200;

/// The distinct order IDs in pasted or uploaded text, in their first order. With a header row
/// naming an ID column (`order_id`, `external_id`, `order`, `id`) that column is read and the
/// header skipped; otherwise the first column of every row.
pub fn order_ids(text: &str) -> Vec<String> {
    let records = csv::records(text);
    let normalise = |cell: &str| cell.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    let header = records
        .first()
        .and_then(|first| ID_COLUMNS.iter().find_map(|name| first.iter().position(|cell| normalise(cell) == *name)));
    let (column, skip) = match header {
        Some(column) => (column, 1),
        None => (0, 0),
    };
    let mut seen = HashSet::new();
    records
        .iter()
        .skip(skip)
        .filter_map(|record| record.get(column).map(|v| v.trim().to_string()))
        .filter(|id| !id.is_empty() && seen.insert(id.clone()))
        .collect()
}

fn input_form(req: &Req) -> Html {
    fragment!(
        "<div class=\"card\"><form method=\"post\" action=\"/admin/reconcile\" enctype=\"multipart/form-data\">{}\
         <label for=\"orders\">Order IDs, one per line, or a CSV export with a header row</label>\
         <textarea id=\"orders\" name=\"orders\" rows=\"9\" placeholder=\"order_id&#10;1001&#10;1002\"></textarea>\
         <div class=\"row\" style=\"margin-top:10px\"><label>…or upload a file (.csv or .txt, up to 1 MB)\
         <input type=\"file\" name=\"file\" accept=\".csv,.txt,text/csv,text/plain\"></label>\
         <span style=\"flex:1\"></span><button class=\"btn primary\" type=\"submit\">Check orders</button></div></form>\
         <p class=\"muted\" style=\"margin:10px 0 0\">With a header row, the column named order_id, external_id, order or id \
         is used; otherwise the first column. IDs are compared exactly, as your backend sends them as external_id.</p></div>",
        layout::csrf_field(req)
    )
}

pub fn page(_ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let mut body = fragment!(
        "<h1>Reconcile</h1><p class=\"sub\">Check your shop's affiliate orders against what affiliated recorded.</p>"
    );
    body.buffer().push_str(input_form(req).as_str());
    Ok(Response::html(200, layout::page(req, "Reconcile", "/admin/reconcile", &Notice::None, &body)))
}

/// The submitted order IDs: the text box and the uploaded file together.
fn submitted(req: &Req) -> Result<Vec<String>, Error> {
    let form = Form::parse(req)?;
    // The two inputs may each have a header; read them separately.
    let mut ids = order_ids(form.raw("orders"));
    let mut seen: HashSet<String> = ids.iter().cloned().collect();
    ids.extend(order_ids(form.raw("file")).into_iter().filter(|id| seen.insert(id.clone())));
    Ok(ids)
}

/// Splits IDs into recorded ones and missing ones.
fn split(ctx: &Ctx, ids: &[String]) -> Result<(Vec<reports::Recorded>, Vec<String>), Error> {
    let recorded = reports::recorded(&ctx.db, ids)?;
    let found: HashSet<&str> = recorded.iter().map(|r| r.external_id.as_str()).collect();
    let missing = ids.iter().filter(|id| !found.contains(id.as_str())).cloned().collect();
    Ok((recorded, missing))
}

pub fn check(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let ids = submitted(req)?;
    if ids.is_empty() {
        let mut body = fragment!("<h1>Reconcile</h1><p class=\"sub\">Check your shop's affiliate orders.</p>");
        body.buffer().push_str(input_form(req).as_str());
        let notice = Notice::Error("No order IDs found in what was sent: paste them or choose a file.".into());
        return Ok(Response::html(400, layout::page(req, "Reconcile", "/admin/reconcile", &notice, &body)));
    }
    let (recorded, missing) = split(ctx, &ids)?;
    let total = ids.len() as i64;
    let mut body = fragment!(
        "<div class=\"spread\"><div><h1>Reconcile</h1><p class=\"sub\">{} order IDs checked.</p></div>\
         <a class=\"btn\" href=\"/admin/reconcile\">Check another list</a></div><div class=\"cards\">\
         <div class=\"card kpi\"><div class=\"label\">Orders in your list</div><div class=\"value\" id=\"total\">{}</div></div>\
         <div class=\"card kpi\"><div class=\"label\">Recorded by affiliated</div><div class=\"value\" id=\"recorded\">{}</div></div>\
         <div class=\"card kpi\"><div class=\"label\">Not recorded</div><div class=\"value\" id=\"missing\">{}</div></div>\
         <div class=\"card kpi\"><div class=\"label\">Attribution rate</div><div class=\"value\" id=\"rate\">{}</div>\
         <div class=\"note\">recorded ÷ your list</div></div></div>",
        html::count(total),
        html::count(total),
        html::count(recorded.len() as i64),
        html::count(missing.len() as i64),
        html::percent(recorded.len() as i64, total)
    );
    html!(body, "{}{}", recorded_card(&recorded), missing_table(req, &missing));
    Ok(Response::html(200, layout::page(req, "Reconcile", "/admin/reconcile", &Notice::None, &body)))
}

/// What the recorded orders are: by status, and the affiliates with the most.
fn recorded_card(recorded: &[reports::Recorded]) -> Html {
    let mut body = Html::new();
    if recorded.is_empty() {
        return body;
    }
    let mut by_status: BTreeMap<&str, i64> = BTreeMap::new();
    let mut by_affiliate: BTreeMap<&str, i64> = BTreeMap::new();
    for r in recorded {
        *by_status.entry(r.status.as_str()).or_default() += 1;
        *by_affiliate.entry(r.referral_code.as_str()).or_default() += 1;
    }
    let mut statuses = Html::new();
    for (status, n) in &by_status {
        html!(statuses, "{} {} &nbsp; ", html::badge(status), html::count(*n));
    }
    let mut top: Vec<(&&str, &i64)> = by_affiliate.iter().collect();
    top.sort_by_key(|(code, n)| (-**n, **code));
    let mut affiliates = Html::new();
    for (code, n) in top.iter().take(10) {
        html!(
            affiliates,
            "<a href=\"/admin/conversions?affiliate={}\">{}</a> {} &nbsp; ",
            **code,
            **code,
            html::count(**n)
        );
    }
    html!(
        body,
        "<div class=\"card\"><dl class=\"facts\"><dt>Recorded, by status</dt><dd>{}</dd>\
         <dt>Recorded, by affiliate</dt><dd>{}</dd></dl></div>",
        statuses,
        affiliates
    );
    body
}

/// The orders not recorded: the first [`SHOWN_MISSING`], and a download of them all.
fn missing_table(req: &Req, missing: &[String]) -> Html {
    let mut body = Html::new();
    if missing.is_empty() {
        return body;
    }
    // The download posts the missing IDs back, as CSV that reads back to exactly these IDs
    // (every one quoted: an ID may hold a comma, a quote or a line break).
    let mut all = String::with_capacity(16 + missing.iter().map(|m| m.len() + 3).sum::<usize>());
    all.push_str("order_id\n");
    for id in missing {
        all.push('"');
        all.push_str(&id.replace('"', "\"\""));
        all.push_str("\"\n");
    }
    html!(
        body,
        "<div class=\"spread\"><h2>Not recorded ({})</h2><form method=\"post\" action=\"/admin/reconcile/missing.csv\">{}\
         <textarea name=\"orders\" hidden>{}</textarea><button class=\"btn\" type=\"submit\">Download all as CSV</button></form></div>\
         <div class=\"table\"><table><thead><tr><th>Order ID</th></tr></thead><tbody>",
        html::count(missing.len() as i64),
        layout::csrf_field(req),
        all
    );
    for id in missing.iter().take(SHOWN_MISSING) {
        html!(body, "<tr><td class=\"mono\">{}</td></tr>", id);
    }
    html!(body, "</tbody></table></div>");
    if missing.len() > SHOWN_MISSING {
        html!(body, "<p class=\"muted\">The first {} are shown; the download has all of them.</p>", SHOWN_MISSING);
    }
    html!(
        body,
        "<p class=\"muted\">Common causes: the order was placed without a click ID, coupon or known customer; the click \
         was older than the offer's window; or the backend did not report the order. Orders your list has twice are \
         counted once.</p>"
    );
    body
}

/// `POST /admin/reconcile/missing.csv`: the submitted IDs that are not recorded, as CSV.
pub fn missing_csv(ctx: &mut Ctx, req: &Req) -> Result<Response, Error> {
    let ids = submitted(req)?;
    let (_, missing) = split(ctx, &ids)?;
    let mut out = String::with_capacity(16 + missing.iter().map(|m| m.len() + 4).sum::<usize>());
    write_row(&mut out, &[Cell::Text("order_id")]);
    for id in &missing {
        write_row(&mut out, &[Cell::Text(id)]);
    }
    Ok(Response::csv("orders-not-recorded.csv", out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lists_are_read_and_deduplicated() {
        assert_eq!(order_ids("1001\n1002\n\n1001\r\n 1003 \n"), ["1001", "1002", "1003"]);
    }

    #[test]
    fn a_header_names_the_column() {
        let csv = "Name,Order ID,Total\n\"Doe, Jane\",#1001,10.00\nBob,#1002,5.00\n";
        assert_eq!(order_ids(csv), ["#1001", "#1002"]);
        assert_eq!(order_ids("total;id\n5;A-1\n6;A-2"), ["A-1", "A-2"]);
        assert_eq!(order_ids("order,external_id\nx,y"), ["y"], "order_id > external_id > order > id");
    }

    #[test]
    fn quoted_ids_keep_their_commas_quotes_and_line_breaks() {
        assert_eq!(order_ids("order_id\n\"A\nB\"\n\"x,\"\"y\"\"\"\n\"a;b\""), ["A\nB", "x,\"y\"", "a;b"]);
    }

    #[test]
    fn without_a_known_header_the_first_column_is_used() {
        assert_eq!(order_ids("1001,10.00\n1002,5.00"), ["1001", "1002"]);
    }
}
