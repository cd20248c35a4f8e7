//! The affiliate ledger's rules: what each kind of entry does to an affiliate's four balances,
//! and the exact bytes that chain the entries together. Pure: no SQL, no clock, no randomness.
//!
//! Every change to what an affiliate is owed is one entry with a signed `amount` in minor units.
//! [`Kind::effect`] says which balances it moves; balances are sums of effects, and because
//! every effect is linear in the amount, the sum of the amounts per kind is enough to compute
//! them. The identities the rest of the program relies on follow from the table:
//!
//! - payout kinds (`payout`, `paid`, `payout_cancelled`) only move money between `available`,
//!   `in_payouts` and `paid`, so `available + in_payouts + paid` = approved commission minus
//!   claw-backs (the amounts of `approved`, `clawed_back` and `replaced_approved` entries);
//! - `pending` = commission created minus what left it (approved, rejected, refunded, replaced).
//!
//! Entries form one hash chain per affiliate: `hash = SHA-256(prev_hash || canonical bytes)`,
//! where the canonical bytes are the entry's fields as text, each preceded by its length
//! ([`canonical_bytes`], documented in docs/statements.md so anyone can recompute them).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hashes are written as lowercase hex in statements and entries, and read back strictly.
pub use crate::secret::{from_hex32 as parse_hash, hex};

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A conversion's commission was created, pending (amount >= 0).
    Created,
    /// A pending commission was approved: it becomes available (amount >= 0).
    Approved,
    /// A pending commission was rejected (amount <= 0).
    Rejected,
    /// A refund cut a pending commission (amount <= 0).
    Refunded,
    /// A refund took back approved commission, whether or not it was paid out (amount <= 0).
    ClawedBack,
    /// A pending commission was lost to another report of the same order (amount <= 0).
    Replaced,
    /// An approved commission was lost to another report of the same order (amount <= 0).
    ReplacedApproved,
    /// Available money was put into a payout (amount > 0).
    Payout,
    /// A payout was paid (amount > 0).
    Paid,
    /// A payout was cancelled: its money is available again (amount > 0).
    PayoutCancelled,
}

/// An entry that records a fact in the chain and moves no money: its currency is
/// [`NO_CURRENCY`], its amount 0, and it never enters a balance or a payout. Apart from [`Kind`]
/// so that every rule about money (effects, signs, payouts) stays about money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// The affiliate accepted the program's terms (#24): `at` is when, the entry's `terms_url`
    /// says which, and its `order_hash` is [`terms_hash`] of that URL, so the hash covers it.
    TermsAccepted,
}

impl Record {
    pub const ALL: [Record; 1] = [Record::TermsAccepted];

    pub fn as_str(self) -> &'static str {
        match self {
            Record::TermsAccepted => "terms_accepted",
        }
    }

    pub fn parse(text: &str) -> Option<Record> {
        Record::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// The currency of a [`Record`]: ISO 4217's code for "no currency is involved".
pub const NO_CURRENCY: &str = "XXX";

/// Whether `kind` names an entry some version of affiliated writes: a [`Kind`] or a [`Record`].
pub fn is_known_kind(kind: &str) -> bool {
    Kind::parse(kind).is_some() || Record::parse(kind).is_some()
}

/// What a `terms_accepted` entry's `order_hash` holds: the SHA-256 of the terms' URL as text.
pub fn terms_hash(url: &str) -> [u8; 32] {
    Sha256::digest(url.as_bytes()).into()
}

/// What an entry does to the four balances, in minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    pub pending: i64,
    pub available: i64,
    pub in_payouts: i64,
    pub paid: i64,
}

impl Balances {
    pub fn add(&mut self, other: Balances) {
        self.pending += other.pending;
        self.available += other.available;
        self.in_payouts += other.in_payouts;
        self.paid += other.paid;
    }
}

/// The sign an entry's amount must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// Zero or more: money towards the affiliate, or moved between their balances.
    Credit,
    /// Zero or less: money taken away.
    Debit,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Created,
        Kind::Approved,
        Kind::Rejected,
        Kind::Refunded,
        Kind::ClawedBack,
        Kind::Replaced,
        Kind::ReplacedApproved,
        Kind::Payout,
        Kind::Paid,
        Kind::PayoutCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "created",
            Kind::Approved => "approved",
            Kind::Rejected => "rejected",
            Kind::Refunded => "refunded",
            Kind::ClawedBack => "clawed_back",
            Kind::Replaced => "replaced",
            Kind::ReplacedApproved => "replaced_approved",
            Kind::Payout => "payout",
            Kind::Paid => "paid",
            Kind::PayoutCancelled => "payout_cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether the entry is about a payout (else it is about a conversion).
    pub fn is_payout(self) -> bool {
        matches!(self, Kind::Payout | Kind::Paid | Kind::PayoutCancelled)
    }

    /// Whether entries of this kind make up what can be paid out: the conversion entries that
    /// change `available`. A payout holds exactly such entries.
    pub fn is_payable(self) -> bool {
        !self.is_payout() && self.effect(1).available != 0
    }

    pub fn sign(self) -> Sign {
        match self {
            Kind::Created | Kind::Approved | Kind::Payout | Kind::Paid | Kind::PayoutCancelled => Sign::Credit,
            Kind::Rejected | Kind::Refunded | Kind::ClawedBack | Kind::Replaced | Kind::ReplacedApproved => Sign::Debit,
        }
    }

    /// Whether `amount` has the sign this kind needs.
    pub fn allows(self, amount: i64) -> bool {
        match self.sign() {
            Sign::Credit => amount >= 0,
            Sign::Debit => amount <= 0,
        }
    }

    /// What an entry of this kind with `amount` does to the balances.
    pub fn effect(self, amount: i64) -> Balances {
        let zero = Balances::default();
        match self {
            Kind::Created | Kind::Rejected | Kind::Refunded | Kind::Replaced => Balances { pending: amount, ..zero },
            Kind::Approved => Balances { pending: -amount, available: amount, ..zero },
            Kind::ClawedBack | Kind::ReplacedApproved => Balances { available: amount, ..zero },
            Kind::Payout => Balances { available: -amount, in_payouts: amount, ..zero },
            Kind::Paid => Balances { in_payouts: -amount, paid: amount, ..zero },
            Kind::PayoutCancelled => Balances { in_payouts: -amount, available: amount, ..zero },
        }
    }

    /// The kinds whose amounts sum to the commission that can be paid (see [`Kind::is_payable`]).
    pub fn payable() -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(|k| k.is_payable())
    }
}

/// The balances of per-kind sums of amounts (what `GROUP BY kind` returns).
pub fn balances(sums: impl IntoIterator<Item = (Kind, i64)>) -> Balances {
    let mut total = Balances::default();
    for (kind, amount) in sums {
        total.add(kind.effect(amount));
    }
    total
}

/// The `prev_hash` of an affiliate's first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Tags the bytes of every entry, so they can never be mistaken for another structure's.
pub const ENTRY_TAG: &str = "affiliated-ledger-entry-v1";

/// One entry as a statement shows it: every field as text or a whole number, exactly the values
/// its hash covers. The store builds it from its row; verifiers read it from JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1, 2, 3, … per affiliate, without gaps.
    pub seq: i64,
    /// One of [`Kind::as_str`] or [`Record::as_str`].
    pub kind: String,
    /// The conversion the entry is about (conversion kinds).
    pub conversion_id: Option<i64>,
    /// The payout the entry is about (payout kinds).
    pub payout_id: Option<i64>,
    /// ISO 4217 code.
    pub currency: String,
    /// Signed decimal in the currency's minor digits, e.g. `"-9.90"`.
    pub amount: String,
    /// RFC 3339 UTC with milliseconds, e.g. `"2026-11-21T23:20:01.123Z"`.
    pub at: String,
    /// Lowercase hex SHA-256 of a secret salt and the order ID (conversion kinds), so the entry
    /// can be tied to an order only by whoever holds the salt.
    pub order_hash: Option<String>,
    /// Lowercase hex: the previous entry's hash, or 64 zeros for the first.
    pub prev_hash: String,
    /// Lowercase hex SHA-256 of the previous hash's 32 bytes followed by [`canonical_bytes`].
    pub hash: String,
    /// A `terms_accepted` entry's terms URL; its hash is the entry's `order_hash`, so the chain
    /// covers it without a field of its own in the hashed bytes. Absent from other entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_url: Option<String>,
}

/// Appends `field` preceded by its length in bytes as a 4-byte big-endian integer.
pub fn push_field(out: &mut Vec<u8>, field: &str) {
    let length = u32::try_from(field.len()).expect("a ledger field is far shorter than 4 GiB");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(field.as_bytes());
}

/// The bytes an entry's hash covers: [`ENTRY_TAG`], seq, kind, conversion_id, payout_id,
/// currency, amount, at, order_hash, each as text (a missing id or hash is the empty text) and
/// length-prefixed with [`push_field`].
pub fn canonical_bytes(e: &Entry) -> Vec<u8> {
    let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut out = Vec::with_capacity(160);
    for field in [
        ENTRY_TAG,
        &e.seq.to_string(),
        &e.kind,
        &id(e.conversion_id),
        &id(e.payout_id),
        &e.currency,
        &e.amount,
        &e.at,
        e.order_hash.as_deref().unwrap_or(""),
    ] {
        push_field(&mut out, field);
    }
    out
}

/// `SHA-256(prev || canonical_bytes(entry))`.
pub fn chain_hash(prev: &[u8; 32], entry: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical_bytes(entry));
    h.finalize().into()
}

/// The salted hash of an order ID that entries carry: `SHA-256(salt || order ID)`.
pub fn order_hash(salt: &[u8], order_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(order_id.as_bytes());
    h.finalize().into()
}

/// Where a chain of entries breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// The entry at this position has another seq than the one expected there: entries are
    /// missing or were inserted.
    Seq { expected: i64, found: i64 },
    /// The entry's `prev_hash` is not the hash of the entry before it.
    Link { seq: i64 },
    /// The entry's fields do not hash to its `hash`: something in it was changed.
    Contents { seq: i64 },
    /// The entry names a kind no version of affiliated writes.
    UnknownKind { seq: i64, kind: String },
    /// The entry's `terms_url` is not the URL whose hash the entry carries.
    TermsUrl { seq: i64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Seq { expected, found } => write!(
                f,
                "entry {expected} is missing: the entry in its place has seq {found} (entries were removed or inserted)"
            ),
            Break::Link { seq } => write!(
                f,
                "entry {seq} does not link to entry {}: its prev_hash is not that entry's hash (an entry before it was removed or replaced)",
                seq - 1
            ),
            Break::Contents { seq } => write!(
                f,
                "entry {seq} was changed: its fields (amount, kind, time, order or ids) do not hash to its hash"
            ),
            Break::UnknownKind { seq, kind } => write!(f, "entry {seq} has an unknown kind {kind:?}"),
            Break::TermsUrl { seq } => {
                write!(f, "entry {seq}'s terms_url was changed: it is not the URL whose hash the entry carries")
            }
        }
    }
}

/// Checks that `entries` are a whole chain from seq 1: consecutive seqs, each linked to the one
/// before, each hashing to its `hash`. Returns the head hash (the genesis value when empty).
pub fn verify_chain(entries: &[Entry]) -> Result<[u8; 32], Break> {
    verify_chain_from(1, GENESIS, entries)
}

/// Checks that `entries` continue a chain whose entry `from_seq - 1` has the hash `prev` (a
/// page of a statement): consecutive seqs from `from_seq`, each linked and hashing to its
/// `hash`. Returns the last hash (`prev` when empty).
pub fn verify_chain_from(from_seq: i64, prev: [u8; 32], entries: &[Entry]) -> Result<[u8; 32], Break> {
    let mut prev = prev;
    for (i, e) in entries.iter().enumerate() {
        let expected = from_seq + i as i64;
        if e.seq != expected {
            return Err(Break::Seq { expected, found: e.seq });
        }
        if !is_known_kind(&e.kind) {
            return Err(Break::UnknownKind { seq: e.seq, kind: e.kind.clone() });
        }
        if let Some(url) = &e.terms_url
            && e.order_hash.as_deref() != Some(hex(&terms_hash(url)).as_str())
        {
            return Err(Break::TermsUrl { seq: e.seq });
        }
        if parse_hash(&e.prev_hash) != Some(prev) {
            return Err(Break::Link { seq: e.seq });
        }
        let hash = chain_hash(&prev, e);
        if parse_hash(&e.hash) != Some(hash) {
            return Err(Break::Contents { seq: e.seq });
        }
        prev = hash;
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, kind: Kind, amount: &str) -> Entry {
        Entry {
            seq,
            kind: kind.as_str().into(),
            conversion_id: Some(7),
            payout_id: None,
            currency: "USD".into(),
            amount: amount.into(),
            at: "2026-11-21T23:20:01.123Z".into(),
            order_hash: Some("ab".repeat(32)),
            prev_hash: String::new(),
            hash: String::new(),
            terms_url: None,
        }
    }

    fn chain(specs: &[(Kind, &str)]) -> Vec<Entry> {
        let mut prev = GENESIS;
        specs
            .iter()
            .enumerate()
            .map(|(i, (kind, amount))| {
                let mut e = entry(i as i64 + 1, *kind, amount);
                e.prev_hash = hex(&prev);
                prev = chain_hash(&prev, &e);
                e.hash = hex(&prev);
                e
            })
            .collect()
    }

    #[test]
    fn names_round_trip_and_signs_match_the_effects() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            // A credit never lowers the affiliate's total, a debit never raises it.
            let e = k.effect(if k.allows(100) { 100 } else { -100 });
            let total = e.pending + e.available + e.in_payouts + e.paid;
            assert!(if k.is_payout() || k == Kind::Approved { total == 0 } else { total.abs() == 100 }, "{k:?}");
        }
        assert_eq!(Kind::payable().collect::<Vec<_>>(), [Kind::Approved, Kind::ClawedBack, Kind::ReplacedApproved]);
    }

    #[test]
    fn payout_kinds_keep_what_was_earned_and_conversion_kinds_never_touch_payouts() {
        for k in Kind::ALL {
            let e = k.effect(1234);
            if k.is_payout() {
                assert_eq!(e.available + e.in_payouts + e.paid, 0, "{k:?}");
                assert_eq!(e.pending, 0);
            } else {
                assert_eq!((e.in_payouts, e.paid), (0, 0), "{k:?}");
            }
        }
        // Approve 10.00, claw back 2.50 after a payout of 10.00 was paid: 7.50 earned, -2.50 available.
        let b = balances(
            [(Kind::Created, 1000), (Kind::Approved, 1000), (Kind::Payout, 1000), (Kind::Paid, 1000)]
                .into_iter()
                .chain([(Kind::ClawedBack, -250)]),
        );
        assert_eq!(b, Balances { pending: 0, available: -250, in_payouts: 0, paid: 1000 });
    }

    #[test]
    fn canonical_bytes_are_length_prefixed_text_in_a_fixed_order() {
        let mut e = entry(1, Kind::Created, "9.90");
        e.order_hash = None;
        e.conversion_id = Some(12);
        let bytes = canonical_bytes(&e);
        let mut expected = Vec::new();
        for f in [ENTRY_TAG, "1", "created", "12", "", "USD", "9.90", "2026-11-21T23:20:01.123Z", ""] {
            expected.extend_from_slice(&(f.len() as u32).to_be_bytes());
            expected.extend_from_slice(f.as_bytes());
        }
        assert_eq!(bytes, expected);
        // Moving a character from one field to the next changes the bytes.
        let mut shifted = e.clone();
        shifted.currency = "USD9".into();
        shifted.amount = ".90".into();
        assert_ne!(canonical_bytes(&shifted), bytes);
    }

    #[test]
    fn a_known_chain_has_known_hashes() {
        // Computed independently, with Python's hashlib and struct over the same fields.
        let c = chain(&[(Kind::Created, "9.90")]);
        assert_eq!(c[0].prev_hash, "0".repeat(64));
        assert_eq!(c[0].hash, "b192bc95b14f71cb7d0c35f6e27738aa874c7ffec140774b2ad39133d595fe66");
        assert_eq!(verify_chain(&c).map(|h| hex(&h)), Ok(c[0].hash.clone()));
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let good = chain(&[(Kind::Created, "9.90"), (Kind::Approved, "9.90"), (Kind::ClawedBack, "-2.00")]);
        assert!(verify_chain(&good).is_ok());
        assert_eq!(verify_chain(&[]), Ok(GENESIS));

        let mut changed = good.clone();
        changed[1].amount = "0.99".into();
        assert_eq!(verify_chain(&changed), Err(Break::Contents { seq: 2 }));

        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(verify_chain(&removed), Err(Break::Seq { expected: 2, found: 3 }));

        // Removing an entry and renumbering the rest still breaks the link.
        let mut renumbered = removed.clone();
        renumbered[1].seq = 2;
        assert_eq!(verify_chain(&renumbered), Err(Break::Link { seq: 2 }));

        let mut unknown = good.clone();
        unknown[0].kind = "bonus".into();
        assert!(matches!(verify_chain(&unknown), Err(Break::UnknownKind { seq: 1, .. })));
        assert!(Break::Contents { seq: 2 }.to_string().contains("entry 2 was changed"));
    }

    #[test]
    fn hashes_parse_only_as_64_lowercase_hex_digits() {
        let h = order_hash(b"salt", "order-1");
        assert_eq!(parse_hash(&hex(&h)), Some(h));
        assert_eq!(parse_hash(&hex(&h).to_uppercase()), None);
        assert_eq!(parse_hash("00"), None);
        assert_ne!(order_hash(b"salt", "order-1"), order_hash(b"other", "order-1"));
    }

    #[test]
    fn a_terms_record_moves_no_money_and_its_url_is_covered_by_the_chain() {
        assert_eq!(Record::parse("terms_accepted"), Some(Record::TermsAccepted));
        assert!(is_known_kind("terms_accepted") && is_known_kind("paid") && !is_known_kind("bonus"));
        assert_eq!(Kind::parse("terms_accepted"), None, "no rule about money applies to it");
        let url = "https://shop.example/affiliate-terms-2026";
        let mut prev = GENESIS;
        let mut terms = Entry {
            seq: 1,
            kind: Record::TermsAccepted.as_str().into(),
            conversion_id: None,
            payout_id: None,
            currency: NO_CURRENCY.into(),
            amount: "0".into(),
            at: "2026-12-01T09:00:00.000Z".into(),
            order_hash: Some(hex(&terms_hash(url))),
            prev_hash: hex(&prev),
            hash: String::new(),
            terms_url: Some(url.into()),
        };
        prev = chain_hash(&prev, &terms);
        terms.hash = hex(&prev);
        let mut created = entry(2, Kind::Created, "9.90");
        created.prev_hash = hex(&prev);
        created.hash = hex(&chain_hash(&prev, &created));
        let chain = vec![terms, created];
        assert_eq!(verify_chain(&chain).map(|h| hex(&h)), Ok(chain[1].hash.clone()));
        // Computed independently: sha256(b"https://shop.example/affiliate-terms-2026").
        assert_eq!(
            chain[0].order_hash.as_deref(),
            Some("4edc6101e85c6186b8bc903b23054f0fd01d98f22f00ce64e45a50f8f7e84989")
        );
        let mut swapped = chain.clone();
        swapped[0].terms_url = Some("https://shop.example/other-terms".into());
        assert_eq!(verify_chain(&swapped), Err(Break::TermsUrl { seq: 1 }));
        let mut rehashed = swapped.clone();
        rehashed[0].order_hash = Some(hex(&terms_hash("https://shop.example/other-terms")));
        assert_eq!(verify_chain(&rehashed), Err(Break::Contents { seq: 1 }), "the hash covers the URL's hash");
        let json = serde_json::to_value(&chain[1]).unwrap();
        assert!(json.get("terms_url").is_none(), "other entries look as they always did");
        assert_eq!(serde_json::to_value(&chain[0]).unwrap()["terms_url"], url);
    }
}
