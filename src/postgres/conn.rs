//! Connection settings the way libpq users expect them: URLs or key=value
//! strings, the PG* environment variables, `.pgpass`, and `sslmode`.
//!
//! rust-postgres parses URLs itself but rejects `sslmode=verify-full` and
//! knows nothing of PG* variables or `.pgpass`, so the keywords are parsed
//! here into one map and the driver's `Config` is built from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use postgres::config::SslMode;
use postgres::{Client, Config};

use crate::error::{Error, Result};
pub use crate::error::{describe_pg_error, redact_urls};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Resolved connection parameters. `Display` never shows the password.
#[derive(Clone)]
pub struct ConnSpec {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    password: Option<String>,
    pub tls: TlsMode,
    pub ssl_root_cert: Option<PathBuf>,
    pub ssl_cert: Option<PathBuf>,
    pub ssl_key: Option<PathBuf>,
    pub application_name: String,
    pub connect_timeout: Option<Duration>,
    pub options: Option<String>,
    /// When set, [`ConnSpec::connect`] waits for a server that refuses,
    /// starts up or shuts down, as long as this allows.
    retry: Option<RetryPolicy>,
    /// The TLS connector, built once per spec and shared by its clones:
    /// building one reads the system's trust store (tens of milliseconds
    /// of CPU), and commands open a connection per worker.
    tls_connector: Arc<OnceLock<postgres_native_tls::MakeTlsConnector>>,
}

/// How long to wait for a server that is not accepting connections yet,
/// and whom to tell that godwit is waiting.
#[derive(Clone)]
pub struct RetryPolicy {
    pub timeout: Duration,
    pub on_wait: Arc<dyn Fn(&WaitNotice) + Send + Sync>,
}

/// Said once when a connection attempt has to wait for the server.
#[derive(Debug, Clone)]
pub struct WaitNotice {
    /// The server, without password.
    pub server: String,
    /// Why: "connection refused", "the database system is starting up"...
    pub reason: String,
    /// How long godwit keeps trying.
    pub timeout: Duration,
}

impl fmt::Display for WaitNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "waiting for PostgreSQL at {} ({}); retrying for up to {}s (--connect-timeout)",
            self.server,
            self.reason,
            self.timeout.as_secs()
        )
    }
}

impl fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnSpec({self})")
    }
}

impl fmt::Display for ConnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.starts_with('/') {
            format!("?host={}", self.host)
        } else {
            String::new()
        };
        let authority = if self.host.starts_with('/') {
            String::new()
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        write!(
            f,
            "postgresql://{}@{}/{}{}",
            percent_encode(&self.user),
            authority,
            percent_encode(&self.dbname),
            host
        )
    }
}

impl ConnSpec {
    /// Parses a URL or key=value string; fills the gaps from PG* variables,
    /// `.pgpass` and libpq's defaults.
    pub fn parse(input: &str) -> Result<ConnSpec> {
        let params = if input.starts_with("postgres://") || input.starts_with("postgresql://") {
            parse_url(input)?
        } else {
            parse_keyword_value(input)?
        };
        Self::from_params(params, &|name| std::env::var(name).ok())
    }

    fn from_params(mut params: BTreeMap<String, String>, env: &dyn Fn(&str) -> Option<String>) -> Result<ConnSpec> {
        for (keyword, variable) in [
            ("host", "PGHOST"),
            ("port", "PGPORT"),
            ("user", "PGUSER"),
            ("password", "PGPASSWORD"),
            ("dbname", "PGDATABASE"),
            ("sslmode", "PGSSLMODE"),
            ("sslrootcert", "PGSSLROOTCERT"),
            ("sslcert", "PGSSLCERT"),
            ("sslkey", "PGSSLKEY"),
            ("application_name", "PGAPPNAME"),
            ("connect_timeout", "PGCONNECT_TIMEOUT"),
            ("options", "PGOPTIONS"),
            ("passfile", "PGPASSFILE"),
        ] {
            if !params.contains_key(keyword)
                && let Some(value) = env(variable).filter(|v| !v.is_empty())
            {
                params.insert(keyword.to_string(), value);
            }
        }
        let host = params.remove("host").unwrap_or_else(default_host);
        let port = match params.remove("port") {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| Error::Usage(format!("invalid port {p:?} in connection string")))?,
            None => 5432,
        };
        let user = params
            .remove("user")
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "postgres".to_string());
        let dbname = params.remove("dbname").unwrap_or_else(|| user.clone());
        let tls = match params.remove("sslmode").as_deref() {
            None | Some("prefer") | Some("allow") => TlsMode::Prefer,
            Some("disable") => TlsMode::Disable,
            Some("require") => TlsMode::Require,
            Some("verify-ca") => TlsMode::VerifyCa,
            Some("verify-full") => TlsMode::VerifyFull,
            Some(other) => {
                return Err(Error::Usage(format!(
                    "invalid sslmode {other:?}: use disable, allow, prefer, require, verify-ca or verify-full"
                )));
            }
        };
        let connect_timeout = match params.remove("connect_timeout") {
            Some(t) => Some(Duration::from_secs(
                t.parse()
                    .map_err(|_| Error::Usage(format!("invalid connect_timeout {t:?}")))?,
            )),
            None => None,
        };
        let passfile = params.remove("passfile");
        let mut spec = ConnSpec {
            password: params.remove("password"),
            ssl_root_cert: params.remove("sslrootcert").map(PathBuf::from),
            ssl_cert: params.remove("sslcert").map(PathBuf::from),
            ssl_key: params.remove("sslkey").map(PathBuf::from),
            application_name: params
                .remove("application_name")
                .unwrap_or_else(|| "godwit".to_string()),
            options: params.remove("options"),
            host,
            port,
            user,
            dbname,
            tls,
            connect_timeout,
            retry: None,
            tls_connector: Arc::default(),
        };
        if spec.password.is_none() {
            let file = passfile
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|home| Path::new(&home).join(".pgpass")));
            if let Some(file) = file
                && let Ok(text) = std::fs::read_to_string(&file)
            {
                spec.password = pgpass_lookup(&text, &spec);
            }
        }
        Ok(spec)
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The same server, another database (for scratch databases).
    pub fn with_dbname(&self, dbname: &str) -> ConnSpec {
        let mut spec = self.clone();
        spec.dbname = dbname.to_string();
        spec
    }

    fn driver_config(&self) -> Config {
        Config::from(self.async_config())
    }

    /// The same settings for the async driver (the blocking one wraps it).
    fn async_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name);
        if let Some(password) = &self.password {
            config.password(password);
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        if let Some(timeout) = self.connect_timeout {
            config.connect_timeout(timeout);
        }
        config.ssl_mode(match self.tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        config
    }

    fn tls_connector(&self) -> Result<postgres_native_tls::MakeTlsConnector> {
        if let Some(connector) = self.tls_connector.get() {
            return Ok(connector.clone());
        }
        let connector = self.build_tls_connector()?;
        Ok(self.tls_connector.get_or_init(|| connector).clone())
    }

    fn build_tls_connector(&self) -> Result<postgres_native_tls::MakeTlsConnector> {
        let mut builder = native_tls::TlsConnector::builder();
        match self.tls {
            // libpq's prefer and require encrypt without checking who answers.
            TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => {
                builder.danger_accept_invalid_certs(true);
                builder.danger_accept_invalid_hostnames(true);
            }
            TlsMode::VerifyCa => {
                builder.danger_accept_invalid_hostnames(true);
            }
            TlsMode::VerifyFull => {}
        }
        // Loading the system's trust store costs ~0.1 s of CPU per
        // connection; only verification without sslrootcert needs it.
        let needs_system_roots =
            matches!(self.tls, TlsMode::VerifyCa | TlsMode::VerifyFull) && self.ssl_root_cert.is_none();
        builder.disable_built_in_roots(!needs_system_roots);
        if let Some(root) = &self.ssl_root_cert {
            let pem =
                std::fs::read(root).map_err(|e| Error::io(format!("reading sslrootcert {}", root.display()), e))?;
            let cert = native_tls::Certificate::from_pem(&pem)
                .map_err(|e| Error::Usage(format!("sslrootcert {}: {e}", root.display())))?;
            builder.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (&self.ssl_cert, &self.ssl_key) {
            let cert_pem =
                std::fs::read(cert).map_err(|e| Error::io(format!("reading sslcert {}", cert.display()), e))?;
            let key_pem = std::fs::read(key).map_err(|e| Error::io(format!("reading sslkey {}", key.display()), e))?;
            let identity = native_tls::Identity::from_pkcs8(&cert_pem, &key_pem)
                .map_err(|e| Error::Usage(format!("sslcert/sslkey: {e}")))?;
            builder.identity(identity);
        }
        let connector = builder
            .build()
            .map_err(|e| Error::Other(format!("TLS setup failed: {e}")))?;
        Ok(postgres_native_tls::MakeTlsConnector::new(connector))
    }

    /// Makes every later [`ConnSpec::connect`] on this spec (and its clones)
    /// wait for a server that is not accepting connections yet.
    pub fn with_retry(mut self, timeout: Duration, on_wait: Arc<dyn Fn(&WaitNotice) + Send + Sync>) -> ConnSpec {
        self.retry = Some(RetryPolicy { timeout, on_wait });
        self
    }

    /// Opens a session, waiting for the server first when a retry policy
    /// is set. Errors name the server but never the password.
    pub fn connect(&self) -> Result<Client> {
        match &self.retry {
            Some(policy) => self.connect_with_retry(policy.timeout, &*policy.on_wait),
            None => self.connect_once(self.connect_timeout),
        }
    }

    /// One attempt, no waiting.
    pub fn connect_once(&self, timeout: Option<Duration>) -> Result<Client> {
        self.attempt(timeout).map_err(|e| self.connect_error(&e))
    }

    /// Connects, retrying with backoff while the server refuses connections,
    /// starts up or shuts down (a restart), for at most `timeout`.
    /// `on_wait` hears once that godwit is waiting, and why. Other errors
    /// (bad password, unknown database) fail at once.
    pub fn connect_with_retry(&self, timeout: Duration, on_wait: &dyn Fn(&WaitNotice)) -> Result<Client> {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(100);
        let mut told = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Each attempt may not outlast the budget; a black-holed host
            // would otherwise eat it in one try.
            let attempt_timeout = match self.connect_timeout {
                Some(t) => t.min(left),
                None => left,
            }
            .max(Duration::from_millis(500));
            match self.attempt(Some(attempt_timeout)) {
                Ok(client) => return Ok(client),
                Err(e) => {
                    let reason = match server_not_ready(&e) {
                        Some(reason) => reason,
                        None => return Err(self.connect_error(&e)),
                    };
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Postgres {
                            context: format!("connecting to {self}"),
                            message: format!(
                                "{reason}; gave up after {}s (raise --connect-timeout to wait longer)",
                                timeout.as_secs()
                            ),
                            sqlstate: None,
                        });
                    }
                    if !told {
                        on_wait(&WaitNotice {
                            server: self.to_string(),
                            reason: reason.clone(),
                            timeout,
                        });
                        told = true;
                    }
                    if crate::report::interrupt::requested() {
                        return Err(Error::Interrupted);
                    }
                    std::thread::sleep(delay.min(left));
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    fn attempt(&self, timeout: Option<Duration>) -> std::result::Result<Client, AttemptError> {
        let tls = self.tls_connector().map_err(AttemptError::Setup)?;
        let mut config = self.driver_config();
        if let Some(t) = timeout {
            config.connect_timeout(t);
        }
        config.connect(tls).map_err(AttemptError::Driver)
    }

    /// One attempt to connect without holding a thread: for callers that
    /// drive many connections from a few threads (the workload's load, as
    /// pgbench's `-j`). Must run inside a tokio runtime, where the
    /// connection's own task is spawned.
    pub async fn connect_async(&self) -> Result<tokio_postgres::Client> {
        let tls = self.tls_connector()?;
        let (client, connection) = self
            .async_config()
            .connect(tls)
            .await
            .map_err(|e| self.connect_error(&AttemptError::Driver(e)))?;
        // The connection ends with an error only when the client's own
        // calls fail too; they report it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn connect_error(&self, err: &AttemptError) -> Error {
        match err {
            AttemptError::Setup(e) => Error::Other(e.to_string()),
            AttemptError::Driver(e) => Error::Postgres {
                context: format!("connecting to {self}"),
                message: self.redact(&describe_pg_error(e)),
                sqlstate: e.code().map(|code| code.code().to_string()),
            },
        }
    }

    /// Removes this spec's password from any text, in case a server or
    /// driver message quotes it.
    pub fn redact(&self, text: &str) -> String {
        let text = redact_urls(text);
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "********"),
            _ => text,
        }
    }
}

enum AttemptError {
    Setup(Error),
    Driver(postgres::Error),
}

/// Why the server cannot take a connection right now, when that is
/// something waiting cures: nothing listening (not started yet, or
/// restarting), or a server starting up, shutting down or recovering.
fn server_not_ready(err: &AttemptError) -> Option<String> {
    let AttemptError::Driver(err) = err else {
        return None;
    };
    if let Some(db) = err.as_db_error() {
        // 57P03 cannot_connect_now: starting up, shutting down, in recovery.
        // 57P01/57P02 admin/crash shutdown arrive when the server stops mid-handshake.
        return matches!(db.code().code(), "57P03" | "57P01" | "57P02").then(|| db.message().to_string());
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return match io.kind() {
                ConnectionRefused => Some("connection refused".into()),
                // A Unix socket file not there yet.
                NotFound => Some("no server socket".into()),
                ConnectionReset | ConnectionAborted | UnexpectedEof => Some("connection closed during startup".into()),
                _ => None,
            };
        }
        source = s.source();
    }
    None
}

fn default_host() -> String {
    for dir in ["/var/run/postgresql", "/tmp"] {
        if Path::new(dir).join(".s.PGSQL.5432").exists() {
            return dir.to_string();
        }
    }
    "localhost".to_string()
}

fn parse_url(input: &str) -> Result<BTreeMap<String, String>> {
    let bad = |why: &str| Error::Usage(format!("invalid connection URL {}: {why}", redact_urls(input)));
    let rest = input
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| bad("no scheme"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    let mut params = BTreeMap::new();
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                params.insert("user".into(), percent_decode(user).map_err(|e| bad(&e))?);
            }
            if let Some(p) = password {
                params.insert("password".into(), percent_decode(p).map_err(|e| bad(&e))?);
            }
            host_port
        }
        None => authority,
    };
    if !host_port.is_empty() {
        let (host, port) = if let Some(stripped) = host_port.strip_prefix('[') {
            let (h, after) = stripped.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h.to_string(), after.strip_prefix(':').map(str::to_string))
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (host_port.to_string(), None),
            }
        };
        if !host.is_empty() {
            params.insert("host".into(), percent_decode(&host).map_err(|e| bad(&e))?);
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            params.insert("port".into(), port);
        }
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        params.insert("dbname".into(), percent_decode(db).map_err(|e| bad(&e))?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| bad("query parameter without '='"))?;
        params.insert(
            percent_decode(k).map_err(|e| bad(&e))?,
            percent_decode(v).map_err(|e| bad(&e))?,
        );
    }
    Ok(params)
}

fn parse_keyword_value(input: &str) -> Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(Error::Usage(format!(
                "invalid connection string: expected key=value after {key:?} (or a postgresql:// URL)"
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::Usage("invalid connection string: unterminated quote".into()));
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.extend(chars.next());
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(key, value);
    }
    Ok(params)
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| "bad percent escape".to_string())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad percent escape %{hex}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent escape is not UTF-8".to_string())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Looks the password up in `.pgpass` text: `host:port:db:user:password`,
/// `*` matching anything, `\:` and `\\` escaped.
fn pgpass_lookup(text: &str, spec: &ConnSpec) -> Option<String> {
    let host = if spec.host.starts_with('/') {
        "localhost"
    } else {
        spec.host.as_str()
    };
    let port = spec.port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() != 5 {
            continue;
        }
        let matches = |field: &str, value: &str| field == "*" || field == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], &spec.dbname)
            && matches(&fields[3], &spec.user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().unwrap().extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// Quotes an identifier for PostgreSQL, always, so that exact spelling and
/// case survive.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Quotes a string literal for PostgreSQL.
pub fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(input: &str, env: &[(&str, &str)]) -> ConnSpec {
        let params = if input.contains("://") {
            parse_url(input).unwrap()
        } else {
            parse_keyword_value(input).unwrap()
        };
        let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConnSpec::from_params(params, &|name| env.get(name).cloned()).unwrap()
    }

    #[test]
    fn url_with_everything() {
        let s = spec(
            "postgresql://al%40ce:s3cr%3At@db.example:6543/app?sslmode=verify-full&application_name=x",
            &[],
        );
        assert_eq!(s.user, "al@ce");
        assert_eq!(s.password(), Some("s3cr:t"));
        assert_eq!(s.host, "db.example");
        assert_eq!(s.port, 6543);
        assert_eq!(s.dbname, "app");
        assert_eq!(s.tls, TlsMode::VerifyFull);
        assert_eq!(s.application_name, "x");
    }

    #[test]
    fn display_never_shows_password() {
        let s = spec("postgres://bob:hunter2@localhost/app", &[]);
        let shown = s.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "postgresql://bob@localhost:5432/app");
        assert_eq!(s.redact("auth failed for hunter2"), "auth failed for ********");
    }

    #[test]
    fn keyword_value_with_quotes() {
        let s = spec("host=/tmp port=5433 user=me password='a b\\'c' dbname=x", &[]);
        assert_eq!(s.host, "/tmp");
        assert_eq!(s.port, 5433);
        assert_eq!(s.password(), Some("a b'c"));
        assert_eq!(s.to_string(), "postgresql://me@/x?host=/tmp");
    }

    #[test]
    fn environment_fills_gaps() {
        let s = spec(
            "dbname=app",
            &[
                ("PGHOST", "h"),
                ("PGPORT", "7000"),
                ("PGUSER", "u"),
                ("PGPASSWORD", "p"),
                ("PGSSLMODE", "require"),
            ],
        );
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str(), s.dbname.as_str()),
            ("h", 7000, "u", "app")
        );
        assert_eq!(s.password(), Some("p"));
        assert_eq!(s.tls, TlsMode::Require);
    }

    #[test]
    fn pgpass_matching_and_escapes() {
        let s = spec("postgresql://u@h:5432/db", &[]);
        let text = "# comment\nother:*:*:*:no\nh:5432:db:u:pa\\:ss\n*:*:*:*:fallback\n";
        assert_eq!(pgpass_lookup(text, &s).as_deref(), Some("pa:ss"));
        let s2 = spec("postgresql://v@h:5432/db", &[]);
        assert_eq!(pgpass_lookup(text, &s2).as_deref(), Some("fallback"));
    }

    #[test]
    fn redacts_urls_in_text() {
        assert_eq!(
            redact_urls("could not reach postgres://a:secret@h:1/db now"),
            "could not reach postgres://a:********@h:1/db now"
        );
        assert_eq!(redact_urls("plain postgres://a@h/db"), "plain postgres://a@h/db");
    }

    #[test]
    fn bad_sslmode_is_a_usage_error() {
        let params = parse_url("postgres://h/db?sslmode=sometimes").unwrap();
        let err = ConnSpec::from_params(params, &|_| None).unwrap_err();
        assert!(err.to_string().contains("invalid sslmode"));
    }
}
