//! The admin's use of the shared session mechanism (`web::session`): its realm (the
//! `affiliated_admin` cookie under `/admin`, 12 hours). The token and its login limits are the
//! admin's account (`web::admin_account`), which every worker's context holds. Sessions
//! themselves are stored server-side; nothing here keeps one.

use std::time::Duration;

use crate::store::sessions::Principal;
use crate::web::session::Realm;

pub const COOKIE: &str = "affiliated_admin";
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
pub const REALM: Realm =
    Realm { cookie: COOKIE, path: "/admin", lifetime: LIFETIME, admits: |p| matches!(p, Principal::Admin) };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_realm_admits_only_the_admin() {
        assert!((REALM.admits)(Principal::Admin));
        assert!(!(REALM.admits)(Principal::Affiliate(1)));
    }
}
