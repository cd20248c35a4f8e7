//! The portal's page shell: the shared frame (`ui::layout::area_page`: style sheet, the one
//! script, and with `ui::layout::harden` the same Content-Security-Policy) with the portal's own
//! navigation. Nothing here links to the admin.

use crate::transport::Req;
use crate::ui::html::Html;
use crate::ui::layout::{Area, NavEntry, Notice, area_page};

/// The navigation, one line an entry: (group, path, label); the portal's pages need no groups.
const NAV: &[NavEntry] = &[
    ("", "/portal", "Overview"),
    ("", "/portal/links", "Links"),
    ("", "/portal/conversions", "Conversions"),
    ("", "/portal/payouts", "Payouts"),
    ("", "/portal/settings", "Settings"),
];

/// A full page: navigation (with `active` highlighted), the notice and `body`.
pub fn page(req: &Req, title: &str, active: &str, notice: &Notice, body: &Html) -> String {
    let portal = Area {
        home: "/portal",
        nav: NAV,
        logout: "/portal/logout",
        footer: "Affiliate portal · times and days are UTC",
    };
    area_page(&portal, req, title, active, notice, body)
}

/// A page without navigation (login, invite, errors before login).
pub fn bare_page(title: &str, body: &Html) -> String {
    crate::ui::layout::bare_page(title, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::request::Method;
    use crate::ui::html::fragment;

    #[test]
    fn pages_never_name_the_admin() {
        let mut req = Req::from_parts(Method::Get, "/portal", Default::default(), None);
        req.csrf = Some("tok".into());
        let page = page(&req, "Overview", "/portal", &Notice::Ok("Saved.".into()), &fragment!("<p>{}</p>", "x"));
        assert!(!page.contains("/admin"), "{page}");
        assert!(page.contains("action=\"/portal/logout\"") && page.contains("value=\"tok\""));
        assert!(page.contains("class=\"on\" href=\"/portal\""));
    }
}
