//! Payout files, for the admin and `GET /api/v1/payouts/{id}/export`: PayPal Payouts' bulk
//! upload CSV and a generic CSV, both through `csv.rs` (RFC 4180, formula guard).
//!
//! PayPal's bulk file, as PayPal documents it: no header row; one payout per line with the
//! recipient's e-mail, the amount (a dot before the decimals), the currency, a customer ID (at
//! most 30 characters, no spaces: here `payout-<id>`), a note to the recipient, and the wallet
//! (`PAYPAL`); one currency per file, at most 5,000 lines.

use crate::error::Error;
use crate::shapes::csv::{Cell, write_row};
use crate::tracking::payout::Payout;

/// PayPal's limit on lines per upload.
pub const PAYPAL_MAX_ROWS: usize = 5000;

/// Which file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    PayPal,
    Csv,
}

impl Format {
    pub fn parse(text: Option<&str>) -> Result<Format, Error> {
        match text {
            None | Some("csv") => Ok(Format::Csv),
            Some("paypal") => Ok(Format::PayPal),
            Some(_) => Err(Error::invalid("format", "must be paypal or csv")),
        }
    }
}

/// The payouts a file holds: every one but the cancelled.
fn live<'a>(payouts: &[&'a Payout]) -> Vec<&'a Payout> {
    payouts.iter().copied().filter(|p| p.status != crate::tracking::payout::Status::Cancelled).collect()
}

/// The payouts of a file that PayPal cannot pay: their affiliate has no payout e-mail.
pub fn missing_payout_email<'a>(payouts: &[&'a Payout]) -> Vec<&'a Payout> {
    live(payouts).into_iter().filter(|p| p.payout_email.is_none()).collect()
}

/// A payout file: its name for the download, and its bytes.
pub struct PayoutFile {
    pub name: String,
    pub csv: String,
}

/// The file for `payouts` (cancelled ones are left out), named after `name`.
pub fn render(format: Format, payouts: &[&Payout], name: &str) -> Result<PayoutFile, Error> {
    let live = live(payouts);
    let csv = match format {
        Format::PayPal => paypal(&live)?,
        Format::Csv => generic(&live),
    };
    let suffix = if format == Format::PayPal { "-paypal" } else { "" };
    Ok(PayoutFile { name: format!("{name}{suffix}.csv"), csv })
}

fn paypal(payouts: &[&Payout]) -> Result<String, Error> {
    if let Some(first) = payouts.first()
        && payouts.iter().any(|p| p.currency != first.currency)
    {
        return Err(Error::bad_request("mixed_currencies", "a PayPal payout file holds one currency only"));
    }
    if payouts.len() > PAYPAL_MAX_ROWS {
        return Err(Error::bad_request(
            "too_many_payouts",
            format!("PayPal accepts at most {PAYPAL_MAX_ROWS} payouts per file; export them in parts"),
        ));
    }
    let missing: Vec<&str> = missing_payout_email(payouts).iter().map(|p| p.referral_code.as_str()).collect();
    if !missing.is_empty() {
        return Err(Error::conflict(
            "missing_payout_email",
            format!(
                "these affiliates have no payout_email to pay with PayPal: {}; set it (PATCH /api/v1/affiliates/{{code}}) or use format=csv",
                missing.join(", ")
            ),
        ));
    }
    let mut out = String::with_capacity(payouts.len() * 96);
    for p in payouts {
        write_row(
            &mut out,
            &[
                Cell::Text(p.payout_email.as_deref().unwrap_or("")),
                Cell::Number(p.currency.format(p.amount)),
                Cell::Text(p.currency.code()),
                Cell::Text(&format!("payout-{}", p.id)),
                Cell::Text(&format!("Affiliate commission, payout {}", p.id)),
                Cell::Text("PAYPAL"),
            ],
        );
    }
    Ok(out)
}

const COLUMNS: [&str; 11] = [
    "payout_id",
    "referral_code",
    "name",
    "payout_email",
    "payout_details",
    "currency",
    "amount",
    "status",
    "reference",
    "created_at",
    "paid_at",
];

fn generic(payouts: &[&Payout]) -> String {
    let mut out = String::with_capacity(128 + payouts.len() * 160);
    write_row(&mut out, &COLUMNS.map(Cell::Text));
    for p in payouts {
        write_row(
            &mut out,
            &[
                Cell::Number(p.id.to_string()),
                Cell::Text(&p.referral_code),
                Cell::Text(&p.name),
                Cell::Text(p.payout_email.as_deref().unwrap_or("")),
                Cell::Text(p.payout_details.as_deref().unwrap_or("")),
                Cell::Text(p.currency.code()),
                Cell::Number(p.currency.format(p.amount)),
                Cell::Text(p.status.as_str()),
                Cell::Text(p.reference.as_deref().unwrap_or("")),
                Cell::Text(&crate::clock::rfc3339(p.created_at)),
                Cell::Text(&p.paid_at.map(crate::clock::rfc3339).unwrap_or_default()),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::money::Currency;
    use crate::tracking::payout::Status;

    fn payout(id: i64, email: Option<&str>, name: &str) -> Payout {
        Payout {
            id,
            run: 1,
            run_id: None,
            affiliate_id: 1,
            referral_code: "ann".into(),
            name: name.into(),
            payout_email: email.map(String::from),
            payout_details: Some("IBAN DE00 1234\nAnn Example".into()),
            currency: Currency::from_code("USD").unwrap(),
            amount: 12_345,
            status: Status::Pending,
            reference: None,
            created_at: 0,
            paid_at: None,
            cancelled_at: None,
        }
    }

    #[test]
    fn paypal_lines_are_email_amount_currency_id_note_wallet() {
        let p = payout(7, Some("ann@example.com"), "Ann");
        assert_eq!(
            paypal(&[&p]).unwrap(),
            "ann@example.com,123.45,USD,payout-7,\"Affiliate commission, payout 7\",PAYPAL\r\n"
        );
        let without = payout(8, None, "Ann");
        assert_eq!(paypal(&[&p, &without]).unwrap_err().code, "missing_payout_email");
        let mut euro = payout(9, Some("b@example.com"), "B");
        euro.currency = Currency::from_code("EUR").unwrap();
        assert_eq!(paypal(&[&p, &euro]).unwrap_err().code, "mixed_currencies");
    }

    #[test]
    fn the_generic_file_guards_formulas() {
        let p = payout(7, Some("ann@example.com"), "=HYPERLINK(\"http://x\")");
        let text = generic(&[&p]);
        assert!(text.starts_with("payout_id,referral_code,name,"));
        assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
        assert!(text.contains("\"IBAN DE00 1234\nAnn Example\""));
    }
}
