//! TLS for the PostgreSQL backend, with rustls (ring), as libpq's `sslmode`
//! describes it: `disable`; `allow`/`prefer` (the default) and `require`
//! encrypt without checking the certificate unless `sslrootcert` is given
//! (then as `verify-ca`); `verify-ca` checks the chain against the roots;
//! `verify-full` checks the chain and the host name. Roots are the
//! `sslrootcert` PEM file, or the system's store (the default, and
//! `sslrootcert=system`).

use std::sync::Arc;

use postgres::config::SslMode as DriverSslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::postgres_conninfo::{ConnInfo, RootCerts, SslMode};

/// The connector and the driver's mode for `info`; an error says what is
/// wrong with the TLS settings and how to fix them.
pub(crate) fn connector(info: &ConnInfo) -> Result<(MakeRustlsConnect, DriverSslMode), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (driver_mode, check) = match info.ssl_mode {
        SslMode::Disable => (DriverSslMode::Disable, None),
        SslMode::Allow | SslMode::Prefer => (
            DriverSslMode::Prefer,
            info.root_certs.as_ref().map(|_| false),
        ),
        SslMode::Require => (
            DriverSslMode::Require,
            info.root_certs.as_ref().map(|_| false),
        ),
        SslMode::VerifyCa => (DriverSslMode::Require, Some(false)),
        SslMode::VerifyFull => (DriverSslMode::Require, Some(true)),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        None => Arc::new(Unchecked(Arc::clone(&provider))),
        Some(check_name) => {
            let roots = roots(info.root_certs.as_ref().unwrap_or(&RootCerts::System))?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            if check_name {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((MakeRustlsConnect::new(config), driver_mode))
}

fn roots(source: &RootCerts) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match source {
        RootCerts::File(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {} holds no usable certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
                    path.display()
                ));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "no system root certificates were found (install ca-certificates, or pass sslrootcert=/path/to/ca.pem)"
                        .to_owned(),
                );
            }
        }
    }
    Ok(store)
}

/// `allow`, `prefer` and `require` without roots: encrypted, the
/// certificate not checked (libpq's meaning), the handshake still verified.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name only after the chain, so a name error
        // means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
