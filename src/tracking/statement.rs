//! Statements: an affiliate's whole ledger chain with its head signed by the server's Ed25519
//! key, and the checks anyone can run on one (alone, or against an older statement). Pure:
//! signing is deterministic in Ed25519, and the key comes from the caller.
//!
//! The signature covers [`signed_bytes`]: the referral code, the head (seq and hash) and the
//! issue time. The head's hash commits to every entry through the chain, so a statement whose
//! signature verifies and whose chain verifies shows exactly the entries the server had signed.
//!
//! A **page** is a statement that carries only some entries: from `from_seq` on, chained from
//! `prev_hash` (the hash of the entry before), with the signed head of the whole chain and, when
//! it does not end there, where the `next` page is. A page verifies on its own as a continuation
//! of the chain; [`assemble`] joins the pages of a walk into the whole statement (every page's
//! signed head must be on the joined chain), which then verifies like one downloaded whole. A
//! statement from before pages is a page from entry 1 that ends at its head.

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
    /// A page: the seq of its first entry (absent: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<i64>,
    /// A page: the hash of the entry before its first (absent: 64 zeros, the genesis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// A page that does not end at the head: where the next one is (not signed; the next page
    /// proves itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl Statement {
    fn first_seq(&self) -> i64 {
        self.from_seq.unwrap_or(1)
    }

    /// The seq of its last entry (the one before `from_seq` for an empty page).
    fn last_seq(&self) -> i64 {
        self.first_seq() + self.entries.len() as i64 - 1
    }
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
    let head = Head::of(&entries);
    let mut s = sign_page(seed, referral_code, entries, head, issued_at);
    (s.from_seq, s.prev_hash) = (None, None);
    s
}

/// Signs a page of a chain whose head is `head`: `entries` are the chain's from their first
/// seq on (the page's `prev_hash` is the first one's; the genesis for an empty chain).
pub fn sign_page(
    seed: &[u8; 32],
    referral_code: &str,
    entries: Vec<Entry>,
    head: Head,
    issued_at: String,
) -> Statement {
    let key = SigningKey::from_bytes(seed);
    let signature = key.sign(&signed_bytes(referral_code, &head, &issued_at));
    let (from_seq, prev_hash) = match entries.first() {
        Some(e) => (e.seq, e.prev_hash.clone()),
        None => (head.seq + 1, head.hash.clone()),
    };
    Statement {
        referral_code: referral_code.to_string(),
        entries,
        head,
        public_key: base64(key.verifying_key().as_bytes()),
        signature: base64(&signature.to_bytes()),
        issued_at,
        from_seq: Some(from_seq),
        prev_hash: Some(prev_hash),
        next: None,
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
    /// Pages of a walk do not follow one another: the entries from `expected` on are missing.
    Gap { expected: i64 },
    /// A page's signed head is not on the chain its pages make (a page from another history).
    PageHead { seq: i64 },
    /// The pages stop before their head: the rest of the walk is missing.
    Incomplete { last: i64, head: i64 },
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
            Problem::Gap { expected } => {
                write!(f, "the pages do not follow one another: entries from {expected} on are missing")
            }
            Problem::PageHead { seq } => write!(
                f,
                "a page's signed head (entry {seq}) is not on the chain the pages make: a page comes from another history"
            ),
            Problem::Incomplete { last, head } => write!(
                f,
                "the pages end at entry {last} but the head is entry {head}: fetch the rest (the last page's `next`)"
            ),
        }
    }
}

fn decode<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], Problem> {
    crate::secret::from_base64(text).ok_or(Problem::Malformed(what))
}

/// Checks one statement (or page) on its own: the signature verifies with its public key, the
/// entries form a chain from its first (entry 1 for a whole statement), and the head is the
/// chain's last entry, or for a page with a `next`, lies beyond it. It does not say whose key
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
    let prev = match &s.prev_hash {
        Some(text) => ledger::parse_hash(text).ok_or(Problem::Chain(Break::Link { seq: s.first_seq() }))?,
        None => ledger::GENESIS,
    };
    if s.first_seq() < 1 || (s.first_seq() == 1 && prev != ledger::GENESIS) {
        return Err(Problem::Chain(Break::Link { seq: 1 }));
    }
    let last = ledger::verify_chain_from(s.first_seq(), prev, &s.entries).map_err(Problem::Chain)?;
    let ends_at_head = s.head.seq == s.last_seq() && ledger::parse_hash(&s.head.hash) == Some(last);
    if !ends_at_head && (s.next.is_none() || s.head.seq <= s.last_seq()) {
        return Err(Problem::Head);
    }
    Ok(())
}

/// Joins the pages of a walk (in any order, each verified with `expect_key` or the first page's
/// key) into the whole statement they make, signed by the last page's head. Each page must
/// continue the one before, every page's signed head must be on the joined chain, and the last
/// page must end at its head. One whole statement is returned as it is (after checking).
pub fn assemble(mut pages: Vec<Statement>, expect_key: Option<&str>) -> Result<Statement, Problem> {
    pages.sort_by_key(Statement::first_seq);
    let Some(first) = pages.first() else { return Err(Problem::Gap { expected: 1 }) };
    let key = expect_key.unwrap_or(&first.public_key).to_string();
    let mut entries: Vec<Entry> = Vec::new();
    for page in &pages {
        verify(page, Some(&key))?;
        if page.referral_code != first.referral_code {
            return Err(Problem::OtherAffiliate);
        }
        let expected = entries.len() as i64 + 1;
        if page.first_seq() != expected && !(page.entries.is_empty() && page.first_seq() <= expected) {
            return Err(Problem::Gap { expected });
        }
        entries.extend(page.entries.iter().cloned());
    }
    let heads: Vec<Head> = pages.iter().map(|p| p.head.clone()).collect();
    let last = pages.pop().expect("one page at least");
    let whole = Statement { entries, from_seq: None, prev_hash: None, next: None, ..last };
    if whole.head.seq != whole.entries.len() as i64 {
        return Err(Problem::Incomplete { last: whole.entries.len() as i64, head: whole.head.seq });
    }
    ledger::verify_chain(&whole.entries).map_err(Problem::Chain)?;
    for head in heads {
        let on_chain = match head.seq {
            0 => head.hash == ledger::hex(&ledger::GENESIS),
            n => whole.entries.get(n as usize - 1).is_some_and(|e| e.hash == head.hash),
        };
        if !on_chain {
            return Err(Problem::PageHead { seq: head.seq });
        }
    }
    verify(&whole, Some(&key))?;
    Ok(whole)
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

    /// The pages of a chain, `size` entries each, signed with the head of the whole chain.
    fn pages(amounts: &[&str], size: usize) -> Vec<Statement> {
        let all = chain(amounts);
        let head = Head::of(&all);
        let mut out: Vec<Statement> = all
            .chunks(size)
            .map(|c| sign_page(&SEED, "ann", c.to_vec(), head.clone(), "2026-11-22T00:00:00.000Z".into()))
            .collect();
        let n = out.len();
        for p in &mut out[..n - 1] {
            p.next = Some("more".into());
        }
        out
    }

    #[test]
    fn pages_verify_alone_and_join_into_the_whole_statement() {
        let walk = pages(&["1.00", "2.00", "3.00", "4.00", "5.00"], 2);
        assert_eq!(walk.len(), 3);
        for p in &walk {
            assert_eq!(verify(p, Some(&public_key(&SEED))), Ok(()), "{p:?}");
        }
        let whole = assemble(walk.clone(), Some(&public_key(&SEED))).unwrap();
        assert_eq!((whole.entries.len(), whole.head.seq, whole.from_seq), (5, 5, None));
        assert_eq!(verify_against(&whole, &statement(&["1.00", "2.00"])), Ok(()));
        let mut reversed = walk.clone();
        reversed.reverse();
        assert_eq!(assemble(reversed, None).unwrap(), whole, "in any order");
        // A statement from before pages is one page.
        let old = statement(&["1.00", "2.00"]);
        assert_eq!(assemble(vec![old.clone()], None).unwrap(), old);
        // A page missing from the walk, or the last one.
        let mut gap = walk.clone();
        gap.remove(1);
        assert_eq!(assemble(gap, None), Err(Problem::Gap { expected: 3 }));
        let mut short = walk.clone();
        short.pop();
        assert_eq!(assemble(short, None), Err(Problem::Incomplete { last: 4, head: 5 }));
        // A page without `next` that stops before its head does not verify alone.
        let mut cut = walk[0].clone();
        cut.next = None;
        assert_eq!(verify(&cut, None), Err(Problem::Head));
        // A page of another history (signed by the same key) does not join.
        let other = pages(&["1.00", "2.00", "9.00", "4.00", "5.00"], 2);
        let mixed = vec![walk[0].clone(), other[1].clone(), other[2].clone()];
        assert!(matches!(assemble(mixed, None), Err(Problem::Chain(_)) | Err(Problem::PageHead { .. })));
        let mixed = vec![walk[0].clone(), walk[1].clone(), other[2].clone()];
        assert!(matches!(assemble(mixed, None), Err(Problem::Chain(Break::Link { seq: 5 }))));
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
