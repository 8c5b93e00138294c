//! TLS to PostgreSQL, against bin/test-postgres's server (ssl=on, a
//! certificate for localhost and 127.0.0.1 from its own CA, whose PEM path
//! is HOLDFAST_TEST_POSTGRES_CA). Each sslmode is checked from the server's
//! side: pg_stat_ssl says whether the store's own connection is encrypted.

use holdfast::store::{PostgresOptions, Store, StoreError, StoreOptions};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run bin/test, or export it from bin/test-postgres (start, ca)")
    })
}

/// `postgres://user@host:port/db` split so the tests can swap the host.
fn server() -> (String, String) {
    let url = env("HOLDFAST_TEST_POSTGRES_URL");
    let rest = url.strip_prefix("postgres://").expect("a postgres:// URL");
    let (authority, database) = rest.split_once('/').expect("a database");
    let (user, host_port) = authority.split_once('@').expect("a user");
    let port = host_port.rsplit_once(':').expect("a port").1;
    (format!("postgres://{user}@{{host}}:{port}/{database}"), url)
}

fn open(query: &str, host: &str, name: &str) -> Result<Store, StoreError> {
    let (template, _) = server();
    let url = format!(
        "{}?application_name={name}&connect_timeout=5&{query}",
        template.replace("{host}", host)
    );
    Store::postgres(&url, &PostgresOptions::default(), StoreOptions::default())
}

/// Whether the connection named `name` is encrypted, as the server sees it.
fn encrypted(name: &str) -> bool {
    let (_, url) = server();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .query_one(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&name],
        )
        .unwrap()
        .get(0)
}

#[test]
fn each_sslmode_does_what_libpq_says() {
    let ca = env("HOLDFAST_TEST_POSTGRES_CA");
    let store = open("sslmode=disable", "127.0.0.1", "hf_disable").unwrap();
    assert!(!encrypted("hf_disable"));
    drop(store);
    // The default (prefer) encrypts when the server can.
    let store = open("", "127.0.0.1", "hf_prefer").unwrap();
    assert!(encrypted("hf_prefer"));
    drop(store);
    // require: encrypted, the certificate not checked (no roots given).
    let store = open("sslmode=require", "127.0.0.1", "hf_require").unwrap();
    assert!(encrypted("hf_require"));
    drop(store);
    // verify-full with the CA: chain and name (an IP address SAN) checked.
    let query = format!("sslmode=verify-full&sslrootcert={ca}");
    let store = open(&query, "127.0.0.1", "hf_full").unwrap();
    assert!(encrypted("hf_full"));
    drop(store);
    let store = open(&query, "localhost", "hf_full_name").unwrap();
    assert!(encrypted("hf_full_name"));
    drop(store);
}

#[test]
fn verification_failures_are_clear_errors() {
    let ca = env("HOLDFAST_TEST_POSTGRES_CA");
    // The system's roots do not include the test CA.
    let error = open("sslmode=verify-full", "127.0.0.1", "hf_untrusted")
        .err()
        .expect("an untrusted certificate must be refused");
    let message = error.to_string();
    assert!(
        message.starts_with("PostgreSQL store postgres://"),
        "{message}"
    );
    assert!(
        message.contains("UnknownIssuer") || message.contains("certificate"),
        "{message}"
    );
    // require with sslrootcert verifies the chain (as libpq does) and so
    // refuses a certificate from elsewhere: here the CA file is not the
    // issuer's (a server certificate is no CA).
    let dir = tempfile::tempdir().unwrap();
    let not_a_ca = dir.path().join("other.pem");
    let server_pem = std::path::Path::new(&ca).with_file_name("server.pem");
    std::fs::copy(server_pem, &not_a_ca).unwrap();
    assert!(open(
        &format!("sslmode=require&sslrootcert={}", not_a_ca.display()),
        "127.0.0.1",
        "hf_wrong_root"
    )
    .is_err());
    // Bad settings say what is wrong before connecting.
    let missing = open(
        "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
        "127.0.0.1",
        "hf_missing",
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        missing.contains("cannot read sslrootcert /nonexistent/ca.pem"),
        "{missing}"
    );
    let bogus = open("sslmode=verify", "127.0.0.1", "hf_bogus")
        .err()
        .unwrap()
        .to_string();
    assert!(bogus.contains("sslmode=verify is not a mode"), "{bogus}");
}

#[test]
fn verify_ca_accepts_a_name_the_certificate_does_not_hold_and_verify_full_refuses_it() {
    let ca = env("HOLDFAST_TEST_POSTGRES_CA");
    // The certificate names localhost and 127.0.0.1; bin/test-postgres's
    // server also listens on 127.0.0.2, a name the certificate lacks.
    let query = format!("sslmode=verify-ca&sslrootcert={ca}");
    let store = open(&query, "127.0.0.2", "hf_ca_only").unwrap();
    assert!(encrypted("hf_ca_only"));
    drop(store);
    let full = format!("sslmode=verify-full&sslrootcert={ca}");
    let error = open(&full, "127.0.0.2", "hf_wrong_name")
        .err()
        .expect("verify-full must refuse a name the certificate does not hold")
        .to_string();
    assert!(
        error.contains("certificate not valid for name \"127.0.0.2\""),
        "{error}"
    );
}
