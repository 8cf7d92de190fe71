//! Encryption at rest of the private keys in the store: AES-256-GCM (aws-lc-rs) under a 256-bit
//! store key read from a key file, and the check value that lets a store refuse a wrong key.
//!
//! This module owns the key file, the sealed format and the choice of key when a store opens; it
//! never touches the database (the backends call it) and never logs, prints or `Debug`s key
//! material (key bytes live in zeroized buffers; a [`StoreKey`] shows only its id).
//!
//! - **Key file**: one line, the standard base64 of 32 random bytes (44 characters), optionally
//!   followed by a newline; mode 0600. A key file that group or others may access is refused.
//!   `s2sd store generate-key --out FILE` writes one.
//! - **Key id**: the first 8 bytes of SHA-256 over a fixed label and the key, as 16 hex digits.
//!   It names a key in messages without revealing it.
//! - **Sealed private key**: `0x01 ‖ key id (8 bytes) ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag
//!   (16 bytes)`, with the certificate's upper-case thumbprint in the additional data, so a sealed
//!   key moved to another certificate's row does not open.
//! - **Check value**: a known text sealed the same way with the key id in the additional data,
//!   stored once per store (`store_key`): a store opened with another key fails at once, naming
//!   both key ids, instead of failing later on the first signature.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::StoreError;

/// The environment variable naming the store key file.
pub const KEY_FILE_ENV: &str = "S2S_STORE_KEY_FILE";

/// Key length in bytes (AES-256).
const KEY_LEN: usize = 32;
/// Key id length in bytes.
const KEY_ID_LEN: usize = 8;
/// The first byte of every sealed value.
const FORMAT: u8 = 1;
/// Format byte, key id, nonce.
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// What the check value seals.
const CHECK_PLAINTEXT: &[u8] = b"s2s store key check v1";
/// A key file is one short line; anything longer is not a key file.
const MAX_KEY_FILE_LEN: u64 = 256;

/// The key that seals the private keys of one store. Its `Debug` shows the key id only.
pub struct StoreKey {
    key: LessSafeKey,
    id: [u8; KEY_ID_LEN],
}

/// How a store finds its key when it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeySpec {
    /// A key file named by `--store-key-file` / `S2S_STORE_KEY_FILE`: it must exist.
    File(PathBuf),
    /// The key file beside an SQLite database (`<db>.key`): created with a new key when the store
    /// holds no encrypted keys yet.
    BesideDatabase(PathBuf),
    /// A key that lives as long as the store (`sqlite::memory:`).
    Ephemeral,
    /// No key named (PostgreSQL): refused.
    Missing,
}

/// What a store holds about its key: the key id and the check value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyCheck {
    pub(super) key_id: String,
    pub(super) check_value: Vec<u8>,
}

impl StoreKey {
    /// A new random key (not written anywhere).
    pub fn generate() -> Result<Self, StoreError> {
        let bytes = random_key()?;
        Self::from_bytes(&bytes)
    }

    /// Reads a key file: one line of base64 for 32 bytes, not accessible to group or others.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let failed = |detail: String| StoreError::KeyFile { path: path.to_owned(), detail };
        let file = std::fs::File::open(path).map_err(|e| failed(io_detail(&e)))?;
        let metadata = file.metadata().map_err(|e| failed(io_detail(&e)))?;
        if !metadata.is_file() {
            return Err(failed(String::from("not a regular file")));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(failed(format!(
                    "group or others may access it (mode {mode:03o}); make it private with `chmod 600 {}`",
                    path.display()
                )));
            }
        }
        let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE_LEN as usize + 1));
        file.take(MAX_KEY_FILE_LEN + 1).read_to_string(&mut text).map_err(|e| failed(io_detail(&e)))?;
        let bad_format = || failed(String::from("not a store key: expected one line of base64 for 32 bytes"));
        if text.len() as u64 > MAX_KEY_FILE_LEN {
            return Err(bad_format());
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN + 3]);
        let len = STANDARD.decode_slice(text.trim().as_bytes(), &mut bytes[..]).map_err(|_| bad_format())?;
        if len != KEY_LEN {
            return Err(bad_format());
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes[..KEY_LEN]);
        Self::from_bytes(&key)
    }

    /// Writes a new random key to `path`, which must not exist (mode 0600 on unix), and returns it.
    /// The parent directory must exist.
    pub fn create_file(path: &Path) -> Result<Self, StoreError> {
        let key = random_key()?;
        let mut line = Zeroizing::new(String::with_capacity(64));
        STANDARD.encode_string(&key[..], &mut line);
        line.push('\n');
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let failed = |e: std::io::Error| StoreError::KeyFile { path: path.to_owned(), detail: io_detail(&e) };
        let mut file = options.open(path).map_err(failed)?;
        if let Err(e) = file.write_all(line.as_bytes()).and_then(|()| file.sync_all()) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(failed(e));
        }
        Self::from_bytes(&key)
    }

    /// Puts the key file `source` (checked to hold a key) in the place of `target`, atomically:
    /// a private temporary file beside `target`, synced, then renamed over it.
    pub fn replace_file(source: &Path, target: &Path) -> Result<Self, StoreError> {
        let key = Self::from_file(source)?;
        let text = Zeroizing::new(
            std::fs::read(source)
                .map_err(|e| StoreError::KeyFile { path: source.to_owned(), detail: io_detail(&e) })?,
        );
        let failed = |e: std::io::Error| StoreError::KeyFile { path: target.to_owned(), detail: io_detail(&e) };
        let mut name = target.file_name().map(|name| name.to_os_string()).unwrap_or_default();
        name.push(".new");
        let temporary = target.with_file_name(name);
        let _ = std::fs::remove_file(&temporary);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary).map_err(failed)?;
        if let Err(e) = file.write_all(&text).and_then(|()| file.sync_all()) {
            drop(file);
            let _ = std::fs::remove_file(&temporary);
            return Err(failed(e));
        }
        std::fs::rename(&temporary, target).map_err(failed)?;
        Ok(key)
    }

    /// The key id: 16 hex digits that name the key without revealing it.
    pub fn id(&self) -> String {
        hex(&self.id)
    }

    /// Seals the private key of the certificate `thumbprint`.
    pub(super) fn seal_private_key(&self, thumbprint: &str, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.seal(private_key_aad(thumbprint).as_bytes(), plaintext)
    }

    /// Opens a private key sealed by [`Self::seal_private_key`] for the same thumbprint.
    pub(super) fn open_private_key(&self, thumbprint: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let undecryptable = |detail: String| StoreError::Undecryptable { thumbprint: thumbprint.to_owned(), detail };
        let (key_id, _) = split_sealed(sealed).ok_or_else(|| undecryptable(String::from("not a sealed value")))?;
        if key_id != self.id {
            return Err(undecryptable(format!(
                "it is sealed with store key {}, this node has store key {}; the key was rotated: restart this node \
                 with the current key file ({KEY_FILE_ENV} / --store-key-file)",
                hex(key_id),
                self.id()
            )));
        }
        let plaintext = self.open(private_key_aad(thumbprint).as_bytes(), sealed).ok_or_else(|| {
            undecryptable(String::from("authentication failed (the stored value is corrupt or was moved)"))
        })?;
        Ok(plaintext.to_vec())
    }

    /// The check value to store with this key.
    pub(super) fn check_value(&self) -> Result<KeyCheck, StoreError> {
        let id = self.id();
        Ok(KeyCheck { check_value: self.seal(check_aad(&id).as_bytes(), CHECK_PLAINTEXT)?, key_id: id })
    }

    /// Whether this is the key the check value was made with; fails naming both key ids otherwise.
    pub(super) fn verify(&self, stored: &KeyCheck, source: &str) -> Result<(), StoreError> {
        let id = self.id();
        let wrong = || StoreError::WrongKey {
            store_key_id: stored.key_id.clone(),
            given_key_id: id.clone(),
            key_source: source.to_owned(),
        };
        if stored.key_id != id {
            return Err(wrong());
        }
        match self.open(check_aad(&id).as_bytes(), &stored.check_value) {
            Some(plaintext) if plaintext.as_slice() == CHECK_PLAINTEXT => Ok(()),
            _ => Err(wrong()),
        }
    }

    fn from_bytes(bytes: &[u8; KEY_LEN]) -> Result<Self, StoreError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| StoreError::Crypto("cannot load the AES key"))?;
        let mut labelled = Zeroizing::new(Vec::with_capacity(32 + KEY_LEN));
        labelled.extend_from_slice(b"s2s store key id\0");
        labelled.extend_from_slice(bytes);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &labelled);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
        Ok(Self { key: LessSafeKey::new(key), id })
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| StoreError::Crypto("no randomness for a nonce"))?;
        let mut sealed = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        sealed.push(FORMAT);
        sealed.extend_from_slice(&self.id);
        sealed.extend_from_slice(&nonce);
        let mut in_out = Zeroizing::new(plaintext.to_vec());
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut *in_out)
            .map_err(|_| StoreError::Crypto("AES-GCM sealing failed"))?;
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// The plaintext, or `None` when the value is malformed, sealed with another key, or tampered with.
    fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (key_id, _) = split_sealed(sealed)?;
        if key_id != self.id {
            return None;
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1 + KEY_ID_LEN..HEADER_LEN]).ok()?;
        let mut in_out = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
        let len = self.key.open_in_place(nonce, Aad::from(aad), &mut in_out).ok()?.len();
        in_out.truncate(len);
        Some(in_out)
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKey").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl KeySpec {
    /// Where the key comes from, for messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::File(path) => format!("key file {}", path.display()),
            Self::BesideDatabase(path) => format!("key file {}", path.display()),
            Self::Ephemeral => String::from("a throw-away key"),
            Self::Missing => String::from("no key"),
        }
    }

    /// The store's key: read (or, beside a store without encrypted keys yet, created) and checked
    /// against what the store holds.
    pub(super) fn resolve(&self, stored: Option<&KeyCheck>, url: &str) -> Result<StoreKey, StoreError> {
        let key = match self {
            Self::File(path) => StoreKey::from_file(path)?,
            Self::BesideDatabase(path) => match (StoreKey::from_file(path), stored) {
                (Ok(key), _) => key,
                (Err(StoreError::KeyFile { .. }), None) if !path.exists() => match StoreKey::create_file(path) {
                    Ok(key) => key,
                    // Another process created it first: use theirs.
                    Err(_) if path.exists() => StoreKey::from_file(path)?,
                    Err(e) => return Err(e),
                },
                (Err(StoreError::KeyFile { .. }), Some(stored)) if !path.exists() => {
                    return Err(StoreError::KeyFileMissing {
                        url: url.to_owned(),
                        path: path.clone(),
                        key_id: stored.key_id.clone(),
                    });
                }
                (Err(e), _) => return Err(e),
            },
            Self::Ephemeral => StoreKey::generate()?,
            Self::Missing => return Err(StoreError::KeyRequired { url: url.to_owned() }),
        };
        if let Some(stored) = stored {
            key.verify(stored, &self.describe())?;
        }
        Ok(key)
    }
}

/// Splits a sealed value into its key id and the rest; `None` when it is too short or of another format.
fn split_sealed(sealed: &[u8]) -> Option<(&[u8], &[u8])> {
    if sealed.len() < HEADER_LEN + TAG_LEN || sealed[0] != FORMAT {
        return None;
    }
    Some((&sealed[1..1 + KEY_ID_LEN], &sealed[1 + KEY_ID_LEN..]))
}

fn private_key_aad(thumbprint: &str) -> String {
    format!("s2s-private-key:{}", thumbprint.to_ascii_uppercase())
}

fn check_aad(key_id: &str) -> String {
    format!("s2s-store-key-check:{key_id}")
}

fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, StoreError> {
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    aws_lc_rs::rand::fill(&mut bytes[..]).map_err(|_| StoreError::Crypto("no randomness for a store key"))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_detail(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => String::from("no such file"),
        std::io::ErrorKind::AlreadyExists => String::from("the file exists already"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn private_keys_round_trip_and_are_bound_to_their_thumbprint() {
        let key = StoreKey::generate().unwrap();
        let sealed = key.seal_private_key("AbCd", b"PKCS8 bytes").unwrap();
        assert_eq!(sealed.len(), HEADER_LEN + b"PKCS8 bytes".len() + TAG_LEN);
        assert!(!sealed.windows(5).any(|w| w == b"PKCS8"));
        // The thumbprint's case does not matter; another thumbprint does.
        assert_eq!(key.open_private_key("ABCD", &sealed).unwrap(), b"PKCS8 bytes");
        assert!(matches!(key.open_private_key("ABCE", &sealed), Err(StoreError::Undecryptable { .. })));
        // Fresh nonces: the same plaintext never seals to the same bytes.
        assert_ne!(key.seal_private_key("ABCD", b"PKCS8 bytes").unwrap(), sealed);

        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open_private_key("ABCD", &tampered).is_err());
        assert!(key.open_private_key("ABCD", b"short").is_err());

        let other = StoreKey::generate().unwrap();
        let error = other.open_private_key("ABCD", &sealed).unwrap_err().to_string();
        assert!(error.contains(&key.id()) && error.contains(&other.id()), "{error}");
    }

    #[test]
    fn the_check_value_accepts_only_its_key() {
        let key = StoreKey::generate().unwrap();
        let check = key.check_value().unwrap();
        assert_eq!(check.key_id, key.id());
        key.verify(&check, "test").unwrap();
        let other = StoreKey::generate().unwrap();
        let error = other.verify(&check, "key file /etc/s2s/other.key").unwrap_err();
        assert!(matches!(error, StoreError::WrongKey { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&key.id()) && message.contains(&other.id()), "{message}");
        assert!(message.contains("/etc/s2s/other.key"), "{message}");
        // A forged check value under the right id does not pass either.
        let forged = KeyCheck { key_id: other.id(), check_value: check.check_value.clone() };
        assert!(other.verify(&forged, "test").is_err());
    }

    #[test]
    fn key_files_are_written_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.key");
        let key = StoreKey::create_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim_end().len(), 44, "{text:?}");
        assert!(text.ends_with('\n') && text.lines().count() == 1);
        assert_eq!(StoreKey::from_file(&path).unwrap().id(), key.id());
        assert_eq!(key.id().len(), 16);
        // Never overwritten.
        assert!(matches!(StoreKey::create_file(&path), Err(StoreError::KeyFile { .. })));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            let error = StoreKey::from_file(&path).unwrap_err().to_string();
            assert!(error.contains("chmod 600") && error.contains("640"), "{error}");
        }
    }

    #[test]
    fn malformed_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = StoreKey::from_file(&dir.path().join("absent.key")).unwrap_err().to_string();
        assert!(missing.contains("absent.key") && missing.contains("no such file"), "{missing}");
        for text in ["", "not base64!", "c2hvcnQ=", &STANDARD.encode([7u8; 33]), &"A".repeat(300)] {
            let path = dir.path().join("bad.key");
            let _ = std::fs::remove_file(&path);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(&path).unwrap().write_all(text.as_bytes()).unwrap();
            let error = StoreKey::from_file(&path).unwrap_err().to_string();
            assert!(error.contains("not a store key"), "{text:?}: {error}");
        }
    }

    #[test]
    fn debug_shows_the_key_id_only() {
        let key = StoreKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert_eq!(debug, format!("StoreKey {{ id: {:?}, .. }}", key.id()));
    }

    #[test]
    fn a_missing_key_for_postgres_names_the_setting() {
        let error = KeySpec::Missing.resolve(None, "postgres://db/s2s").unwrap_err().to_string();
        assert!(error.contains(KEY_FILE_ENV) && error.contains("--store-key-file"), "{error}");
    }
}
