//! `EncryptedAssertion` (SAML Core §2.3.4; XML Encryption 1.1 §3-§5): the assertion's plaintext,
//! from the Response samael verified, with the service's RSA key.
//!
//! Only ever called on the *verified* Response (the verifier refuses an EncryptedAssertion in a
//! Response that is not signed by a pinned certificate): the ciphertext, the wrapped key and the
//! algorithm names are what the IdP signed, so nobody else can submit altered ciphertext (no
//! padding or decryption oracle, CBC's lack of integrity covered by the signature).
//!
//! Supported, as the IdPs in use send them:
//! - key transport (§5.5): RSA-OAEP, `xmlenc#rsa-oaep-mgf1p` (SHA-1 digest and MGF1) or
//!   `xmlenc11#rsa-oaep` with one hash for both digest and MGF1 (SHA-1/256/384/512), no
//!   `OAEPparams`; RSA PKCS#1 v1.5 (`rsa-1_5`, Bleichenbacher) is refused;
//! - block encryption (§5.2): AES-128/192/256 in GCM (`xmlenc11#aesNNN-gcm`: 96-bit IV, 128-bit
//!   tag) or CBC (`xmlenc#aesNNN-cbc`: 128-bit IV, the §5.2.1 padding);
//! - the wrapped key as an `EncryptedKey` in the EncryptedData's KeyInfo or beside the
//!   EncryptedData in the EncryptedAssertion (§2.3.4); several are tried in turn (one per
//!   recipient); `CipherReference` (ciphertext elsewhere) is refused.
//!
//! The primitives are aws-lc-rs's; the key's PEM is read with rustls-pki-types.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use quick_xml::NsReader;
use quick_xml::encoding::Decoder;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::{self, PemObject};
use zeroize::Zeroizing;

use super::shape::SAML_ASSERTION_NS;
use super::{SamlError, SamlFault, truncated};

const XMLENC_NS: &[u8] = b"http://www.w3.org/2001/04/xmlenc#";
const XMLENC11_NS: &[u8] = b"http://www.w3.org/2009/xmlenc11#";
const XML_DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
/// `EncryptedData Type` of an encrypted element (§3.5.1).
const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
/// The most wrapped keys tried (one per recipient of the assertion).
const MAX_ENCRYPTED_KEYS: usize = 4;
const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
const CBC_IV_LEN: usize = 16;
const AES_BLOCK_LEN: usize = 16;

/// The service's RSA private key for encrypted assertions (`decryption_key_file`): PKCS#8 DER,
/// never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptionKey {
    pkcs8: Arc<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecryptionKey(<redacted>)")
    }
}

impl DecryptionKey {
    /// The first `PRIVATE KEY` (PKCS#8) block of a PEM document, an RSA key of 2048 to 8192
    /// bits. Errors never quote the document.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SamlError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| {
            // The PEM error's own text may quote a line or a byte of the file: not used.
            let why = match e {
                pem::Error::NoItemsFound => "no PRIVATE KEY (PKCS#8) block",
                pem::Error::Base64Decode(_) => "the PRIVATE KEY block is not base64",
                pem::Error::MissingSectionEnd { .. } => "a PEM block is not closed",
                _ => "not a readable PEM document",
            };
            let hint = if contains(pem, b"-----BEGIN RSA PRIVATE KEY-----") {
                " (a PKCS#1 key: convert it with `openssl pkcs8 -topk8 -nocrypt`)"
            } else if contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                " (an encrypted key: store it unencrypted, readable by the daemon only)"
            } else {
                ""
            };
            SamlError::Config(format!("decryption key: {why}{hint}"))
        })?;
        let key = Self {
            pkcs8: Arc::new(Zeroizing::new(der.secret_pkcs8_der().to_vec())),
        };
        Decryptor::new(&key)?;
        Ok(key)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The key, ready to unwrap session keys.
pub(super) struct Decryptor {
    key: OaepPrivateDecryptingKey,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decryptor(<redacted>)")
    }
}

impl Decryptor {
    pub(super) fn new(key: &DecryptionKey) -> Result<Self, SamlError> {
        let rsa = PrivateDecryptingKey::from_pkcs8(&key.pkcs8).map_err(|e| {
            SamlError::Config(format!(
                "decryption key: not an RSA key of 2048 to 8192 bits ({e})"
            ))
        })?;
        let key = OaepPrivateDecryptingKey::new(rsa)
            .map_err(|_| SamlError::Config("decryption key: no RSA-OAEP with it".into()))?;
        Ok(Self { key })
    }

    /// The plaintext (UTF-8) of the one EncryptedAssertion of `verified_response`:
    /// 1. its parts read ([`Parts::read`]), the algorithms supported;
    /// 2. the session key: the first EncryptedKey that decrypts with this key to a key of the
    ///    block cipher's size;
    /// 3. the EncryptedData decrypted (GCM: the tag checked; CBC: the padding removed).
    pub(super) fn decrypt(&self, verified_response: &str) -> Result<String, SamlError> {
        let parts = Parts::read(verified_response)?;
        let cipher = BlockCipher::named(&parts.data_algorithm)?;
        let session_key = self.session_key(&parts.keys, cipher.key_len())?;
        let ciphertext = base64(&parts.data_cipher_value, "EncryptedData")?;
        let plaintext = Zeroizing::new(cipher.decrypt(&session_key, ciphertext)?);
        String::from_utf8(plaintext.to_vec())
            .map_err(|_| decryption("the decrypted assertion is not UTF-8"))
    }

    fn session_key(
        &self,
        keys: &[KeyParts],
        key_len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, SamlError> {
        if keys.is_empty() {
            return Err(structure(
                "no EncryptedKey (a key agreed or named out of band is not supported)",
            ));
        }
        if keys.len() > MAX_ENCRYPTED_KEYS {
            return Err(structure(format!(
                "{} EncryptedKeys, more than {MAX_ENCRYPTED_KEYS}",
                keys.len()
            )));
        }
        for key in keys {
            let oaep = key.oaep()?;
            let wrapped = base64(&key.cipher_value, "EncryptedKey")?;
            let mut out = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
            if let Ok(unwrapped) = self.key.decrypt(oaep, &wrapped, &mut out, None)
                && unwrapped.len() == key_len
            {
                return Ok(Zeroizing::new(unwrapped.to_vec()));
            }
        }
        Err(decryption(
            "no EncryptedKey decrypts with the configured key to a key of the cipher's size",
        ))
    }
}

/// A wrapped session key (§3.5.1).
#[derive(Debug, Default)]
struct KeyParts {
    algorithm: String,
    digest: Option<String>,
    mgf: Option<String>,
    oaep_params: bool,
    cipher_value: String,
}

impl KeyParts {
    /// The RSA-OAEP parameters it names (§5.5.2), if supported.
    fn oaep(&self) -> Result<&'static OaepAlgorithm, SamlError> {
        if self.oaep_params {
            return Err(algorithm("RSA-OAEP with OAEPparams is not supported"));
        }
        let digest = self
            .digest
            .as_deref()
            .unwrap_or("http://www.w3.org/2000/09/xmldsig#sha1");
        let hash = match digest {
            "http://www.w3.org/2000/09/xmldsig#sha1" => "sha1",
            "http://www.w3.org/2001/04/xmlenc#sha256" => "sha256",
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => "sha384",
            "http://www.w3.org/2001/04/xmlenc#sha512" => "sha512",
            other => {
                return Err(algorithm(format!(
                    "RSA-OAEP digest {:?} is not supported",
                    truncated(other)
                )));
            }
        };
        let mgf_hash = match (self.algorithm.as_str(), self.mgf.as_deref()) {
            (RSA_OAEP_MGF1P, None) => "sha1",
            (RSA_OAEP, None) => "sha1",
            (RSA_OAEP, Some(mgf)) => mgf
                .strip_prefix("http://www.w3.org/2009/xmlenc11#mgf1")
                .unwrap_or(mgf),
            (RSA_1_5, _) => {
                return Err(algorithm(
                    "RSA PKCS#1 v1.5 key transport (rsa-1_5) is refused",
                ));
            }
            (other, _) => {
                return Err(algorithm(format!(
                    "key transport {:?} is not supported",
                    truncated(other)
                )));
            }
        };
        match (hash, mgf_hash) {
            ("sha1", "sha1") => Ok(&OAEP_SHA1_MGF1SHA1),
            ("sha256", "sha256") => Ok(&OAEP_SHA256_MGF1SHA256),
            ("sha384", "sha384") => Ok(&OAEP_SHA384_MGF1SHA384),
            ("sha512", "sha512") => Ok(&OAEP_SHA512_MGF1SHA512),
            _ => Err(algorithm(format!(
                "RSA-OAEP with digest {hash} and MGF1 {} is not supported",
                truncated(mgf_hash)
            ))),
        }
    }
}

/// The block encryption of the EncryptedData (§5.2).
#[derive(Debug, Clone, Copy)]
enum BlockCipher {
    Gcm(usize),
    Cbc(usize),
}

impl BlockCipher {
    fn named(uri: &str) -> Result<Self, SamlError> {
        Ok(match uri {
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Self::Gcm(16),
            "http://www.w3.org/2009/xmlenc11#aes192-gcm" => Self::Gcm(24),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Self::Gcm(32),
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Self::Cbc(16),
            "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => Self::Cbc(24),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Self::Cbc(32),
            other => {
                return Err(algorithm(format!(
                    "block encryption {:?} is not supported",
                    truncated(other)
                )));
            }
        })
    }

    fn key_len(self) -> usize {
        match self {
            Self::Gcm(n) | Self::Cbc(n) => n,
        }
    }

    /// `ciphertext` is the IV followed by the encrypted octets (and, for GCM, the tag).
    fn decrypt(self, key: &[u8], mut ciphertext: Vec<u8>) -> Result<Vec<u8>, SamlError> {
        match self {
            Self::Gcm(key_len) => {
                if ciphertext.len() < GCM_IV_LEN + GCM_TAG_LEN {
                    return Err(decryption("AES-GCM ciphertext shorter than IV and tag"));
                }
                let aead = match key_len {
                    16 => &AES_128_GCM,
                    24 => &AES_192_GCM,
                    _ => &AES_256_GCM,
                };
                let key = UnboundKey::new(aead, key)
                    .map(LessSafeKey::new)
                    .map_err(|_| decryption("not an AES-GCM key"))?;
                let mut body = ciphertext.split_off(GCM_IV_LEN);
                let nonce = Nonce::try_assume_unique_for_key(&ciphertext)
                    .map_err(|_| decryption("bad AES-GCM IV"))?;
                let plaintext = key
                    .open_in_place(nonce, Aad::empty(), &mut body)
                    .map_err(|_| decryption("AES-GCM authentication failed"))?;
                Ok(plaintext.to_vec())
            }
            Self::Cbc(key_len) => {
                let body_len = ciphertext.len().saturating_sub(CBC_IV_LEN);
                if body_len == 0 || !body_len.is_multiple_of(AES_BLOCK_LEN) {
                    return Err(decryption("AES-CBC ciphertext is not IV and whole blocks"));
                }
                let algorithm = match key_len {
                    16 => &AES_128,
                    24 => &AES_192,
                    _ => &AES_256,
                };
                let mut body = ciphertext.split_off(CBC_IV_LEN);
                let iv: [u8; CBC_IV_LEN] = ciphertext
                    .as_slice()
                    .try_into()
                    .map_err(|_| decryption("bad AES-CBC IV"))?;
                let key = UnboundCipherKey::new(algorithm, key)
                    .and_then(DecryptingKey::cbc)
                    .map_err(|_| decryption("not an AES-CBC key"))?;
                let plaintext = key
                    .decrypt(&mut body, DecryptionContext::Iv128(FixedLength::from(iv)))
                    .map_err(|_| decryption("AES-CBC decryption failed"))?;
                // §5.2.1: the last octet says how many padding octets end the plaintext.
                let padding = plaintext.last().map_or(0, |n| usize::from(*n));
                if padding == 0 || padding > AES_BLOCK_LEN || padding > plaintext.len() {
                    return Err(decryption("bad AES-CBC padding"));
                }
                let end = plaintext.len() - padding;
                Ok(plaintext[..end].to_vec())
            }
        }
    }
}

/// What an EncryptedAssertion holds (§3.4, §3.5).
#[derive(Debug, Default)]
struct Parts {
    data_algorithm: String,
    data_cipher_value: String,
    keys: Vec<KeyParts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Assertion,
    Enc,
    Enc11,
    Dsig,
    Other,
}

impl Parts {
    /// Read the one EncryptedAssertion, a direct child of the root (the Response):
    /// 1. exactly one `xenc:EncryptedData` directly in it, `Type` absent or `#Element`, with
    ///    one EncryptionMethod and its ciphertext in `CipherData/CipherValue`;
    /// 2. every `xenc:EncryptedKey` in it (in the EncryptedData's KeyInfo or beside it), each
    ///    with its EncryptionMethod (DigestMethod, MGF, OAEPparams) and CipherValue;
    /// 3. no `CipherReference` anywhere.
    fn read(xml: &str) -> Result<Self, SamlError> {
        let mut reading = Reading {
            stack: Vec::new(),
            parts: Parts::default(),
            encrypted_assertions: 0,
            encrypted_data: 0,
        };
        let mut reader = NsReader::from_str(xml);
        loop {
            let (ns, event) = reader
                .read_resolved_event()
                .map_err(|e| structure(format!("verified Response: {e}")))?;
            let ns = match ns {
                ResolveResult::Bound(ns) if ns.as_ref() == SAML_ASSERTION_NS => Ns::Assertion,
                ResolveResult::Bound(ns) if ns.as_ref() == XMLENC_NS => Ns::Enc,
                ResolveResult::Bound(ns) if ns.as_ref() == XMLENC11_NS => Ns::Enc11,
                ResolveResult::Bound(ns) if ns.as_ref() == XML_DSIG_NS => Ns::Dsig,
                _ => Ns::Other,
            };
            match event {
                Event::Start(start) => reading.open(ns, &start, reader.decoder())?,
                Event::Empty(start) => {
                    reading.open(ns, &start, reader.decoder())?;
                    reading.stack.pop();
                }
                Event::End(_) => {
                    reading.stack.pop();
                }
                Event::Text(text) => {
                    let text = text
                        .decode()
                        .map_err(|e| structure(format!("verified Response: {e}")))?;
                    reading.text(&text);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        reading.finish()
    }
}

/// The state of [`Parts::read`].
struct Reading {
    /// The open elements.
    stack: Vec<(Ns, String)>,
    parts: Parts,
    encrypted_assertions: usize,
    encrypted_data: usize,
}

impl Reading {
    /// Where the EncryptedAssertion is in the stack, if inside one.
    fn encrypted_assertion(&self) -> Option<usize> {
        self.stack
            .iter()
            .position(|(ns, local)| *ns == Ns::Assertion && local == "EncryptedAssertion")
    }

    fn open(&mut self, ns: Ns, start: &BytesStart<'_>, decoder: Decoder) -> Result<(), SamlError> {
        let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
        self.stack.push((ns, local));
        let Some(at) = self.encrypted_assertion() else {
            return Ok(());
        };
        if at == self.stack.len() - 1 {
            self.encrypted_assertions += 1;
            if at != 1 {
                return Err(structure(
                    "the EncryptedAssertion is not directly in the Response",
                ));
            }
        }
        let names: Vec<(Ns, &str)> = self.stack[at..]
            .iter()
            .map(|(ns, local)| (*ns, local.as_str()))
            .collect();
        let attribute = |name: &[u8]| -> Result<Option<String>, SamlError> {
            start
                .try_get_attribute(name)
                .map_err(|e| structure(format!("bad attribute: {e}")))?
                .map(|a| {
                    a.decode_and_unescape_value(decoder)
                        .map(|v| v.into_owned())
                        .map_err(|e| structure(format!("bad attribute value: {e}")))
                })
                .transpose()
        };
        let parts = &mut self.parts;
        match names.as_slice() {
            [_, (Ns::Enc, "EncryptedData")] => {
                self.encrypted_data += 1;
                if let Some(ty) = attribute(b"Type")?
                    && ty != TYPE_ELEMENT
                {
                    return Err(structure(format!(
                        "EncryptedData Type {:?} is not an element",
                        truncated(&ty)
                    )));
                }
            }
            [_, (Ns::Enc, "EncryptedData"), (Ns::Enc, "EncryptionMethod")] => {
                if !parts.data_algorithm.is_empty() {
                    return Err(structure("two EncryptionMethods in the EncryptedData"));
                }
                parts.data_algorithm = attribute(b"Algorithm")?.unwrap_or_default();
            }
            [.., (_, "CipherReference")] => {
                return Err(structure("a CipherReference (ciphertext elsewhere)"));
            }
            [.., (Ns::Enc, "EncryptedKey")] => parts.keys.push(KeyParts::default()),
            [.., (Ns::Enc, "EncryptedKey"), (Ns::Enc, "EncryptionMethod")] => {
                if let Some(key) = parts.keys.last_mut() {
                    key.algorithm = attribute(b"Algorithm")?.unwrap_or_default();
                }
            }
            [
                ..,
                (Ns::Enc, "EncryptedKey"),
                (Ns::Enc, "EncryptionMethod"),
                (Ns::Dsig, "DigestMethod"),
            ] => {
                if let Some(key) = parts.keys.last_mut() {
                    key.digest = attribute(b"Algorithm")?;
                }
            }
            [
                ..,
                (Ns::Enc, "EncryptedKey"),
                (Ns::Enc, "EncryptionMethod"),
                (Ns::Enc11, "MGF"),
            ] => {
                if let Some(key) = parts.keys.last_mut() {
                    key.mgf = attribute(b"Algorithm")?;
                }
            }
            [
                ..,
                (Ns::Enc, "EncryptedKey"),
                (Ns::Enc, "EncryptionMethod"),
                (Ns::Enc, "OAEPparams"),
            ] => {
                if let Some(key) = parts.keys.last_mut() {
                    key.oaep_params = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Text inside the innermost open element: a CipherValue's base64.
    fn text(&mut self, text: &str) {
        let Some(at) = self.encrypted_assertion() else {
            return;
        };
        let names: Vec<(Ns, &str)> = self.stack[at..]
            .iter()
            .map(|(ns, local)| (*ns, local.as_str()))
            .collect();
        match names.as_slice() {
            [
                _,
                (Ns::Enc, "EncryptedData"),
                (Ns::Enc, "CipherData"),
                (Ns::Enc, "CipherValue"),
            ] => self.parts.data_cipher_value.push_str(text),
            [
                ..,
                (Ns::Enc, "EncryptedKey"),
                (Ns::Enc, "CipherData"),
                (Ns::Enc, "CipherValue"),
            ] => {
                if let Some(key) = self.parts.keys.last_mut() {
                    key.cipher_value.push_str(text);
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> Result<Parts, SamlError> {
        if self.encrypted_assertions != 1 {
            return Err(structure(format!(
                "{} EncryptedAssertions instead of one",
                self.encrypted_assertions
            )));
        }
        if self.encrypted_data != 1 {
            return Err(structure(format!(
                "{} EncryptedData in the EncryptedAssertion instead of one",
                self.encrypted_data
            )));
        }
        if self.parts.data_algorithm.is_empty() {
            return Err(structure("an EncryptedData without EncryptionMethod"));
        }
        Ok(self.parts)
    }
}

fn base64(text: &str, element: &str) -> Result<Vec<u8>, SamlError> {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|e| structure(format!("the {element} CipherValue is not base64: {e}")))
}

fn structure(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Structure, detail)
}

fn algorithm(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Algorithm, detail)
}

fn decryption(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Decryption, detail)
}
