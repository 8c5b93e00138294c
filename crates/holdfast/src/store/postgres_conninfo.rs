//! PostgreSQL connection strings, in both of libpq's forms (a
//! `postgres://` URL, or `key=value` pairs): taking out the TLS settings
//! Holdfast handles itself (`sslmode` with libpq's six modes, `sslrootcert`),
//! and hiding every password (`password`, `sslpassword`, the URL's
//! user-info) from messages, whatever the spacing or quoting.

use std::path::PathBuf;

/// libpq's `sslmode`s. `allow` is taken as `prefer` (TLS first, plain if the
/// server has none), the closest the driver offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other} is not a mode: use disable, allow, prefer (the default), require, verify-ca or verify-full"
                ))
            }
        })
    }
}

/// Where trusted certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCerts {
    /// The operating system's store (`sslrootcert=system`, and the default).
    System,
    /// A PEM file (`sslrootcert=/path/ca.pem`).
    File(PathBuf),
}

/// A connection string with Holdfast's TLS settings taken out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The rest, for the driver.
    pub driver: String,
    pub ssl_mode: SslMode,
    /// `None` when `sslrootcert` was not given.
    pub root_certs: Option<RootCerts>,
}

const OURS: [&str; 2] = ["sslmode", "sslrootcert"];

fn is_secret(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

/// Splits `text` into the TLS settings and what the driver takes.
pub fn parse(text: &str) -> Result<ConnInfo, String> {
    let (driver, settings) = if let Some((base, query)) = url_parts(text) {
        let mut kept = Vec::new();
        let mut settings = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if OURS.contains(&key) {
                settings.push((key.to_owned(), percent_decode(value)?));
            } else {
                kept.push(pair);
            }
        }
        let driver = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (driver, settings)
    } else {
        let pairs = key_values(text).ok_or_else(|| {
            "the connection string is neither a postgres:// URL nor key=value pairs (check for an unclosed quote)"
                .to_owned()
        })?;
        let mut kept = Vec::new();
        let mut settings = Vec::new();
        for pair in pairs {
            if OURS.contains(&pair.key) {
                settings.push((pair.key.to_owned(), pair.value));
            } else {
                kept.push(pair.raw);
            }
        }
        (kept.join(" "), settings)
    };
    let mut info = ConnInfo {
        driver,
        ssl_mode: SslMode::default(),
        root_certs: None,
    };
    for (key, value) in settings {
        match key.as_str() {
            "sslmode" => info.ssl_mode = SslMode::parse(&value)?,
            _ if value == "system" => info.root_certs = Some(RootCerts::System),
            _ if value.is_empty() => {
                return Err("sslrootcert is empty: give a PEM file's path, or system".to_owned())
            }
            _ => info.root_certs = Some(RootCerts::File(PathBuf::from(value))),
        }
    }
    Ok(info)
}

/// The connection string with every password replaced by `***`, for
/// messages and logs. Text that cannot be parsed is cut at the first
/// mention of a password rather than shown.
pub fn redact(text: &str) -> String {
    if let Some((base, query)) = url_parts(text) {
        let base = redact_userinfo(base);
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        return if query.is_empty() {
            base
        } else {
            format!("{base}?{}", pairs.join("&"))
        };
    }
    match key_values(text) {
        Some(pairs) => pairs
            .iter()
            .map(|pair| {
                if is_secret(pair.key) {
                    format!("{}=***", pair.key)
                } else {
                    pair.raw.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => {
            let lower = text.to_ascii_lowercase();
            match lower.find("password") {
                Some(at) => format!(
                    "{}*** (the rest is hidden: it could not be parsed)",
                    &text[..at]
                ),
                None => text.to_owned(),
            }
        }
    }
}

/// A URL's part before `?` and its query (empty when none), or `None` for
/// text that is not a `scheme://` URL (any scheme, so that a wrong one is
/// redacted too before it is shown in the error).
fn url_parts(text: &str) -> Option<(&str, &str)> {
    let scheme_end = text.find("://")?;
    let scheme = &text[..scheme_end];
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| text.split_once('?').unwrap_or((text, "")))
}

fn redact_userinfo(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return base.to_owned();
    };
    let rest = &base[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}{}",
                &base[..scheme_end + 3],
                &authority[..colon],
                &authority[at..],
                &rest[authority_end..]
            ),
            None => base.to_owned(),
        },
        None => base.to_owned(),
    }
}

fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{value:?} has a bad %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8 once %-decoded"))
}

/// One `key = value` of a key/value connection string.
struct Pair<'a> {
    key: &'a str,
    /// The value unquoted and unescaped.
    value: String,
    /// The pair as written (spaces around `=` dropped), for the driver.
    raw: String,
}

/// libpq's key/value syntax: `key = value` separated by spaces, spaces
/// allowed around `=`, a value single-quoted to hold spaces, `\'` and `\\`
/// escapes. `None` if `text` does not follow it.
fn key_values(text: &str) -> Option<Vec<Pair<'_>>> {
    let mut pairs = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace())?;
        let key = &rest[..key_end];
        if key.is_empty() {
            return None;
        }
        rest = rest[key_end..].trim_start().strip_prefix('=')?.trim_start();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let quoted = rest.starts_with('\'');
        if quoted {
            chars.next();
        }
        let mut end = rest.len();
        let mut closed = !quoted;
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                '\'' if quoted => {
                    end = at + 1;
                    closed = true;
                    break;
                }
                c if !quoted && c.is_whitespace() => {
                    end = at;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return None;
        }
        pairs.push(Pair {
            key,
            value,
            raw: format!("{key}={}", &rest[..end]),
        });
        rest = rest[end..].trim_start();
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_every_spelling() {
        for (text, shown) in [
            (
                "postgres://app:hunter2@db:5432/jobs",
                "postgres://app:***@db:5432/jobs",
            ),
            (
                "postgresql://app:hunter2@db/jobs?sslmode=require",
                "postgresql://app:***@db/jobs?sslmode=require",
            ),
            (
                "postgres://app@db/jobs?password=hunter2&sslpassword=s3cret",
                "postgres://app@db/jobs?password=***&sslpassword=***",
            ),
            ("postgres://a:b@c@db/x", "postgres://a:***@db/x"),
            ("mysql://app:hunter2@db/jobs", "mysql://app:***@db/jobs"),
            (
                "host=db password=hunter2 user=app",
                "host=db password=*** user=app",
            ),
            (
                "host=db password = hunter2 user=app",
                "host=db password=*** user=app",
            ),
            (
                "host=db password='hunter 2' user=app",
                "host=db password=*** user=app",
            ),
            (
                "host=db password='it\\'s 2' user=app",
                "host=db password=*** user=app",
            ),
            ("host=db sslpassword=s3cret", "host=db sslpassword=***"),
            ("host=db PASSWORD=hunter2", "host=db PASSWORD=***"),
            (
                "host=db password='unclosed hunter2",
                "host=db *** (the rest is hidden: it could not be parsed)",
            ),
        ] {
            let redacted = redact(text);
            assert_eq!(redacted, shown, "{text}");
            assert!(
                !redacted.contains("hunter") && !redacted.contains("s3cret"),
                "{redacted}"
            );
        }
    }

    #[test]
    fn tls_settings_are_taken_out_for_holdfast() {
        let info = parse("postgres://app@db/jobs?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x").unwrap();
        assert_eq!(info.driver, "postgres://app@db/jobs?application_name=x");
        assert_eq!(info.ssl_mode, SslMode::VerifyFull);
        assert_eq!(info.root_certs, Some(RootCerts::File("/etc/ca.pem".into())));
        let info = parse("host=db sslmode = require sslrootcert=system user='a b'").unwrap();
        assert_eq!(info.driver, "host=db user='a b'");
        assert_eq!(info.ssl_mode, SslMode::Require);
        assert_eq!(info.root_certs, Some(RootCerts::System));
        let info = parse("postgres://db/jobs").unwrap();
        assert_eq!((info.ssl_mode, info.root_certs), (SslMode::Prefer, None));
        assert!(parse("postgres://db/x?sslmode=verify")
            .unwrap_err()
            .contains("verify-full"));
        assert!(parse("host='db").is_err());
    }
}
