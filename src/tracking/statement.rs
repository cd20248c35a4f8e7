//! Statements: an affiliate's whole ledger chain with its head signed by the server's Ed25519
//! key, and the checks anyone can run on one (alone, or against an older statement). Pure:
//! signing is deterministic in Ed25519, and the key comes from the caller.
//!
//! The signature covers [`signed_bytes`]: the referral code, the head (seq and hash) and the
//! issue time. The head's hash commits to every entry through the chain, so a statement whose
//! signature verifies and whose chain verifies shows exactly the entries the server had signed.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::ledger::{self, Break, Entry};
use crate::secret::base64;

/// Tags the signed bytes, so a signature over them can never be read as one over anything else.
pub const STATEMENT_TAG: &str = "affiliated-statement-v1";

/// The last entry of a chain: `seq` 0 and 64 zeros for an empty one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn of(entries: &[Entry]) -> Head {
        match entries.last() {
            Some(e) => Head { seq: e.seq, hash: e.hash.clone() },
            None => Head { seq: 0, hash: ledger::hex(&ledger::GENESIS) },
        }
    }

    /// `<seq>:<hash>`, as outbound postbacks carry it.
    pub fn header_value(&self) -> String {
        format!("{}:{}", self.seq, self.hash)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub referral_code: String,
    pub entries: Vec<Entry>,
    pub head: Head,
    /// The server's Ed25519 public key, standard base64 of its 32 bytes.
    pub public_key: String,
    /// Standard base64 of the 64-byte Ed25519 signature of [`signed_bytes`].
    pub signature: String,
    /// RFC 3339 UTC, as the server wrote it.
    pub issued_at: String,
}

/// The bytes a statement's signature covers: [`STATEMENT_TAG`], the referral code, the head's
/// seq (decimal), the head's hash (lowercase hex) and `issued_at`, each length-prefixed like an
/// entry's fields ([`ledger::push_field`]).
pub fn signed_bytes(referral_code: &str, head: &Head, issued_at: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    for field in [STATEMENT_TAG, referral_code, &head.seq.to_string(), &head.hash, issued_at] {
        ledger::push_field(&mut out, field);
    }
    out
}

/// The public key of a signing key's 32-byte seed, in base64.
pub fn public_key(seed: &[u8; 32]) -> String {
    base64(SigningKey::from_bytes(seed).verifying_key().as_bytes())
}

/// Signs a chain for `referral_code` at `issued_at` with the key made from `seed`.
pub fn sign(seed: &[u8; 32], referral_code: &str, entries: Vec<Entry>, issued_at: String) -> Statement {
    let key = SigningKey::from_bytes(seed);
    let head = Head::of(&entries);
    let signature = key.sign(&signed_bytes(referral_code, &head, &issued_at));
    Statement {
        referral_code: referral_code.to_string(),
        entries,
        head,
        public_key: base64(key.verifying_key().as_bytes()),
        signature: base64(&signature.to_bytes()),
        issued_at,
    }
}

/// Why a statement is not to be believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The public key or signature is not well-formed base64 of the right length.
    Malformed(&'static str),
    /// The signature does not verify with the statement's public key: the head, code or time
    /// was changed after signing, or it was signed by someone else.
    Signature,
    /// The statement is signed with another key than the one expected.
    WrongKey { expected: String, found: String },
    /// The entries do not form a chain.
    Chain(Break),
    /// The head does not name the last entry.
    Head,
    /// The new statement lacks entries the previous one had.
    Shorter { previous: i64, new: i64 },
    /// The new statement's entry differs from the previous statement's: the chain was rewritten
    /// from that entry on (a fork).
    Forked { seq: i64, what: &'static str },
    /// The statements are about different affiliates.
    OtherAffiliate,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Malformed(what) => write!(f, "the statement's {what} is not valid base64 of the right length"),
            Problem::Signature => write!(
                f,
                "the signature does not verify with the statement's public key: its head, referral code or issue time was changed"
            ),
            Problem::WrongKey { expected, found } => {
                write!(f, "signed with another key: expected {expected}, found {found}")
            }
            Problem::Chain(b) => b.fmt(f),
            Problem::Head => write!(f, "the signed head does not name the last entry of the chain"),
            Problem::Shorter { previous, new } => write!(
                f,
                "entries were removed: the previous statement has {previous} entries, this one only {new} (entry {} is gone)",
                new + 1
            ),
            Problem::Forked { seq, what } => write!(
                f,
                "the chain forked at entry {seq}: its {what} differs from the previous statement's (history was rewritten)"
            ),
            Problem::OtherAffiliate => write!(f, "the two statements are about different referral codes"),
        }
    }
}

fn decode<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], Problem> {
    crate::secret::from_base64(text).ok_or(Problem::Malformed(what))
}

/// Checks one statement on its own: the signature verifies with its public key, the entries
/// form a chain from entry 1, and the head is the chain's last entry. It does not say whose key
/// that is: compare it with a key you trust (`expect_key`, or the previous statement's).
pub fn verify(s: &Statement, expect_key: Option<&str>) -> Result<(), Problem> {
    if let Some(expected) = expect_key
        && expected != s.public_key
    {
        return Err(Problem::WrongKey { expected: expected.to_string(), found: s.public_key.clone() });
    }
    let key = VerifyingKey::from_bytes(&decode::<32>(&s.public_key, "public_key")?)
        .map_err(|_| Problem::Malformed("public_key"))?;
    let signature = Signature::from_bytes(&decode::<64>(&s.signature, "signature")?);
    key.verify(&signed_bytes(&s.referral_code, &s.head, &s.issued_at), &signature).map_err(|_| Problem::Signature)?;
    let head = ledger::verify_chain(&s.entries).map_err(Problem::Chain)?;
    if s.head.seq != s.entries.len() as i64 || ledger::parse_hash(&s.head.hash) != Some(head) {
        return Err(Problem::Head);
    }
    Ok(())
}

/// Checks `new` against a `previous` statement kept earlier: both verify, with the same key and
/// referral code, and every entry of the previous one is in the new one unchanged.
pub fn verify_against(new: &Statement, previous: &Statement) -> Result<(), Problem> {
    verify(previous, None)?;
    verify(new, Some(&previous.public_key))?;
    if new.referral_code != previous.referral_code {
        return Err(Problem::OtherAffiliate);
    }
    if new.entries.len() < previous.entries.len() {
        // Name the first entry that differs, if any, rather than only the count.
        if let Some(problem) = first_difference(&previous.entries, &new.entries) {
            return Err(problem);
        }
        return Err(Problem::Shorter { previous: previous.entries.len() as i64, new: new.entries.len() as i64 });
    }
    match first_difference(&previous.entries, &new.entries) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

fn first_difference(old: &[Entry], new: &[Entry]) -> Option<Problem> {
    old.iter().zip(new).find(|(o, n)| o != n).map(|(o, n)| {
        let what = if o.amount != n.amount {
            "amount"
        } else if o.kind != n.kind {
            "kind"
        } else if o.conversion_id != n.conversion_id || o.payout_id != n.payout_id || o.order_hash != n.order_hash {
            "subject (conversion, payout or order)"
        } else if o.at != n.at {
            "time"
        } else {
            "hash"
        };
        Problem::Forked { seq: o.seq, what }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::ledger::{GENESIS, Kind, chain_hash, hex};

    const SEED: [u8; 32] = [7; 32];

    fn chain(amounts: &[&str]) -> Vec<Entry> {
        let mut prev = GENESIS;
        amounts
            .iter()
            .enumerate()
            .map(|(i, amount)| {
                let mut e = Entry {
                    seq: i as i64 + 1,
                    kind: Kind::Created.as_str().into(),
                    conversion_id: Some(i as i64 + 1),
                    payout_id: None,
                    currency: "USD".into(),
                    amount: amount.to_string(),
                    at: "2026-11-21T23:20:01.123Z".into(),
                    order_hash: None,
                    prev_hash: hex(&prev),
                    hash: String::new(),
                    terms_url: None,
                };
                prev = chain_hash(&prev, &e);
                e.hash = hex(&prev);
                e
            })
            .collect()
    }

    fn statement(amounts: &[&str]) -> Statement {
        sign(&SEED, "ann", chain(amounts), "2026-11-22T00:00:00.000Z".into())
    }

    #[test]
    fn a_signed_statement_verifies_and_grows_as_a_prefix() {
        let old = statement(&["1.00", "2.00"]);
        assert_eq!(verify(&old, None), Ok(()));
        assert_eq!(verify(&old, Some(&public_key(&SEED))), Ok(()));
        let new = statement(&["1.00", "2.00", "3.00"]);
        assert_eq!(verify_against(&new, &old), Ok(()));
        let empty = statement(&[]);
        assert_eq!((empty.head.seq, verify(&empty, None)), (0, Ok(())));
        assert_eq!(verify_against(&new, &empty), Ok(()));
    }

    #[test]
    fn changed_signed_fields_and_other_keys_are_caught() {
        let mut s = statement(&["1.00"]);
        s.issued_at = "2030-01-01T00:00:00.000Z".into();
        assert_eq!(verify(&s, None), Err(Problem::Signature));
        let mut s = statement(&["1.00"]);
        s.referral_code = "bob".into();
        assert_eq!(verify(&s, None), Err(Problem::Signature));
        let other = sign(&[9; 32], "ann", chain(&["1.00"]), "2026-11-22T00:00:00.000Z".into());
        assert!(matches!(verify(&other, Some(&public_key(&SEED))), Err(Problem::WrongKey { .. })));
        assert!(matches!(verify_against(&other, &statement(&["1.00"])), Err(Problem::WrongKey { .. })));
        let mut garbled = statement(&["1.00"]);
        garbled.signature = "not base64!".into();
        assert_eq!(verify(&garbled, None), Err(Problem::Malformed("signature")));
    }

    #[test]
    fn a_rewritten_or_shortened_history_is_named() {
        let old = statement(&["1.00", "2.00", "3.00"]);
        // The merchant rebuilds the chain with entry 2 cut and signs it anew: valid alone.
        let cut = statement(&["1.00", "0.50", "3.00"]);
        assert_eq!(verify(&cut, None), Ok(()));
        assert_eq!(verify_against(&cut, &old), Err(Problem::Forked { seq: 2, what: "amount" }));
        let shorter = statement(&["1.00", "2.00"]);
        assert_eq!(verify_against(&shorter, &old), Err(Problem::Shorter { previous: 3, new: 2 }));
        assert!(Problem::Shorter { previous: 3, new: 2 }.to_string().contains("entry 3 is gone"));
        // An entry removed from the middle, the rest renumbered and rehashed.
        let removed = statement(&["1.00", "3.00"]);
        assert_eq!(verify_against(&removed, &old), Err(Problem::Forked { seq: 2, what: "amount" }));
        // A head that does not match the entries (entries dropped after signing).
        let mut truncated = old.clone();
        truncated.entries.pop();
        assert_eq!(verify(&truncated, None), Err(Problem::Head));
    }
}
