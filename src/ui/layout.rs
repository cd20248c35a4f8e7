//! The page shell the admin's and the portal's pages share: head, style sheet, top navigation,
//! notices, error pages, the headers every page carries ([`harden`]), and the one small script
//! (select-all checkboxes, copy buttons, confirmations), allowed by its hash in the
//! Content-Security-Policy rather than by `'unsafe-inline'`. The admin's navigation is the
//! default frame ([`page`]); another area brings its own ([`Area`]).

use std::sync::LazyLock;

use super::html::{Html, fragment, html};
use crate::error::Error;
use crate::transport::{Req, Response};

/// The admin's navigation, one line an entry: (group, path, label). Entries of the group `""`
/// stand on their own; the others are listed under their group's menu, groups in the order they
/// first appear. A new page is one line here.
const NAV: &[NavEntry] = &[
    ("", "/admin", "Overview"),
    ("", "/admin/conversions", "Conversions"),
    ("", "/admin/affiliates", "Affiliates"),
    ("", "/admin/applications", "Applications"),
    (PROGRAM, "/admin/offers", "Offers"),
    (PROGRAM, "/admin/coupons", "Coupons"),
    (MONEY, "/admin/balances", "Balances"),
    (MONEY, "/admin/payouts", "Payouts"),
    (MONEY, "/admin/reconcile", "Reconcile"),
    (INTEGRATIONS, "/admin/postbacks", "Postbacks"),
    (INTEGRATIONS, "/admin/hooks", "Shop hooks"),
    (INTEGRATIONS, "/admin/webhooks", "Webhooks"),
    (INTEGRATIONS, "/admin/emails", "E-mails"),
];

/// The admin's groups of pages.
const PROGRAM: &str = "Program";
const MONEY: &str = "Money";
const INTEGRATIONS: &str = "Integrations";

/// One entry of a navigation: (group, path, label); the group `""` is no group.
pub type NavEntry = (&'static str, &'static str, &'static str);

const SCRIPT: &str = "document.addEventListener('click',function(e){var t=e.target;\
if(t.matches('input[data-select-all]')){document.querySelectorAll('input[name=id]').forEach(function(b){b.checked=t.checked});}\
if(t.matches('[data-confirm]')&&!window.confirm(t.getAttribute('data-confirm'))){e.preventDefault();}\
if(t.matches('button[data-copy]')){var i=document.getElementById(t.getAttribute('data-copy'));i.select();\
if(navigator.clipboard){navigator.clipboard.writeText(i.value);}else{document.execCommand('copy');}t.textContent='Copied';}});";

/// The Content-Security-Policy of every admin response.
pub static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = crate::secret::base64(&crate::secret::sha256(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'sha256-{hash}'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

const STYLE: &str = r#"
:root{--bg:#f5f7fa;--card:#fff;--line:#e3e8ee;--soft:#eef1f5;--text:#1a1f36;--muted:#5f6b7f;--accent:#4f46e5;
--accent-dark:#4338ca;--good:#0b7a3e;--good-bg:#dff5e7;--wait:#8a5300;--wait-bg:#fff1d6;--bad:#b42318;--bad-bg:#fde7e4;
--neutral:#475467;--neutral-bg:#eceff3}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--text);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.top{background:#fff;border-bottom:1px solid var(--line)}
.wrap{max-width:1240px;margin:0 auto;padding:0 24px}
.top{position:relative;z-index:5}
.top .wrap{display:flex;align-items:center;gap:24px;min-height:54px}
.brand{font-weight:700;font-size:16px;color:var(--text);display:flex;align-items:center;gap:8px;letter-spacing:-.01em}
.brand i{display:inline-block;width:22px;height:22px;border-radius:6px;background:linear-gradient(135deg,#6366f1,#4338ca)}
.top summary{list-style:none;cursor:pointer}.top summary::-webkit-details-marker{display:none}
.top nav.bar{display:flex;align-items:center;flex:1;min-width:0}
.top nav a,.group>summary{color:var(--muted);padding:16px 10px 15px;border-bottom:2px solid transparent;font-weight:500;
white-space:nowrap;display:block}
.group>summary::after{content:"";display:inline-block;margin-left:6px;vertical-align:2px;border:4px solid transparent;
border-top-color:currentColor;border-bottom:0}
.top nav a:hover,.group>summary:hover{color:var(--text);text-decoration:none}
.top nav a.on,.group>summary.on{color:var(--text);border-bottom-color:var(--accent)}
.group{position:relative}
.group>.panel{position:absolute;top:100%;left:0;min-width:180px;background:#fff;border:1px solid var(--line);
border-radius:8px;box-shadow:0 8px 24px rgba(16,24,40,.12);padding:6px 0}
.group>.panel a{padding:8px 14px;border-bottom:0}.group>.panel a.on{color:var(--accent)}
.menu{display:none;margin-left:auto}
.menu nav{position:absolute;left:0;right:0;top:100%;background:#fff;border-bottom:1px solid var(--line);
box-shadow:0 8px 24px rgba(16,24,40,.12);padding:6px 0 10px}
.menu nav a{padding:10px 16px;border-bottom:0;border-left:3px solid transparent}
.menu nav a.on{border-left-color:var(--accent)}
.top nav .count{display:inline-block;min-width:18px;padding:0 5px;border-radius:9px;background:var(--accent);color:#fff;
font-size:11px;line-height:18px;text-align:center}
.group-label{margin:10px 16px 2px;font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;
letter-spacing:.04em}
main.wrap{padding-top:8px;padding-bottom:32px}
footer.wrap{color:var(--muted);font-size:12px;padding-bottom:28px}
h1{font-size:22px;margin:22px 0 2px;letter-spacing:-.01em}
h2{font-size:15px;margin:28px 0 10px}
.sub{color:var(--muted);margin:0 0 18px}
.muted{color:var(--muted)}.any-break{overflow-wrap:anywhere}
.row{display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.spread{display:flex;justify-content:space-between;align-items:flex-end;gap:12px;flex-wrap:wrap}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px;margin-bottom:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card h2{margin:0 0 10px}
.kpi .label{color:var(--muted);font-size:12px;font-weight:500}
.kpi .value{font-size:23px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums;letter-spacing:-.01em}
.kpi .value.small{font-size:17px}
.kpi .note{color:var(--muted);font-size:12px;margin-top:2px}
.chart-box{display:grid;grid-template-columns:auto minmax(0,1fr);column-gap:8px}
.chart-axis{color:var(--muted);font-size:11px;line-height:14px;font-variant-numeric:tabular-nums;white-space:nowrap}
.chart-y{display:flex;flex-direction:column;justify-content:space-between;text-align:right;height:188px;margin-top:3px}
.chart-plot{position:relative;min-width:0}
.chart{width:100%;height:184px;display:block}
.chart .grid{stroke:var(--soft);stroke-width:1}
.chart-x{position:relative;height:20px;margin-top:4px}
.chart-x span{position:absolute;top:0;transform:translateX(-50%)}
.chart-empty{position:absolute;left:0;right:0;top:80px;margin:0;text-align:center;color:var(--muted);font-size:12px}
.chart .bar-revenue{fill:#6366f1}.chart .bar-revenue:hover{fill:#4338ca}
.chart .s-approved{fill:#22a35a}.chart .s-pending{fill:#f0a53a}.chart .s-refunded{fill:#98a2b3}.chart .s-rejected{fill:#e5604d}
.legend{display:flex;gap:14px;color:var(--muted);font-size:12px}
.legend i{display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:5px}
.table{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow-x:auto}
table{width:100%;border-collapse:collapse}
th{font-size:12px;color:var(--muted);text-align:left;font-weight:600;padding:9px 12px;border-bottom:1px solid var(--line);
background:#fafbfc;white-space:nowrap}
td{padding:9px 12px;border-bottom:1px solid var(--soft);vertical-align:middle}
tr:last-child td{border-bottom:0}
tbody tr:hover td{background:#fafbff}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.clip{max-width:360px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:550;line-height:19px}
.badge.good{background:var(--good-bg);color:var(--good)}.badge.wait{background:var(--wait-bg);color:var(--wait)}
.badge.bad{background:var(--bad-bg);color:var(--bad)}.badge.neutral{background:var(--neutral-bg);color:var(--neutral)}
.tag{display:inline-block;padding:0 6px;border-radius:4px;background:var(--soft);color:var(--neutral);font-size:12px}
.tag.test{background:#e8f0fe;color:#1a56b8}.tag.flag{background:#fdecea;color:#a52a1f}.tag.refund{background:#eceff3;color:#344054}
form.inline{display:inline}
.filters{display:flex;gap:10px;align-items:flex-end;flex-wrap:wrap;margin:0 0 14px}
label{display:block;font-size:12px;color:var(--muted);font-weight:500}
label>input,label>select,label>textarea{display:block;margin-top:3px}
label.check{display:flex;align-items:center;gap:7px;color:var(--text);font-size:14px;font-weight:400}
label.check>input{display:inline;margin:0}
input[type=text],input[type=search],input[type=date],input[type=password],input[type=email],input[type=url],
input[type=number],select,textarea{font:inherit;color:var(--text);padding:6px 9px;border:1px solid #cfd6df;border-radius:6px;
background:#fff;min-width:0}
input:focus,select:focus,textarea:focus{outline:2px solid #c7d2fe;border-color:var(--accent)}
textarea{width:100%;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.btn{font:inherit;font-weight:550;display:inline-block;padding:6px 12px;border-radius:6px;border:1px solid #cfd6df;
background:#fff;color:var(--text);cursor:pointer;white-space:nowrap;line-height:20px}
.btn:hover{background:#f3f5f8;text-decoration:none}
.btn.primary{background:var(--accent);border-color:var(--accent);color:#fff}.btn.primary:hover{background:var(--accent-dark)}
.btn.small{padding:2px 9px;font-size:12.5px}
.btn.approve{color:var(--good);border-color:#a6dcb9}.btn.approve:hover{background:var(--good-bg)}
.btn.reject{color:var(--bad);border-color:#f3b4ab}.btn.reject:hover{background:var(--bad-bg)}
.btn.link{border:0;background:none;color:var(--muted);padding:6px 4px}
.notice{padding:10px 14px;border-radius:8px;margin:14px 0;border:1px solid}
.notice.ok{background:var(--good-bg);border-color:#a6dcb9;color:#064e27}
.notice.error{background:var(--bad-bg);border-color:#f3b4ab;color:#7a1a10}
.notice.secret{background:#fffbeb;border-color:#f5d78a;color:#5c3d00}
.notice.warn{background:var(--wait-bg);border-color:#f5d78a;color:#5c3d00}.notice ul{margin:6px 0;padding-left:20px}
.pager{display:flex;justify-content:space-between;align-items:center;padding:10px 2px;color:var(--muted)}
.form-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:12px;align-items:end}
.form-grid input,.form-grid select{width:100%}
.copy{display:flex;gap:6px}.copy input{flex:1}
.qr-box{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin-top:14px}
svg.qr{width:168px;height:168px;display:block;border:1px solid var(--line);border-radius:6px}
label.grow{flex:1 1 300px}label.grow>input{width:100%}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:6px 18px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.empty{padding:28px;text-align:center;color:var(--muted)}
.login{max-width:380px;margin:12vh auto 0}
.login .card{padding:26px}
.login input[type=password]{width:100%;margin:6px 0 14px}
td.when{white-space:nowrap}
@media (max-width:720px){.wrap{padding:0 12px}.top .wrap{gap:10px}.top nav.bar{display:none}.menu{display:block}
.chart-x span.thin{display:none}th{white-space:normal}th,td{padding:8px 5px}.clip{max-width:140px}
.copy input{width:0;min-width:8em}td.when{white-space:normal;min-width:6.2em}
table[data-narrow-hide~="1"] tr>:nth-child(1),table[data-narrow-hide~="2"] tr>:nth-child(2),
table[data-narrow-hide~="3"] tr>:nth-child(3),table[data-narrow-hide~="4"] tr>:nth-child(4),
table[data-narrow-hide~="5"] tr>:nth-child(5),table[data-narrow-hide~="6"] tr>:nth-child(6),
table[data-narrow-hide~="7"] tr>:nth-child(7),table[data-narrow-hide~="8"] tr>:nth-child(8),
table[data-narrow-hide~="9"] tr>:nth-child(9){display:none}}
"#;

/// A message shown above a page's content.
pub enum Notice {
    None,
    Ok(String),
    Error(String),
    /// A secret shown once, with a copy button: `what` it is, and `use_it`, where it goes.
    Secret {
        what: String,
        use_it: &'static str,
        value: String,
    },
    /// A value shown once (a link, a secret), with what it is and a copy button.
    Once {
        text: String,
        value: String,
    },
}

impl Notice {
    pub fn html(&self) -> Html {
        match self {
            Notice::None => Html::new(),
            Notice::Ok(text) => fragment!("<div class=\"notice ok\" role=\"status\">{}</div>", text),
            Notice::Error(text) => fragment!("<div class=\"notice error\" role=\"alert\">{}</div>", text),
            Notice::Secret { what, use_it, value } => fragment!(
                "<div class=\"notice secret\" role=\"status\"><strong>{}</strong> It is shown only now: {}\
                 <div class=\"copy\" style=\"margin-top:8px\"><input id=\"secret\" class=\"mono\" type=\"text\" readonly value=\"{}\">\
                 <button class=\"btn\" type=\"button\" data-copy=\"secret\">Copy</button></div></div>",
                what,
                *use_it,
                value
            ),
            Notice::Once { text, value } => fragment!(
                "<div class=\"notice secret\" role=\"status\">{}\
                 <div class=\"copy\" style=\"margin-top:8px\"><input id=\"secret\" class=\"mono\" type=\"text\" readonly value=\"{}\">\
                 <button class=\"btn\" type=\"button\" data-copy=\"secret\">Copy</button></div></div>",
                text,
                value
            ),
        }
    }
}

/// The hidden CSRF field every POST form carries.
pub fn csrf_field(req: &Req) -> Html {
    fragment!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", req.csrf.as_deref().unwrap_or(""))
}

fn head(title: &str) -> Html {
    fragment!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"same-origin\"><title>{} · affiliated</title><style>{}</style></head>",
        title,
        Html::from_static(STYLE)
    )
}

/// A logged-in area's frame: where its brand links, its navigation `(path, label)`, where its
/// log-out form posts, and the text of its footer. The admin's pages are [`page`]; the portal's are
/// `portal::layout::page`.
pub struct Area<'a> {
    pub home: &'a str,
    pub nav: &'a [NavEntry],
    pub logout: &'a str,
    pub footer: &'a str,
}

/// A full page of `area`: navigation (with `active` highlighted), the notice and `body`.
pub fn area_page(area: &Area<'_>, req: &Req, title: &str, active: &str, notice: &Notice, body: &Html) -> String {
    let mut out = head(title);
    html!(
        out,
        "<body><header class=\"top\"><div class=\"wrap\"><a class=\"brand\" href=\"{}\"><i></i>affiliated</a>{}\
         <form class=\"inline logout\" method=\"post\" action=\"{}\">{}\
         <button class=\"btn link\" type=\"submit\">Log out</button></form></div></header>\
         <main class=\"wrap\">{}{}</main><footer class=\"wrap\">{}</footer>\
         <script>{}</script></body></html>",
        area.home,
        navigation_with(area.nav, active, &req.nav_counts),
        area.logout,
        csrf_field(req),
        notice.html(),
        body,
        area.footer,
        Html::from_static(SCRIPT)
    );
    out.into_string()
}

/// [`navigation_with`] without numbers, as the unit tests draw it.
#[cfg(test)]
fn navigation(nav: &[NavEntry], active: &str) -> Html {
    navigation_with(nav, active, &[])
}

/// The navigation, twice: one row for a wide screen, with a drop-down menu for each group
/// (`details`), and for a narrow one a "Menu" button that opens the whole list, grouped. CSS
/// shows one of them (no script): a narrow screen never gets rows of wrapped links. The entries
/// `counts` names by path get a number beside them (the admin's pending applications:
/// `Req::nav_counts`, set by the area's guard).
fn navigation_with(nav: &[NavEntry], active: &str, counts: &[(&str, i64)]) -> Html {
    let on = |path: &str| Html::from_static(if path == active { " class=\"on\"" } else { "" });
    let count = |path: &str| match counts.iter().find(|(p, _)| *p == path) {
        Some((_, n)) => fragment!(" <span class=\"count\" title=\"pending\">{}</span>", *n),
        None => Html::new(),
    };
    let mut groups: Vec<&str> = Vec::new();
    for &(group, _, _) in nav {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    let mut bar = Html::from_static("<nav class=\"bar\">");
    let mut menu = Html::from_static("<details class=\"menu\"><summary class=\"btn\">Menu</summary><nav>");
    for &(_, path, label) in nav.iter().filter(|e| e.0.is_empty()) {
        html!(bar, "<a{} href=\"{}\">{}{}</a>", on(path), path, label, count(path));
        html!(menu, "<a{} href=\"{}\">{}{}</a>", on(path), path, label, count(path));
    }
    for group in groups {
        let members: Vec<&NavEntry> = nav.iter().filter(|e| e.0 == group).collect();
        let open = members.iter().any(|e| e.1 == active);
        html!(
            bar,
            "<details class=\"group\" name=\"nav-group\"><summary{}>{}</summary><div class=\"panel\">",
            Html::from_static(if open { " class=\"on\"" } else { "" }),
            group
        );
        html!(menu, "<p class=\"group-label\">{}</p>", group);
        for &&(_, path, label) in &members {
            html!(bar, "<a{} href=\"{}\">{}</a>", on(path), path, label);
            html!(menu, "<a{} href=\"{}\">{}</a>", on(path), path, label);
        }
        html!(bar, "</div></details>");
    }
    html!(bar, "</nav>{}</nav></details>", menu);
    bar
}

/// A full admin page: navigation (with `active` highlighted), the notice and `body`.
pub fn page(req: &Req, title: &str, active: &str, notice: &Notice, body: &Html) -> String {
    let footer = format!("affiliated {} · times and days are UTC", env!("CARGO_PKG_VERSION"));
    let admin = Area { home: "/admin", nav: NAV, logout: "/admin/logout", footer: &footer };
    area_page(&admin, req, title, active, notice, body)
}

/// A page without navigation (the login form, errors before login).
pub fn bare_page(title: &str, body: &Html) -> String {
    let mut out = head(title);
    html!(out, "<body><main class=\"wrap\">{}</main></body></html>", body);
    out.into_string()
}

/// Adds the headers every page of the admin and the portal carries: no caching, the pages'
/// Content-Security-Policy, no framing.
pub fn harden(mut response: Response) -> Response {
    response.headers.retain(|(name, _)| *name != "Cache-Control");
    response.headers.extend([
        ("Cache-Control", "no-store".to_string()),
        ("Content-Security-Policy", CSP.clone()),
        ("X-Frame-Options", "DENY".to_string()),
        ("Referrer-Policy", "same-origin".to_string()),
    ]);
    response
}

/// An error as a page of a logged-in area (the admin, the portal): its title, its message and a
/// link `back` (href, label), inside the area's frame (`full`) once the session is known, on a
/// bare page otherwise.
pub fn error_page_of(req: &Req, e: &Error, back: (&str, &str), full: &dyn Fn(&str, &Html) -> String) -> Response {
    let title = match e.status {
        404 => "Not found",
        400..500 => "That did not work",
        _ => "Something went wrong",
    };
    let body = fragment!(
        "<h1>{}</h1><p class=\"sub\">{}</p><p><a class=\"btn\" href=\"{}\">{}</a></p>",
        title,
        e.message,
        back.0,
        back.1
    );
    let page = if req.csrf.is_some() { full(title, &body) } else { bare_page(title, &body) };
    Response::html(e.status, page).busy_hint()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_navigation_groups_its_entries_and_marks_the_page_shown() {
        let nav = navigation(NAV, "/admin/payouts");
        let nav = nav.as_str();
        let (bar, menu) = nav.split_once("<details class=\"menu\">").expect("a bar, then the menu");
        for part in [bar, menu] {
            for (_, path, label) in NAV {
                assert_eq!(part.matches(&format!("href=\"{path}\">{label}</a>")).count(), 1, "{path} in {part}");
            }
            assert_eq!(part.matches("class=\"on\"").count(), 1 + usize::from(part == bar), "{part}");
        }
        assert!(bar.contains("<summary class=\"on\">Money</summary>"), "the open page's group: {bar}");
        assert!(bar.contains("<summary>Program</summary>") && menu.contains("<p class=\"group-label\">Money</p>"));
        let money =
            bar.split("<summary class=\"on\">Money</summary>").nth(1).unwrap().split("</details>").next().unwrap();
        assert!(
            money.contains("/admin/balances") && money.contains("/admin/payouts") && !money.contains("/admin/offers")
        );
    }

    #[test]
    fn the_policy_allows_exactly_our_script() {
        assert!(CSP.contains("script-src 'sha256-"));
        assert!(!CSP.contains("unsafe-inline'; script") && !CSP.contains("script-src 'unsafe-inline'"));
        assert!(CSP.contains("frame-ancestors 'none'"));
    }
}
