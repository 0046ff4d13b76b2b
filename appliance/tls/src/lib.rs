//! The box's TLS identity, and how a client pins it.
//!
//! A box on a merchant's LAN has no public name a certificate authority could vouch for. So on
//! first start it makes its own key and self-signed certificate ([`Identity::load_or_create`]) and
//! keeps them in its data folder; clients trust it by the certificate's SHA-256 [`Fingerprint`],
//! which the box prints, advertises over mDNS and shows in its console, instead of by a chain.
//! A merchant may install its own certificate and key instead.
//!
//! Not here: sockets and HTTP (`tongka-http` serves with [`Identity::server_config`]).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// File names inside the folder the box keeps its own identity in.
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

/// The names a self-made certificate carries, so tools that check names (curl with `--cacert`)
/// accept it on this machine and under the box's mDNS name.
const SELF_SIGNED_NAMES: [&str; 4] = ["tongka.local", "localhost", "127.0.0.1", "::1"];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no certificate in this PEM file")]
    NoCertificate { path: PathBuf },
    #[error("{path}: not a PEM private key ({reason})")]
    BadKey { path: PathBuf, reason: String },
    #[error("{path}: not a PEM certificate ({reason})")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not go together, or are unsupported: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The SHA-256 of a certificate's DER bytes: what a client pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(certificate: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(certificate).into())
    }
}

/// Upper-case hex pairs joined by colons, as browsers and `openssl x509 -fingerprint` show it.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a SHA-256 fingerprint is 64 hex digits, optionally in pairs separated by `:`")]
pub struct BadFingerprint;

/// Accepts hex in either case, with or without `:` between pairs.
impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(text: &str) -> Result<Fingerprint, BadFingerprint> {
        let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
        if digits.len() != 64 {
            return Err(BadFingerprint);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| BadFingerprint)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| BadFingerprint)?;
        }
        Ok(Fingerprint(bytes))
    }
}

/// Where a merchant's own certificate is, when it installs one.
#[derive(Clone, Debug)]
pub struct OwnCertificate {
    /// PEM: the certificate first, then any intermediates.
    pub cert_path: PathBuf,
    /// PEM: PKCS#8, PKCS#1 or SEC1.
    pub key_path: PathBuf,
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Whether the box made it itself (rather than the merchant installing it).
    pub self_signed: bool,
}

impl Identity {
    /// The merchant's certificate if one is configured; otherwise the box's own from `dir`, made
    /// there on first use (the key readable by the owner only).
    pub fn load_or_create(dir: &Path, own: Option<&OwnCertificate>) -> Result<Identity, TlsError> {
        if let Some(own) = own {
            return Identity::load(&own.cert_path, &own.key_path, false);
        }
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if !cert_path.exists() || !key_path.exists() {
            create_self_signed(dir, &cert_path, &key_path)?;
        }
        Identity::load(&cert_path, &key_path, true)
    }

    fn load(cert_path: &Path, key_path: &Path, self_signed: bool) -> Result<Identity, TlsError> {
        let cert_pem = std::fs::read(cert_path).map_err(io_error(cert_path))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| TlsError::BadCertificate {
                path: cert_path.to_owned(),
                reason: error.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert_path.to_owned(),
            });
        }
        let key_pem = std::fs::read(key_path).map_err(io_error(key_path))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| TlsError::BadKey {
            path: key_path.to_owned(),
            reason: error.to_string(),
        })?;
        let identity = Identity {
            chain,
            key,
            self_signed,
        };
        // Refuse a key that does not sign for the certificate now, not at the first handshake.
        identity.server_config()?;
        Ok(identity)
    }

    /// The fingerprint of the certificate the box presents (the first of the chain).
    pub fn fingerprint(&self) -> Fingerprint {
        // `load` refuses an empty chain.
        Fingerprint::of(self.chain.first().map_or(&[][..], |c| c.as_ref()))
    }

    /// A rustls server configuration presenting this identity, for HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn create_self_signed(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error(dir))?;

    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tongka box 通卡");
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    // The key first: a certificate without its key would be loaded and refused on every start.
    write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert_path, cert.pem().as_bytes(), 0o644)
}

/// Writes `bytes` to `path` through a temporary file, synced and renamed, so a crash leaves the old
/// file or the new one, never half of one.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&temporary).map_err(io_error(&temporary))?;
    file.write_all(bytes).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    std::fs::rename(&temporary, path).map_err(io_error(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}

/// A client configuration that trusts exactly the certificate with `fingerprint`, whatever name
/// or address it is reached by: the pinning a POS does after discovery or pairing.
pub fn pinned_client_config(fingerprint: Fingerprint) -> rustls::ClientConfig {
    pinned(fingerprint, None)
}

/// [`pinned_client_config`] that also notes, in `presented`, the fingerprint of the certificate
/// the server showed: so a client can say which certificate it refused, not only that it did.
pub fn pinned_client_config_noting(
    fingerprint: Fingerprint,
    presented: Arc<std::sync::Mutex<Option<Fingerprint>>>,
) -> rustls::ClientConfig {
    pinned(fingerprint, Some(presented))
}

fn pinned(
    fingerprint: Fingerprint,
    presented: Option<Arc<std::sync::Mutex<Option<Fingerprint>>>>,
) -> rustls::ClientConfig {
    let provider = provider();
    let verifier = PinnedCertificate {
        fingerprint,
        presented,
        provider: Arc::clone(&provider),
    };
    // The ring provider supports the safe default versions; a failure here is a build mistake.
    #[allow(clippy::expect_used)]
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3");
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Trusts one certificate by its SHA-256, and still checks the handshake's signatures with it: a
/// server that shows the right certificate without its key fails.
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: Fingerprint,
    presented: Option<Arc<std::sync::Mutex<Option<Fingerprint>>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let shown = Fingerprint::of(end_entity.as_ref());
        if let Some(presented) = &self.presented
            && let Ok(mut slot) = presented.lock()
        {
            *slot = Some(shown);
        }
        if shown == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_makes_its_identity_once_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = Identity::load_or_create(&tls, None).unwrap();
        assert!(first.self_signed);
        let again = Identity::load_or_create(&tls, None).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tls.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is the owner's alone: {mode:o}");
        }
        // Another box, another identity.
        let other = Identity::load_or_create(&dir.path().join("other"), None).unwrap();
        assert_ne!(first.fingerprint(), other.fingerprint());
    }

    #[test]
    fn a_merchants_own_certificate_wins_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("made");
        let own_identity = Identity::load_or_create(&made, None).unwrap();
        let own = OwnCertificate {
            cert_path: made.join(CERT_FILE),
            key_path: made.join(KEY_FILE),
        };
        let box_dir = dir.path().join("box");
        let used = Identity::load_or_create(&box_dir, Some(&own)).unwrap();
        assert!(!used.self_signed);
        assert_eq!(used.fingerprint(), own_identity.fingerprint());
        assert!(!box_dir.exists(), "no identity of its own is made");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let bad_cert = OwnCertificate {
            cert_path: garbage.clone(),
            key_path: own.key_path.clone(),
        };
        let error = Identity::load_or_create(&box_dir, Some(&bad_cert)).unwrap_err();
        assert!(matches!(error, TlsError::NoCertificate { .. }), "{error}");
        assert!(error.to_string().contains("garbage.pem"), "{error}");

        // A key that is not the certificate's.
        let other = dir.path().join("other");
        Identity::load_or_create(&other, None).unwrap();
        let mismatched = OwnCertificate {
            cert_path: own.cert_path.clone(),
            key_path: other.join(KEY_FILE),
        };
        let error = Identity::load_or_create(&box_dir, Some(&mismatched)).unwrap_err();
        assert!(matches!(error, TlsError::Rustls(_)), "{error}");

        let missing = OwnCertificate {
            cert_path: dir.path().join("nowhere.pem"),
            key_path: own.key_path,
        };
        let error = Identity::load_or_create(&box_dir, Some(&missing)).unwrap_err();
        assert!(error.to_string().contains("nowhere.pem"), "{error}");
    }

    #[test]
    fn fingerprints_print_and_parse() {
        let fingerprint = Fingerprint::of(b"certificate");
        let shown = fingerprint.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert_eq!(shown.parse::<Fingerprint>(), Ok(fingerprint));
        let bare = shown.replace(':', "").to_lowercase();
        assert_eq!(bare.parse::<Fingerprint>(), Ok(fingerprint));
        for bad in ["", "AB:CD", &bare[1..], &format!("{}zz", &bare[2..])] {
            assert_eq!(bad.parse::<Fingerprint>(), Err(BadFingerprint), "{bad}");
        }
    }
}
