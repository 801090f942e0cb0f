//! Client settings: one `settings.conf` plus the `ARVADOS_*` environment,
//! resolved exactly as the legacy Python SDK does (spec §1.1–§1.3), and the
//! cache directory.
//!
//! The environment is injected as an [`Env`] value so that every rule here
//! is a pure function under test; [`Env::from_process`] is the only place
//! that reads the real environment.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The API host variable.
pub const API_HOST: &str = "ARVADOS_API_HOST";
/// The API token variable.
pub const API_TOKEN: &str = "ARVADOS_API_TOKEN";

/// CA bundles tried after `SSL_CERT_FILE`, in order (spec §1.2; the legacy
/// SDK's `arvados.util.ca_certs_path`).
pub const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/arvados/ca-certificates.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// A snapshot of the process environment (or a test's stand-in for it).
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// The user's home directory from the password database, used when
    /// `$HOME` is unset or relative (Python's `Path.home()`).
    passwd_home: Option<PathBuf>,
}

impl Env {
    /// The real environment. Variables whose name or value is not UTF-8
    /// are skipped.
    pub fn from_process() -> Env {
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home_ok = vars.get("HOME").is_some_and(|h| Path::new(h).is_absolute());
        let passwd_home = if home_ok { None } else { home_from_passwd() };
        Env { vars, passwd_home }
    }

    /// An environment made of the given pairs, with no password database.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            passwd_home: None,
        }
    }

    /// Sets the password-database home directory (for tests).
    pub fn with_passwd_home(mut self, home: impl Into<PathBuf>) -> Env {
        self.passwd_home = Some(home.into());
        self
    }

    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `$name` as a path, only if it is set and absolute.
    fn abs_path(&self, name: &str) -> Option<PathBuf> {
        let value = self.get(name)?;
        let path = Path::new(value);
        path.is_absolute().then(|| path.to_path_buf())
    }

    /// Absolute entries of a colon-separated list variable.
    fn abs_list(&self, value: &str) -> Vec<PathBuf> {
        value
            .split(':')
            .map(Path::new)
            .filter(|p| p.is_absolute())
            .map(Path::to_path_buf)
            .collect()
    }

    /// `$HOME` if absolute, else the password-database home.
    fn home(&self) -> Option<PathBuf> {
        self.abs_path("HOME").or_else(|| self.passwd_home.clone())
    }
}

/// The home directory of the current user from `/etc/passwd`.
fn home_from_passwd() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2] == uid).then(|| PathBuf::from(fields[5]))
    })
}

/// The merged settings: file entries overlaid by `ARVADOS_*` variables.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    values: BTreeMap<String, String>,
    /// The settings file that was read, if any.
    file: Option<PathBuf>,
    /// Where a user would put the settings file (for messages).
    default_file: PathBuf,
    /// A settings file that exists but could not be read, and why.
    unreadable: Option<(PathBuf, String)>,
    /// Things the caller should log as warnings.
    warnings: Vec<String>,
}

impl Settings {
    /// Finds and reads `settings.conf`, then copies every `ARVADOS_*`
    /// variable over it. A malformed line is an error naming the file and
    /// line; a file that cannot be read is remembered (the legacy SDK
    /// ignores it) and mentioned if the host or token turns out missing.
    pub fn load(env: &Env) -> Result<Settings> {
        let search = config_search_paths(env);
        let default_file = default_config_file(env);
        let mut settings = Settings {
            default_file: default_file.clone(),
            ..Settings::default()
        };
        match search.iter().find(|p| p.exists()) {
            Some(path) => match std::fs::read(path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    settings.values = parse_settings(&text, path)?;
                    settings.file = Some(path.clone());
                }
                Err(e) => settings.unreadable = Some((path.clone(), e.to_string())),
            },
            None => {
                if let Some(w) = xdg_home_warning(env) {
                    settings.warnings.push(w);
                }
            }
        }
        for (k, v) in &env.vars {
            if k.starts_with("ARVADOS_") {
                settings.values.insert(k.clone(), v.clone());
            }
        }
        Ok(settings)
    }

    /// A setting's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The settings file that was read, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Warnings for the caller to log (the legacy SDK logs them too).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `ARVADOS_DEBUG`: any value but empty or `0` turns debugging on.
    /// (The legacy SDK also takes `0` as on; a user who writes `0` means
    /// off, so we read it that way: see the README's differences.)
    pub fn debug(&self) -> bool {
        self.get("ARVADOS_DEBUG")
            .is_some_and(|v| !v.is_empty() && v.trim() != "0")
    }

    /// `ARVADOS_API_HOST_INSECURE`, with the legacy truthiness.
    pub fn insecure(&self) -> bool {
        self.get("ARVADOS_API_HOST_INSECURE").is_some_and(is_true)
    }

    /// Validates what a cluster client needs: host, token, TLS and Keep
    /// service overrides. `env` supplies `SSL_CERT_FILE`.
    pub fn client_config(&self, env: &Env) -> Result<ClientConfig> {
        let host = self.get(API_HOST).unwrap_or("");
        let token = self.get(API_TOKEN).unwrap_or("");
        let mut missing = Vec::new();
        if host.is_empty() {
            missing.push(API_HOST);
        }
        if token.is_empty() {
            missing.push(API_TOKEN);
        }
        if !missing.is_empty() {
            return Err(Error::MissingSettings {
                missing,
                file: self
                    .file
                    .clone()
                    .unwrap_or_else(|| self.default_file.clone()),
                unreadable: self.unreadable.clone(),
            });
        }
        check_api_host(host)?;
        let keep = match self.get("ARVADOS_KEEP_SERVICES").filter(|v| !v.is_empty()) {
            Some(v) => Some(parse_keep_services("ARVADOS_KEEP_SERVICES", v)?),
            None => match self.get("ARVADOS_KEEP_PROXY").filter(|v| !v.is_empty()) {
                Some(v) => Some(parse_keep_services("ARVADOS_KEEP_PROXY", v)?),
                None => None,
            },
        };
        Ok(ClientConfig {
            api_host: host.to_string(),
            api_token: token.to_string(),
            insecure: self.insecure(),
            keep_services: keep,
            ca_file: ca_bundle_path(env),
        })
    }
}

/// What the API and Keep clients need, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// `host[:port]`, no scheme; the API is always HTTPS.
    pub api_host: String,
    pub api_token: String,
    /// Skip TLS certificate and host name verification (API and Keep).
    pub insecure: bool,
    /// Keep roots from `ARVADOS_KEEP_SERVICES`/`ARVADOS_KEEP_PROXY`, each
    /// ending in `/`. When set, they are all proxies and the API is not
    /// asked for services or default storage classes.
    pub keep_services: Option<Vec<String>>,
    /// The CA bundle to trust; `None` means the built-in Mozilla roots
    /// (the legacy SDK's certifi fallback).
    pub ca_file: Option<PathBuf>,
}

/// The legacy truthiness of flags: `1`, `t`, `true`, `y`, `yes`, any case.
pub fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "y" | "yes"
    )
}

/// Parses `settings.conf` text. Skips blank lines and `#` comments; every
/// other line, with trailing whitespace stripped, must hold exactly one
/// `=`. Key and value are verbatim (no trimming around the `=`).
pub fn parse_settings(text: &str, path: &Path) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let line = line.trim_end();
        let mut parts = line.split('=');
        let (key, value) = match (parts.next(), parts.next(), parts.next()) {
            (Some(k), Some(v), None) => (k, v),
            (_, None, _) => {
                return Err(Error::SettingsSyntax {
                    path: path.to_path_buf(),
                    line: i + 1,
                    problem: "the line has no '='",
                })
            }
            _ => {
                return Err(Error::SettingsSyntax {
                    path: path.to_path_buf(),
                    line: i + 1,
                    problem: "the line has more than one '='",
                })
            }
        };
        values.insert(key.to_string(), value.to_string());
    }
    Ok(values)
}

/// Where `settings.conf` is looked for, in order (spec §1.1).
pub fn config_search_paths(env: &Env) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = env
        .abs_list(env.get("CONFIGURATION_DIRECTORY").unwrap_or(""))
        .into_iter()
        .map(|d| d.join("settings.conf"))
        .collect();
    if let Some(home) = xdg_config_home(env) {
        paths.push(home.join("arvados").join("settings.conf"));
    }
    let dirs = env
        .get("XDG_CONFIG_DIRS")
        .filter(|v| !v.is_empty())
        .unwrap_or("/etc/xdg");
    for dir in env.abs_list(dirs) {
        paths.push(dir.join("arvados").join("settings.conf"));
    }
    paths
}

/// `$XDG_CONFIG_HOME` if absolute, else `$HOME/.config`.
fn xdg_config_home(env: &Env) -> Option<PathBuf> {
    env.abs_path("XDG_CONFIG_HOME")
        .or_else(|| env.home().map(|h| h.join(".config")))
}

/// The settings file a user is expected to have.
fn default_config_file(env: &Env) -> PathBuf {
    match xdg_config_home(env) {
        Some(home) => home.join("arvados").join("settings.conf"),
        None => PathBuf::from("~/.config/arvados/settings.conf"),
    }
}

/// The legacy warning when a customised `$XDG_CONFIG_HOME` hides a settings
/// file that exists at the default location.
fn xdg_home_warning(env: &Env) -> Option<String> {
    let custom = env.abs_path("XDG_CONFIG_HOME")?;
    let default_home = env.home()?.join(".config");
    if custom == default_home {
        return None;
    }
    let default_path = default_home.join("arvados").join("settings.conf");
    if !default_path.exists() {
        return None;
    }
    let current = env.get("XDG_CONFIG_DIRS").unwrap_or("");
    let sep = if current.is_empty() { "" } else { ":" };
    Some(format!(
        "arvados/settings.conf was not found under your configured $XDG_CONFIG_HOME ({}), \
         but does exist at the default location ({}) - consider running this program \
         with the environment setting XDG_CONFIG_DIRS={current}{sep}{}",
        custom.join("arvados").display(),
        default_home.display(),
        default_home.display(),
    ))
}

/// Refuses API hosts that carry a scheme or a path: the API is HTTPS only
/// and the setting is `host[:port]`.
pub fn check_api_host(host: &str) -> Result<()> {
    let bad = |problem: &str| {
        Err(Error::BadSetting {
            name: API_HOST,
            value: host.to_string(),
            problem: problem.to_string(),
        })
    };
    if let Some((scheme, rest)) = host.split_once("://") {
        if scheme.eq_ignore_ascii_case("http") {
            return bad(&format!(
                "the Arvados API is HTTPS only; set ARVADOS_API_HOST={} (no http://)",
                rest.trim_end_matches('/')
            ));
        }
        return bad(&format!(
            "give host[:port] without a scheme, e.g. ARVADOS_API_HOST={}",
            rest.trim_end_matches('/')
        ));
    }
    if host.contains('/') || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("give host[:port] only, without a path or spaces");
    }
    Ok(())
}

/// Parses `ARVADOS_KEEP_SERVICES`/`ARVADOS_KEEP_PROXY`: whitespace-separated
/// root URLs, each given a trailing `/`. A URL needs a scheme and a host
/// ("Invalid proxy URI" in the legacy SDK); only http and https work.
pub fn parse_keep_services(name: &'static str, value: &str) -> Result<Vec<String>> {
    value
        .split_whitespace()
        .map(|uri| {
            let mut root = uri.to_string();
            if !root.ends_with('/') {
                root.push('/');
            }
            let valid = root.split_once("://").is_some_and(|(scheme, rest)| {
                let host = rest.split('/').next().unwrap_or("");
                (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                    && !host.is_empty()
            });
            if valid {
                Ok(root)
            } else {
                Err(Error::BadSetting {
                    name,
                    value: value.to_string(),
                    problem: format!(
                        "invalid Keep service URI {root:?}: it needs http:// or https:// and a host"
                    ),
                })
            }
        })
        .collect()
}

/// The CA bundle to verify TLS against: the first existing of
/// `$SSL_CERT_FILE` and [`SYSTEM_CA_BUNDLES`].
pub fn ca_bundle_path(env: &Env) -> Option<PathBuf> {
    env.get("SSL_CERT_FILE")
        .filter(|v| !v.is_empty())
        .into_iter()
        .chain(SYSTEM_CA_BUNDLES.iter().copied())
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The cache root (spec §1.3), created with mode 0700: the first
/// `$CACHE_DIRECTORY` entry that is an owner-writable directory (used as
/// is), else `$XDG_CACHE_HOME/arvados`, else `$HOME/.cache/arvados`.
pub fn cache_root(env: &Env) -> Result<PathBuf> {
    let systemd = env
        .abs_list(env.get("CACHE_DIRECTORY").unwrap_or(""))
        .into_iter()
        .find(|p| is_writable_dir(p));
    let root = match systemd {
        Some(dir) => dir,
        None => {
            let base = env
                .abs_path("XDG_CACHE_HOME")
                .or_else(|| env.home().map(|h| h.join(".cache")))
                .ok_or_else(|| Error::BadSetting {
                    name: "HOME",
                    value: env.get("HOME").unwrap_or("").to_string(),
                    problem: "no home directory for the cache; set XDG_CACHE_HOME".into(),
                })?;
            base.join("arvados")
        }
    };
    make_private_dir(&root)?;
    Ok(root)
}

/// A subdirectory of the cache root (`docker`, `arv-put`, ...), created
/// with mode 0700.
pub fn cache_subdir(env: &Env, name: &str) -> Result<PathBuf> {
    let dir = cache_root(env)?.join(name);
    make_private_dir(&dir)?;
    Ok(dir)
}

fn is_writable_dir(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o200 != 0)
}

fn make_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(source) => Err(Error::CacheDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn parse_skips_comments_and_keeps_values_verbatim() {
        let text = "# comment\n\n   \n  # indented comment\nARVADOS_API_HOST=x.example:443  \n\
                    KEY = v\nEMPTY=\n";
        let v = parse_settings(text, Path::new("/s.conf")).unwrap();
        assert_eq!(v["ARVADOS_API_HOST"], "x.example:443");
        assert_eq!(v["KEY "], " v");
        assert_eq!(v["EMPTY"], "");
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn parse_rejects_lines_without_or_with_several_equals() {
        let e = parse_settings("A=1\nnonsense\n", Path::new("/s.conf")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/s.conf, line 2: the line has no '='; settings lines must be KEY=VALUE \
             (fix or remove the line)"
        );
        let e = parse_settings("ARVADOS_API_TOKEN=v2/a=b\n", Path::new("/s.conf")).unwrap_err();
        assert!(matches!(
            e,
            Error::SettingsSyntax {
                line: 1,
                problem: "the line has more than one '='",
                ..
            }
        ));
    }

    fn search_paths(env: &Env) -> Vec<String> {
        config_search_paths(env)
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn search_order_follows_systemd_then_xdg() {
        let env = Env::from_pairs([
            ("CONFIGURATION_DIRECTORY", "/sd1:relative:/sd2"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("XDG_CONFIG_DIRS", "/d1:rel:/d2"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            search_paths(&env),
            [
                "/sd1/settings.conf",
                "/sd2/settings.conf",
                "/xdg/arvados/settings.conf",
                "/d1/arvados/settings.conf",
                "/d2/arvados/settings.conf",
            ]
        );
        // Relative XDG_CONFIG_HOME falls back to $HOME; empty XDG_CONFIG_DIRS
        // to /etc/xdg.
        let env = Env::from_pairs([
            ("XDG_CONFIG_HOME", "rel"),
            ("XDG_CONFIG_DIRS", ""),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            search_paths(&env),
            [
                "/home/u/.config/arvados/settings.conf",
                "/etc/xdg/arvados/settings.conf"
            ]
        );
        // Relative HOME: the password database's home.
        let env = Env::from_pairs([("HOME", "rel")]).with_passwd_home("/pw");
        assert_eq!(
            config_search_paths(&env)[0],
            PathBuf::from("/pw/.config/arvados/settings.conf")
        );
    }

    #[test]
    fn first_existing_file_wins_and_environment_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let etc = dir.path().join("etc");
        write(
            &home.join(".config/arvados/settings.conf"),
            "ARVADOS_API_HOST=file.example\nARVADOS_API_TOKEN=filetoken\nOTHER=1\n",
        );
        write(
            &etc.join("arvados/settings.conf"),
            "ARVADOS_API_HOST=etc.example\n",
        );
        let env = Env::from_pairs([
            ("HOME", home.to_str().unwrap()),
            ("XDG_CONFIG_DIRS", etc.to_str().unwrap()),
            ("ARVADOS_API_TOKEN", "envtoken"),
            ("NOT_ARVADOS_X", "ignored"),
        ]);
        let s = Settings::load(&env).unwrap();
        assert_eq!(
            s.file(),
            Some(home.join(".config/arvados/settings.conf").as_path())
        );
        assert_eq!(s.get("ARVADOS_API_HOST"), Some("file.example"));
        assert_eq!(s.get("ARVADOS_API_TOKEN"), Some("envtoken"));
        assert_eq!(s.get("OTHER"), Some("1"));
        assert_eq!(s.get("NOT_ARVADOS_X"), None);
        let c = s.client_config(&env).unwrap();
        assert_eq!(c.api_host, "file.example");
        assert_eq!(c.api_token, "envtoken");
        assert!(!c.insecure);
        assert_eq!(c.keep_services, None);

        // Without the home file, the XDG_CONFIG_DIRS one is used.
        std::fs::remove_file(home.join(".config/arvados/settings.conf")).unwrap();
        let s = Settings::load(&env).unwrap();
        assert_eq!(s.get("ARVADOS_API_HOST"), Some("etc.example"));
    }

    #[test]
    fn customised_xdg_home_hiding_the_default_file_warns() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        write(
            &home.join(".config/arvados/settings.conf"),
            "ARVADOS_API_HOST=h\n",
        );
        let env = Env::from_pairs([
            ("HOME", home.to_str().unwrap()),
            (
                "XDG_CONFIG_HOME",
                dir.path().join("elsewhere").to_str().unwrap(),
            ),
            ("XDG_CONFIG_DIRS", dir.path().join("none").to_str().unwrap()),
        ]);
        let s = Settings::load(&env).unwrap();
        assert_eq!(s.file(), None);
        assert_eq!(s.warnings().len(), 1);
        assert!(s.warnings()[0].contains("consider running this program"));
    }

    #[test]
    fn missing_host_and_token_is_one_clear_line() {
        let env = Env::from_pairs([
            ("HOME", "/nonexistent-home"),
            ("XDG_CONFIG_DIRS", "/nonexistent"),
        ]);
        let s = Settings::load(&env).unwrap();
        let e = s.client_config(&env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ARVADOS_API_HOST and ARVADOS_API_TOKEN are not set: put them in \
             /nonexistent-home/.config/arvados/settings.conf or export them in the environment"
        );
        let env = Env::from_pairs([
            ("HOME", "/nonexistent-home"),
            ("XDG_CONFIG_DIRS", "/nonexistent"),
            ("ARVADOS_API_HOST", "h.example"),
        ]);
        let e = Settings::load(&env)
            .unwrap()
            .client_config(&env)
            .unwrap_err();
        assert!(e.to_string().starts_with("ARVADOS_API_TOKEN is not set"));
    }

    #[test]
    fn api_host_must_be_bare_host_port() {
        assert!(check_api_host("zzzzz.example.com").is_ok());
        assert!(check_api_host("10.1.2.3:8443").is_ok());
        assert!(check_api_host("[::1]:8443").is_ok());
        let e = check_api_host("http://x.example").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ARVADOS_API_HOST=\"http://x.example\": the Arvados API is HTTPS only; \
             set ARVADOS_API_HOST=x.example (no http://)"
        );
        let e = check_api_host("https://x.example/").unwrap_err();
        assert!(e
            .to_string()
            .contains("without a scheme, e.g. ARVADOS_API_HOST=x.example"));
        assert!(check_api_host("x.example/path").is_err());
    }

    #[test]
    fn insecure_truthiness() {
        for v in ["1", "t", "T", "true", "TRUE", "y", "Yes"] {
            assert!(is_true(v), "{v}");
        }
        for v in ["", "0", "no", "false", "on", " 1"] {
            assert!(!is_true(v), "{v}");
        }
    }

    #[test]
    fn keep_services_override() {
        let roots =
            parse_keep_services("ARVADOS_KEEP_SERVICES", " http://a:1  https://b:2/\n").unwrap();
        assert_eq!(roots, ["http://a:1/", "https://b:2/"]);
        assert!(parse_keep_services("ARVADOS_KEEP_SERVICES", "a:1").is_err());
        assert!(parse_keep_services("ARVADOS_KEEP_SERVICES", "http:///x").is_err());

        // ARVADOS_KEEP_SERVICES is preferred over ARVADOS_KEEP_PROXY.
        let env = Env::from_pairs([
            ("HOME", "/nonexistent"),
            ("ARVADOS_API_HOST", "h"),
            ("ARVADOS_API_TOKEN", "t"),
            ("ARVADOS_KEEP_PROXY", "http://proxy"),
            ("ARVADOS_KEEP_SERVICES", "http://svc"),
            ("ARVADOS_API_HOST_INSECURE", "yes"),
        ]);
        let c = Settings::load(&env).unwrap().client_config(&env).unwrap();
        assert_eq!(c.keep_services, Some(vec!["http://svc/".to_string()]));
        assert!(c.insecure);
    }

    #[test]
    fn ssl_cert_file_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let env = Env::from_pairs([("SSL_CERT_FILE", ca.to_str().unwrap())]);
        assert_eq!(ca_bundle_path(&env), Some(ca));
        // A missing SSL_CERT_FILE falls through to the system bundles.
        let env = Env::from_pairs([("SSL_CERT_FILE", "/nonexistent.pem")]);
        assert_ne!(
            ca_bundle_path(&env),
            Some(PathBuf::from("/nonexistent.pem"))
        );
    }

    #[test]
    fn debug_flag_is_on_unless_empty_or_zero() {
        let debug = |value: &str| {
            Settings::load(&Env::from_pairs([
                ("ARVADOS_DEBUG", value),
                ("HOME", "/nx"),
            ]))
            .unwrap()
            .debug()
        };
        assert!(debug("1"));
        assert!(debug("yes"));
        assert!(!debug("0"));
        assert!(!debug(""));
        let unset = Settings::load(&Env::from_pairs([("HOME", "/nx")])).unwrap();
        assert!(!unset.debug());
    }

    #[test]
    fn cache_root_rules() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("systemd-cache");
        std::fs::create_dir(&sd).unwrap();
        // An owner-writable CACHE_DIRECTORY entry is used as is.
        let env = Env::from_pairs([
            ("CACHE_DIRECTORY", format!("/nonexistent:{}", sd.display())),
            ("HOME", dir.path().display().to_string()),
        ]);
        assert_eq!(cache_root(&env).unwrap(), sd);
        // XDG_CACHE_HOME/arvados, created 0700.
        let env = Env::from_pairs([
            (
                "XDG_CACHE_HOME",
                dir.path().join("xdg").display().to_string(),
            ),
            ("HOME", dir.path().display().to_string()),
        ]);
        let root = cache_root(&env).unwrap();
        assert_eq!(root, dir.path().join("xdg/arvados"));
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Relative XDG_CACHE_HOME: $HOME/.cache/arvados.
        let env = Env::from_pairs([
            ("XDG_CACHE_HOME", "rel".to_string()),
            ("HOME", dir.path().display().to_string()),
        ]);
        let docker = cache_subdir(&env, "docker").unwrap();
        assert_eq!(docker, dir.path().join(".cache/arvados/docker"));
        let mode = std::fs::metadata(&docker).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
