//! Connection settings from a `mssql://` or `sqlserver://` URL, an ADO.NET connection
//! string, or a JDBC URL. tiberius reads the latter two itself; the URL form is read here.

use percent_encoding::percent_decode_str;
use tiberius::{AuthMethod, Config, EncryptionLevel};

/// Why the connection settings are unusable. The message never repeats a password.
#[derive(Debug, thiserror::Error)]
#[error("SQL Server URL: {0}")]
pub struct ConfigError(String);

/// The settings a URL gives, before they become a tiberius [`Config`].
#[derive(Clone, PartialEq, Eq)]
struct UrlSettings {
    host: String,
    port: u16,
    database: Option<String>,
    user: String,
    password: String,
    encryption: EncryptionLevel,
    trust: Trust,
    application_name: String,
}

/// How the server's TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trust {
    /// Against the system's roots.
    System,
    /// Against one CA certificate file.
    Ca(String),
    /// Not at all: for local containers with self-signed certificates only.
    Any,
}

impl std::fmt::Debug for UrlSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("encryption", &self.encryption)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

/// Reads connection settings: `mssql://user:password@host[:port][/database][?options]`
/// (or `sqlserver://`), where options are `encrypt=true|false|danger_plaintext`
/// (default `true`: TLS required), `trust_server_certificate=true` (local containers
/// only), `trust_server_certificate_ca=/path/ca.pem` and `application_name`. Option names
/// match without regard to case or underscores (`TrustServerCertificate` works). Anything
/// without `://` is taken as an ADO.NET string (`Server=tcp:host,1433;User Id=…`), and
/// `jdbc:sqlserver://…` as JDBC.
///
/// # Errors
/// [`ConfigError`] naming what is malformed or unknown.
pub fn parse_config(url: &str) -> Result<Config, ConfigError> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("jdbc:") {
        return Config::from_jdbc_string(url).map_err(|e| ConfigError(e.to_string()));
    }
    if !url.contains("://") {
        return Config::from_ado_string(url).map_err(|e| ConfigError(e.to_string()));
    }
    Ok(parse_url(url)?.into_config())
}

fn parse_url(raw: &str) -> Result<UrlSettings, ConfigError> {
    let err = |m: &str| ConfigError(m.to_owned());
    // The parse error never echoes the input, which holds the password.
    let url = url::Url::parse(raw).map_err(|e| ConfigError(e.to_string()))?;
    if !matches!(url.scheme(), "mssql" | "sqlserver") {
        return Err(err("the scheme must be mssql:// or sqlserver://"));
    }
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| err("user and password must be UTF-8 once percent-decoded"))
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| err("a host is required"))?
        .to_owned();
    let user = decode(url.username())?;
    if user.is_empty() {
        return Err(err("a user is required (SQL Server authentication)"));
    }
    let password = decode(url.password().unwrap_or(""))?;
    let database = match url.path().trim_start_matches('/') {
        "" => None,
        name if name.contains('/') => return Err(err("the path must be one database name")),
        name => Some(decode(name)?),
    };
    let mut settings = UrlSettings {
        host,
        port: url.port().unwrap_or(1433),
        database,
        user,
        password,
        encryption: EncryptionLevel::Required,
        trust: Trust::System,
        application_name: "mercado".to_owned(),
    };
    let mut trust_any = false;
    let mut ca = None;
    for (key, value) in url.query_pairs() {
        let key: String = key
            .chars()
            .filter(|c| *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "encrypt" => {
                settings.encryption = match value.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "strict" | "mandatory" => EncryptionLevel::Required,
                    "false" | "no" | "optional" => EncryptionLevel::Off,
                    "danger_plaintext" => EncryptionLevel::NotSupported,
                    _ => return Err(err("encrypt must be true, false or danger_plaintext")),
                }
            }
            "trustservercertificate" => {
                trust_any = match value.to_ascii_lowercase().as_str() {
                    "true" | "yes" => true,
                    "false" | "no" => false,
                    _ => return Err(err("trust_server_certificate must be true or false")),
                }
            }
            "trustservercertificateca" => ca = Some(value.into_owned()),
            "applicationname" => settings.application_name = value.into_owned(),
            other => return Err(ConfigError(format!("unknown option `{other}`"))),
        }
    }
    settings.trust = match (trust_any, ca) {
        (true, Some(_)) => {
            return Err(err(
                "trust_server_certificate and trust_server_certificate_ca exclude each other",
            ));
        }
        (true, None) => Trust::Any,
        (false, Some(path)) => Trust::Ca(path),
        (false, None) => Trust::System,
    };
    Ok(settings)
}

impl UrlSettings {
    fn into_config(self) -> Config {
        let mut config = Config::new();
        config.host(&self.host);
        config.port(self.port);
        if let Some(database) = &self.database {
            config.database(database);
        }
        config.application_name(&self.application_name);
        config.encryption(self.encryption);
        match self.trust {
            Trust::System => {}
            Trust::Ca(path) => config.trust_cert_ca(path),
            Trust::Any => config.trust_cert(),
        }
        config.authentication(AuthMethod::sql_server(self.user, self.password));
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_gives_every_setting() {
        let s = parse_url(
            "mssql://app%40corp:p%3Ass%2Fw@db.example.com:14330/mercado_prod?encrypt=true&trust_server_certificate_ca=/etc/ca.pem&application_name=shop",
        )
        .unwrap();
        assert_eq!(s.host, "db.example.com");
        assert_eq!(s.port, 14330);
        assert_eq!(s.database.as_deref(), Some("mercado_prod"));
        assert_eq!(s.user, "app@corp");
        assert_eq!(s.password, "p:ss/w");
        assert_eq!(s.encryption, EncryptionLevel::Required);
        assert_eq!(s.trust, Trust::Ca("/etc/ca.pem".into()));
        assert_eq!(s.application_name, "shop");
    }

    #[test]
    fn defaults_are_port_1433_and_required_tls_checked_against_system_roots() {
        let s = parse_url("sqlserver://sa:secret@localhost").unwrap();
        assert_eq!((s.port, s.database), (1433, None));
        assert_eq!(s.encryption, EncryptionLevel::Required);
        assert_eq!(s.trust, Trust::System);
        assert_eq!(s.application_name, "mercado");
    }

    #[test]
    fn option_names_ignore_case_and_underscores() {
        let s = parse_url("mssql://sa:x@h/db?TrustServerCertificate=true&Encrypt=false").unwrap();
        assert_eq!(s.trust, Trust::Any);
        assert_eq!(s.encryption, EncryptionLevel::Off);
        let s = parse_url("mssql://sa:x@h/db?encrypt=danger_plaintext").unwrap();
        assert_eq!(s.encryption, EncryptionLevel::NotSupported);
    }

    #[test]
    fn malformed_urls_are_refused_without_echoing_the_password() {
        for (url, expected) in [
            (
                "mssql://sa:hunter2@h/db?colour=blue",
                "unknown option `colour`",
            ),
            ("mssql://sa:hunter2@h/db?encrypt=maybe", "encrypt must be"),
            (
                "mssql://sa:hunter2@h/db?trust_server_certificate=1",
                "trust_server_certificate must be",
            ),
            ("mssql://:hunter2@h/db", "a user is required"),
            ("mssql://sa:hunter2@h/a/b", "one database name"),
            ("postgres://sa:hunter2@h/db", "mssql:// or sqlserver://"),
            (
                "mssql://sa:hunter2@h/db?trust_server_certificate=true&trust_server_certificate_ca=/ca.pem",
                "exclude each other",
            ),
            ("mssql://sa:hunter2@h:99999/db", "invalid port"),
        ] {
            let message = parse_url(url).unwrap_err().to_string();
            assert!(message.contains(expected), "{url}: {message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let s = parse_url("mssql://sa:hunter2@h/db").unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn ado_and_jdbc_strings_are_read_by_tiberius() {
        let ado = parse_config("Server=tcp:db.example.com,1444;Database=m;User Id=sa;Password=x;TrustServerCertificate=true").unwrap();
        assert_eq!(ado.get_addr(), "db.example.com:1444");
        let jdbc =
            parse_config("jdbc:sqlserver://db.example.com:1445;databaseName=m;user=sa;password=x")
                .unwrap();
        assert_eq!(jdbc.get_addr(), "db.example.com:1445");
        let url = parse_config("mssql://sa:x@db.example.com/m").unwrap();
        assert_eq!(url.get_addr(), "db.example.com:1433");
        assert!(parse_config("Server=tcp:h,notaport").is_err());
    }
}
