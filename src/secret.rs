//! Secrets: generating tokens, hashing them for storage, comparing them in constant time, and
//! the private files that keep the server's own keys. Nothing here logs; callers must never log
//! a token either.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random token: `prefix` followed by 256 bits from the thread's CSPRNG in URL-safe
/// base64 (43 characters).
pub fn token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_key()))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA256 of `data` under `key` (any length).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex, two digits a byte. Ledger entries encode three hashes each inside the writer's
/// transaction, so this builds the string directly (formatting each byte into its own string was
/// ~6% of the writer's time under conversions).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Exactly `N` bytes from standard base64 with padding, if `text` is that.
pub fn from_base64<const N: usize>(text: &str) -> Option<[u8; N]> {
    STANDARD.decode(text).ok()?.try_into().ok()
}

/// 256 random bits from the thread's CSPRNG, e.g. the key of a webhook's signatures.
pub fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes
}

/// URL-safe base64 without padding (RFC 4648 §5), for values that go into cookies and URLs.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Exactly `N` bytes from [`base64url`], if `text` is that.
pub fn from_base64url<const N: usize>(text: &str) -> Option<[u8; N]> {
    URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()
}

/// A 256-bit key of the server's own, kept in a private file beside the database. Its `Debug`
/// shows nothing of it, so a configuration printed whole never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub [u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

/// A secret given to the process (an API key, a token, a signing secret). Its `Debug` shows
/// nothing of it, so a configuration printed whole (`{:?}`) never leaks one; [`Redacted::expose`]
/// is the one way to its text, which keeps every use of it visible in the code.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(text: String) -> Redacted {
        Redacted(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redacted(…)")
    }
}

/// The key in the file at `path` (a `header` line, then `key <standard base64>`): `Ok(None)` if
/// there is no such file, `Err` if it cannot be read or holds no valid key.
pub fn read_key_file(path: &std::path::Path, header: &str) -> Result<Option<Key>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("while reading {}: {e}", path.display())),
    };
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(format!("{} does not start with `{header}`", path.display()));
    }
    lines
        .find_map(|l| l.strip_prefix("key ").and_then(from_base64::<32>))
        .map(|k| Some(Key(k)))
        .ok_or_else(|| format!("{} holds no valid key", path.display()))
}

/// Makes a new random key and writes it to `path` (mode 0600) in [`read_key_file`]'s format.
pub fn make_key_file(path: &std::path::Path, header: &str) -> Result<Key, String> {
    let key = Key(random_key());
    write_private_file(path, &format!("{header}\nkey {}\n", base64(&key.0)))
        .map_err(|e| format!("while writing {}: {e}", path.display()))?;
    Ok(key)
}

/// Compares two byte strings without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The 32 bytes written as 64 hex digits by [`hex`], if `text` is exactly that: lowercase
/// digits only, so that one value has one spelling (a statement's hashes are compared as text).
pub fn from_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Opens `path` as a file only its owner may read and write, whatever the umask: created with
/// mode 0600, and an existing file's mode is narrowed to 0600.
pub fn open_private(path: &std::path::Path, options: &mut std::fs::OpenOptions) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = options.mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Creates (or replaces) a file readable and writable by its owner only, and syncs it.
pub fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = open_private(path, std::fs::OpenOptions::new().write(true).create(true).truncate(true))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_url_safe_and_distinct() {
        let a = token("afk_");
        let b = token("afk_");
        assert_eq!(a.len(), 4 + 43);
        assert!(a.starts_with("afk_"));
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn base64_is_the_standard_alphabet_with_padding() {
        // RFC 4648 §10 test vectors.
        for (plain, encoded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(from_base64::<2>("+/8="), Some([0xfb, 0xff]));
        assert_eq!(from_base64::<3>("+/8="), None, "another length");
        assert_eq!(from_base64::<2>("+/8"), None, "padding is required");
        assert_ne!(random_key(), random_key());
    }

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        let every: Vec<u8> = (0..=255).collect();
        let expected: String = every.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&every), expected);
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn hashes_and_compares() {
        assert_eq!(hex(&sha256(b"abc"))[..16], *"ba7816bf8f01cfea");
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"same", b"same!"));
        let digest = sha256(b"abc");
        assert_eq!(from_hex32(&hex(&digest)), Some(digest));
        assert_eq!(from_hex32("00"), None);
        assert_eq!(from_hex32(&"zz".repeat(32)), None);
        assert_eq!(from_hex32(&hex(&digest).to_uppercase()), None);
        assert_eq!(from_hex32(&"+f".repeat(32)), None, "from_str_radix would take the sign");
    }

    #[test]
    fn key_files_are_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db.device-key");
        assert_eq!(read_key_file(&path, "k v1"), Ok(None));
        let key = make_key_file(&path, "k v1").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_key_file(&path, "k v1"), Ok(Some(key.clone())));
        assert!(read_key_file(&path, "other v1").is_err());
        std::fs::write(&path, "k v1\nkey short\n").unwrap();
        assert!(read_key_file(&path, "k v1").is_err());
        assert_eq!(format!("{key:?}"), "Key(…)");
        assert_eq!(from_base64url::<3>(&base64url(b"\xfb\xff\xfe")), Some(*b"\xfb\xff\xfe"));
        assert_eq!(base64url(b"\xfb\xff\xfe"), "-__-");
    }

    #[test]
    fn private_files_are_0600_whatever_they_were() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&path, "new").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }
}
