//! The affiliate portal's rules (#13). Pure: what a portal password must be, how long an invite
//! lasts, and how much of a merchant's reference an affiliate may see.
//!
//! Passwords follow NIST SP 800-63B rather than composition rules: long enough (12 characters,
//! counted as characters, so any script works), any characters at all, and a generous upper bound
//! that only exists so a request cannot hand the hash function megabytes.

/// The shortest portal password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest portal password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// How long an invite link can be used after it was made.
pub const INVITE_LIFETIME_MS: i64 = 7 * 86_400_000;
/// How many trailing characters of an order reference or payout reference an affiliate sees.
pub const VISIBLE_REFERENCE_CHARS: usize = 4;

/// Whether `password` may become a portal password; otherwise what is wrong, for the person
/// choosing it.
pub fn check_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(format!(
            "Use at least {MIN_PASSWORD_CHARS} characters (this one has {length}). A few unrelated words make a \
             strong password that is easy to remember."
        ));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(format!("Use at most {MAX_PASSWORD_CHARS} characters."));
    }
    if password.trim().is_empty() {
        return Err("A password of only spaces is not a password.".into());
    }
    Ok(())
}

/// Postback macros only the merchant may put in an affiliate's postback URL: the full order
/// reference, which the portal otherwise shows only by its last characters.
pub const MERCHANT_ONLY_MACROS: &[&str] = &["external_id"];

/// Checks a postback URL an affiliate sets for themselves: everything the API checks
/// (`outbound::check_template`), and none of [`MERCHANT_ONLY_MACROS`].
pub fn check_own_postback_url(url: &str) -> Result<(), String> {
    super::outbound::check_template(url)?;
    match MERCHANT_ONLY_MACROS.iter().find(|m| url.contains(&format!("{{{m}}}"))) {
        Some(m) => Err(format!(
            "uses {{{m}}}, which only the merchant can put in your postback URL; use {{conversion_id}} to tell \
             conversions apart, or ask the merchant"
        )),
        None => Ok(()),
    }
}

/// When an invite made at `now` stops working.
pub fn invite_expires_at(now: i64) -> i64 {
    now.saturating_add(INVITE_LIFETIME_MS)
}

/// The end of `reference` an affiliate may see: its last [`VISIBLE_REFERENCE_CHARS`] characters
/// after an ellipsis (`…1042`). A reference that short is shown as it is.
pub fn last_chars(reference: &str) -> String {
    let count = reference.chars().count();
    if count <= VISIBLE_REFERENCE_CHARS {
        return reference.to_string();
    }
    let tail: String = reference.chars().skip(count - VISIBLE_REFERENCE_CHARS).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_twelve_characters_of_any_kind() {
        assert!(check_password("correct horse").is_ok());
        assert!(check_password("ábcdéfghíjkl").is_ok(), "characters, not bytes");
        assert!(check_password("密码密码密码密码密码密码").is_ok());
        let short = check_password("elevenchars").unwrap_err();
        assert!(short.contains("at least 12") && short.contains("has 11"), "{short}");
        assert!(check_password("ábcdéfghíjk").is_err(), "11 characters, though 14 bytes");
        assert!(check_password(&" ".repeat(20)).is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn affiliates_may_not_ask_for_full_order_references_in_their_postbacks() {
        assert!(
            check_own_postback_url("https://t.example/pb?cid={click_id}&c={commission}&id={conversion_id}").is_ok()
        );
        let refused = check_own_postback_url("https://t.example/pb?order={external_id}").unwrap_err();
        assert!(refused.contains("{external_id}") && refused.contains("merchant"), "{refused}");
        assert!(check_own_postback_url("ftp://t.example/").is_err(), "the API's rules apply too");
        assert!(check_own_postback_url("https://t.example/?x={nope}").is_err());
    }

    #[test]
    fn an_invite_lasts_seven_days() {
        assert_eq!(invite_expires_at(1_000), 1_000 + 604_800_000);
        assert_eq!(invite_expires_at(i64::MAX), i64::MAX);
    }

    #[test]
    fn only_the_last_four_characters_of_a_reference_show() {
        assert_eq!(last_chars("order-2026-11-1042"), "…1042");
        assert_eq!(last_chars("ÄÖÜßäöü"), "…ßäöü");
        assert_eq!(last_chars("1042"), "1042");
        assert_eq!(last_chars("42"), "42");
        assert_eq!(last_chars(""), "");
    }
}
