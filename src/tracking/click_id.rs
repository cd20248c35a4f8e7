//! Click IDs: unguessable, URL-safe, and ordered by creation time.
//!
//! Layout (30 characters): 7 characters (42 bits) of milliseconds since the Unix epoch, enough
//! until the year 2109, then 23 characters (138 bits) taken from the caller's cryptographically
//! secure random bytes. The alphabet is the
//! 64 URL-safe characters in ASCII order, so comparing two IDs as strings compares their times:
//! new clicks append to the primary-key b-tree instead of landing on random pages.
//! This module never draws randomness itself; callers pass it in (see `store::clicks`).

/// `-0-9A-Z_a-z`: every character is URL-safe and the order is ASCII order.
const ALPHABET: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

pub const TIME_CHARS: usize = 7;
pub const RANDOM_CHARS: usize = 23;
pub const LEN: usize = TIME_CHARS + RANDOM_CHARS;
/// Random bytes a caller must supply (only the first 138 bits are used).
pub const RANDOM_BYTES: usize = 18;

/// Builds a click ID from a time in milliseconds and 18 random bytes.
pub fn encode(millis: u64, random: &[u8; RANDOM_BYTES]) -> String {
    let mut out = String::with_capacity(LEN);
    for i in (0..TIME_CHARS).rev() {
        let six = (millis >> (6 * i)) & 63;
        out.push(ALPHABET[six as usize] as char);
    }
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut bytes = random.iter();
    while out.len() < LEN {
        if bits < 6 {
            acc = (acc << 8) | u32::from(*bytes.next().expect("18 bytes hold 138 bits"));
            bits += 8;
        }
        bits -= 6;
        out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
    }
    out
}

/// Whether `text` has the shape of a click ID. Anything else cannot exist, so it is refused
/// without a database lookup.
pub fn is_well_formed(text: &str) -> bool {
    text.len() == LEN && text.bytes().all(|b| ALPHABET.contains(&b))
}

/// The creation time encoded in a well-formed click ID.
pub fn millis_of(id: &str) -> Option<u64> {
    if !is_well_formed(id) {
        return None;
    }
    let mut value = 0u64;
    for b in id.bytes().take(TIME_CHARS) {
        let digit = ALPHABET.iter().position(|&a| a == b)? as u64;
        value = (value << 6) | digit;
    }
    Some(value)
}

/// The smallest ID created at or after `millis`: every click older than that sorts below it.
pub fn lower_bound(millis: u64) -> String {
    encode(millis, &[0; RANDOM_BYTES])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_long_enough() {
        let id = encode(1_790_000_000_000, &[0xff; RANDOM_BYTES]);
        assert_eq!(id.len(), 30);
        // Current IDs start with a letter, not '-', which command lines would take for a flag.
        assert!(id.as_bytes()[0].is_ascii_alphabetic(), "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(is_well_formed(&id));
    }

    #[test]
    fn string_order_is_time_order() {
        let times = [0u64, 1, 63, 64, 1_000, 1_790_000_000_000, 1_790_000_000_001, (1 << 42) - 1];
        let ids: Vec<String> = times.iter().map(|&t| encode(t, &[0xaa; RANDOM_BYTES])).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        for (&t, id) in times.iter().zip(&ids) {
            assert_eq!(millis_of(id), Some(t));
        }
    }

    #[test]
    fn the_random_part_carries_138_bits() {
        let a = encode(5, &[0; RANDOM_BYTES]);
        let mut one_bit = [0u8; RANDOM_BYTES];
        one_bit[17] = 0x40; // bit 138 from the start: the last one used
        let b = encode(5, &one_bit);
        assert_ne!(a, b);
        let mut unused = [0u8; RANDOM_BYTES];
        unused[17] = 0x3f; // the last six bits are not used
        assert_eq!(encode(5, &unused), a);
        // Different bytes anywhere in the first 17 change the ID.
        for i in 0..17 {
            let mut r = [0u8; RANDOM_BYTES];
            r[i] = 1;
            assert_ne!(encode(5, &r), a, "byte {i}");
        }
    }

    #[test]
    fn lower_bound_sorts_below_every_id_of_that_time() {
        let bound = lower_bound(1_000);
        assert!(bound <= encode(1_000, &[0; RANDOM_BYTES]));
        assert!(bound < encode(1_000, &[7; RANDOM_BYTES]));
        assert!(bound > encode(999, &[0xff; RANDOM_BYTES]));
    }

    #[test]
    fn malformed_ids_are_recognised() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"a".repeat(31)));
        assert!(!is_well_formed(&format!("{}=", "a".repeat(29))));
        assert!(!is_well_formed(&format!("{}\n", "a".repeat(29))));
        assert!(is_well_formed(&"a".repeat(30)));
    }
}
