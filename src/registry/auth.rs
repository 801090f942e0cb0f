//! Who we are to a registry: the `WWW-Authenticate` challenge of its
//! `/v2/` ping, and the credentials the docker CLI would use for it
//! (config.json's `auths`, `credHelpers`, `credsStore`, read through the
//! `docker_credential` crate). No I/O but reading config.json and running a
//! credential helper.

use std::path::Path;

use base64::Engine;
use docker_credential::{CredentialRetrievalError, DockerCredential};

/// The key Docker Hub credentials are stored under in config.json.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// How a registry wants to be spoken to, from its `/v2/` ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `/v2/` answered 200: no authentication.
    None,
    /// `Basic realm=...`: user and password on every request.
    Basic,
    /// `Bearer realm=URL,service=S`: a token from the realm for each
    /// repository.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A `WWW-Authenticate` header's scheme and parameters, lower-cased names.
#[derive(Debug, PartialEq, Eq)]
pub struct Header {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Header {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `Scheme k="v", k2=v2` (one challenge; values may be quoted with
/// backslash escapes). `None` for an empty header.
pub fn parse_header(text: &str) -> Option<Header> {
    let text = text.trim();
    let (scheme, mut rest) = match text.find(' ') {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        params.push((name, value));
    }
    Some(Header {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// The challenge a `/v2/` 401 carries; `Err` names what is wrong.
pub fn challenge_of(header: Option<&str>) -> Result<Challenge, String> {
    let header = header
        .and_then(parse_header)
        .ok_or("it answered 401 without a WWW-Authenticate header")?;
    match header.scheme.as_str() {
        "basic" => Ok(Challenge::Basic),
        "bearer" => Ok(Challenge::Bearer {
            realm: header
                .param("realm")
                .filter(|r| !r.is_empty())
                .ok_or("its Bearer challenge names no realm")?
                .to_string(),
            service: header.param("service").map(str::to_string),
        }),
        other => Err(format!(
            "it asks for {other:?} authentication, which is not supported"
        )),
    }
}

/// What the user has for a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        user: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>`
    /// user): exchanged at the Bearer realm.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    // Never shows the secret (it must not reach a log line by accident).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { user, .. } => write!(f, "Basic({user:?}, <password>)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(<token>)"),
        }
    }
}

impl Credential {
    /// The user name, for messages (`None` for an identity token).
    pub fn user(&self) -> Option<&str> {
        match self {
            Credential::Basic { user, .. } => Some(user),
            Credential::IdentityToken(_) => None,
        }
    }

    /// `Basic <base64>`, for a Basic credential.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credential::Basic { user, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
            Credential::IdentityToken(_) => None,
        }
    }
}

/// The config.json key of a registry: Docker Hub's is its v1 URL, the
/// others are `HOST[:PORT]`.
pub fn server_key(registry: &str) -> &str {
    if registry == crate::reference::DOCKER_HUB {
        DOCKER_HUB_SERVER
    } else {
        registry
    }
}

/// The credentials for `registry` in `config_dir/config.json`, as the
/// docker CLI finds them: `None` when there is no file, no entry, or the
/// helper has none ("credentials not found", as docker treats it).
pub fn lookup(config_dir: &Path, registry: &str) -> Result<Option<Credential>, String> {
    let path = config_dir.join("config.json");
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let server = server_key(registry);
    match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), server) {
        Ok(DockerCredential::IdentityToken(token)) if !token.is_empty() => {
            Ok(Some(Credential::IdentityToken(token)))
        }
        Ok(DockerCredential::IdentityToken(_)) => Ok(None),
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            // The docker CLI trims the NULs some tools leave after the password.
            let password = password.trim_end_matches('\0').to_string();
            if user.is_empty() && password.is_empty() {
                Ok(None)
            } else {
                Ok(Some(Credential::Basic { user, password }))
            }
        }
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(None),
        Err(CredentialRetrievalError::HelperFailure {
            helper,
            stdout,
            stderr,
        }) => {
            let said = format!("{} {}", stdout.trim(), stderr.trim());
            if said.contains("credentials not found") {
                Ok(None)
            } else {
                Err(format!(
                    "the credential helper {helper} failed for {server}: {}",
                    said.trim().replace('\n', " ")
                ))
            }
        }
        Err(CredentialRetrievalError::HelperCommunicationError) => Err(format!(
            "{} names a credential helper for {server} that cannot be run \
             (is docker-credential-NAME on PATH?)",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e} (for {server})", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let h = parse_header(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a\"b:pull",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(h.scheme, "bearer");
        assert_eq!(h.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(h.param("service"), Some("registry.docker.io"));
        assert_eq!(h.param("scope"), Some("repository:a\"b:pull"));
        assert_eq!(h.param("error"), Some("insufficient_scope"));
        assert_eq!(
            challenge_of(Some(r#"Basic realm="Registry Realm""#)).unwrap(),
            Challenge::Basic
        );
        assert_eq!(
            challenge_of(Some("bearer realm=http://127.0.0.1:9/t, service=reg")).unwrap(),
            Challenge::Bearer {
                realm: "http://127.0.0.1:9/t".into(),
                service: Some("reg".into())
            }
        );
        assert!(challenge_of(None)
            .unwrap_err()
            .contains("without a WWW-Authenticate"));
        assert!(challenge_of(Some("Bearer service=x"))
            .unwrap_err()
            .contains("no realm"));
        assert!(challenge_of(Some("Negotiate"))
            .unwrap_err()
            .contains("\"negotiate\""));
    }

    fn config(dir: &Path, json: &str) {
        std::fs::write(dir.join("config.json"), json).unwrap();
    }

    #[test]
    fn credentials_are_found_as_docker_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lookup(dir.path(), "docker.io").unwrap(), None);
        let auth = base64::engine::general_purpose::STANDARD.encode("me:s3cret\0");
        config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                    "http://127.0.0.1:5000/v2/": {{"auth": "{auth}"}},
                    "tok.example": {{"identitytoken": "refresh-me"}},
                    "empty.example": {{}}}}}}"#
            ),
        );
        let basic = Credential::Basic {
            user: "me".into(),
            password: "s3cret".into(),
        };
        assert_eq!(
            lookup(dir.path(), "docker.io").unwrap(),
            Some(basic.clone())
        );
        // Keys may carry a scheme and a path: compared by host.
        assert_eq!(
            lookup(dir.path(), "127.0.0.1:5000").unwrap(),
            Some(basic.clone())
        );
        assert_eq!(
            lookup(dir.path(), "tok.example").unwrap(),
            Some(Credential::IdentityToken("refresh-me".into()))
        );
        assert_eq!(lookup(dir.path(), "empty.example").unwrap(), None);
        assert_eq!(lookup(dir.path(), "other.example").unwrap(), None);
        assert_eq!(
            basic.basic_header().unwrap(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("me:s3cret")
            )
        );
        assert!(!format!("{basic:?}").contains("s3cret"));
    }

    #[test]
    fn a_missing_helper_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        config(
            dir.path(),
            r#"{"credHelpers": {"reg.example": "kdtest-no-such-helper"}}"#,
        );
        let e = lookup(dir.path(), "reg.example").unwrap_err();
        assert!(e.contains("cannot be run"), "{e}");
        config(dir.path(), "not json");
        assert!(lookup(dir.path(), "reg.example").is_err());
    }
}
