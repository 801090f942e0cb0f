//! `docker://` image references, parsed and normalised the way Docker does
//! (`ubuntu` is `docker.io/library/ubuntu:latest`). Lives low in the crate
//! so that the command-line parser can refuse a bad reference as a usage
//! error; the registry client (`registry`) uses it to pull.
//!
//! The grammar is docker/distribution's `reference` package:
//! `[HOST[:PORT]/]PATH[:TAG][@sha256:HEX]`, where the first component is a
//! host when it holds a `.` or a `:` or is `localhost`, path components are
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, and a tag is
//! `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.

use std::fmt;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";

/// The longest repository name Docker accepts (host included).
const MAX_NAME_LENGTH: usize = 255;

/// A parsed `docker://` reference, normalised the way Docker does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `HOST[:PORT]` as written, or `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path on that registry (`library/ubuntu` on Hub).
    pub repository: String,
    /// The tag (`latest` when neither tag nor digest was given).
    pub tag: Option<String>,
    /// `sha256:<hex>` when pulled by digest.
    pub digest: Option<String>,
}

/// Why a reference cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadReference {
    pub reference: String,
    pub problem: String,
}

impl fmt::Display for BadReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference {:?}: {}",
            self.reference, self.problem
        )
    }
}

impl std::error::Error for BadReference {}

impl Reference {
    /// Parse `[HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST]` (without `docker://`).
    pub fn parse(text: &str) -> Result<Reference, BadReference> {
        let bad = |problem: &str| BadReference {
            reference: text.to_string(),
            problem: problem.to_string(),
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest).map_err(|p| bad(&p))?)),
            None => (text, None),
        };
        // A `:` after the last `/` starts the tag; one before it is a port.
        let (name, tag) = match rest.rfind(':') {
            Some(at) if !rest[at..].contains('/') => (&rest[..at], Some(&rest[at + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(bad(&format!(
                    "{tag:?} is not a valid tag (letters, digits, `_`, `.` and `-`, \
                     at most 128, not starting with `.` or `-`)"
                )));
            }
        }
        if name.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        if name.len() > MAX_NAME_LENGTH {
            return Err(bad(&format!(
                "the repository name is longer than {MAX_NAME_LENGTH} characters"
            )));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !valid_host(first) {
                    return Err(bad(&format!("{first:?} is not a valid registry host")));
                }
                (first, path)
            }
            _ => (DOCKER_HUB, name),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository names must be lowercase"));
        }
        if let Some(component) = path.split('/').find(|c| !valid_component(c)) {
            return Err(bad(&format!(
                "{component:?} is not a valid repository path component \
                 (lowercase letters and digits, separated by `.`, `_`, `__` or `-`)"
            )));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// The name `docker pull` gives the image locally (`ubuntu:24.04`,
    /// `ghcr.io/org/tool:2.1`), or `None` for a by-digest reference.
    pub fn local_name(&self) -> Option<String> {
        if self.digest.is_some() {
            return None;
        }
        let tag = self.tag.as_deref()?;
        Some(format!("{}:{tag}", self.familiar_repository()))
    }

    /// The repository as Docker shows it: no `docker.io/`, and no
    /// `library/` before a one-component Hub name.
    pub fn familiar_repository(&self) -> String {
        if self.registry != DOCKER_HUB {
            return format!("{}/{}", self.registry, self.repository);
        }
        match self.repository.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// What the registry's manifest endpoint is asked for: the digest when
    /// there is one, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/ubuntu:24.04`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether `text` is `sha256:` and 64 lowercase hex digits.
pub fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn parse_digest(digest: &str) -> Result<String, String> {
    if is_sha256_digest(digest) {
        return Ok(digest.to_string());
    }
    match digest.split_once(':') {
        Some((algorithm, _)) if algorithm != "sha256" && !algorithm.is_empty() => Err(format!(
            "digest algorithm {algorithm:?} is not supported (only sha256)"
        )),
        _ => Err(format!(
            "{digest:?} is not a valid digest (sha256: and 64 lowercase hex digits)"
        )),
    }
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A host name (`[A-Za-z0-9]` labels with inner `-`, joined by `.`) or a
/// bracketed IPv6 address, with an optional numeric port.
fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// reference, registry, repository, tag, digest, local name
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );

    #[test]
    fn references_are_normalised_as_docker_does() {
        let digest_ref = format!("ubuntu@{D}");
        let both = format!("ghcr.io/org/tool:2.1@{D}");
        let cases: &[Case] = &[
            (
                "ubuntu",
                "docker.io",
                "library/ubuntu",
                Some("latest"),
                None,
                Some("ubuntu:latest"),
            ),
            (
                "ubuntu:24.04",
                "docker.io",
                "library/ubuntu",
                Some("24.04"),
                None,
                Some("ubuntu:24.04"),
            ),
            (
                "docker.io/ubuntu:24.04",
                "docker.io",
                "library/ubuntu",
                Some("24.04"),
                None,
                Some("ubuntu:24.04"),
            ),
            (
                "index.docker.io/library/ubuntu",
                "docker.io",
                "library/ubuntu",
                Some("latest"),
                None,
                Some("ubuntu:latest"),
            ),
            (
                "docker.io/library/ubuntu:24.04",
                "docker.io",
                "library/ubuntu",
                Some("24.04"),
                None,
                Some("ubuntu:24.04"),
            ),
            (
                "arvados/jobs:2.7",
                "docker.io",
                "arvados/jobs",
                Some("2.7"),
                None,
                Some("arvados/jobs:2.7"),
            ),
            (
                "library/foo/bar",
                "docker.io",
                "library/foo/bar",
                Some("latest"),
                None,
                Some("library/foo/bar:latest"),
            ),
            (
                "ghcr.io/org/tool:2.1",
                "ghcr.io",
                "org/tool",
                Some("2.1"),
                None,
                Some("ghcr.io/org/tool:2.1"),
            ),
            (
                "localhost:5000/x:1",
                "localhost:5000",
                "x",
                Some("1"),
                None,
                Some("localhost:5000/x:1"),
            ),
            (
                "localhost/x",
                "localhost",
                "x",
                Some("latest"),
                None,
                Some("localhost/x:latest"),
            ),
            (
                "127.0.0.1:5000/a/b/c",
                "127.0.0.1:5000",
                "a/b/c",
                Some("latest"),
                None,
                Some("127.0.0.1:5000/a/b/c:latest"),
            ),
            (
                "[::1]:5000/x:y",
                "[::1]:5000",
                "x",
                Some("y"),
                None,
                Some("[::1]:5000/x:y"),
            ),
            (
                "Registry.Example.COM/x",
                "Registry.Example.COM",
                "x",
                Some("latest"),
                None,
                Some("Registry.Example.COM/x:latest"),
            ),
            (
                "a__b-c---d/e.f_g:_T.1-x",
                "docker.io",
                "a__b-c---d/e.f_g",
                Some("_T.1-x"),
                None,
                Some("a__b-c---d/e.f_g:_T.1-x"),
            ),
            (
                &digest_ref,
                "docker.io",
                "library/ubuntu",
                None,
                Some(D),
                None,
            ),
            (&both, "ghcr.io", "org/tool", Some("2.1"), Some(D), None),
        ];
        for (text, registry, repository, tag, digest, local) in cases {
            let r = Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.registry, *registry, "{text}");
            assert_eq!(r.repository, *repository, "{text}");
            assert_eq!(r.tag.as_deref(), *tag, "{text}");
            assert_eq!(r.digest.as_deref(), *digest, "{text}");
            assert_eq!(r.local_name().as_deref(), *local, "{text}");
        }
    }

    #[test]
    fn bad_references_say_why() {
        let long = format!("a{}", "b".repeat(300));
        let cases: &[(&str, &str)] = &[
            ("", "it is empty"),
            ("Ubuntu", "repository names must be lowercase"),
            ("ghcr.io/Org/tool", "repository names must be lowercase"),
            ("ubuntu:", "\"\" is not a valid tag"),
            ("ubuntu:.x", "\".x\" is not a valid tag"),
            ("ubuntu:a/b", "\"ubuntu:a\" is not a valid registry host"), // `:` before a `/`: a port
            ("ubuntu@sha256:abc", "is not a valid digest"),
            (
                "ubuntu@sha512:abc",
                "digest algorithm \"sha512\" is not supported",
            ),
            ("ubuntu@", "is not a valid digest"),
            ("a//b", "\"\" is not a valid repository path component"),
            ("a/b/", "\"\" is not a valid repository path component"),
            ("-a", "\"-a\" is not a valid repository path component"),
            ("a..b", "\"a..b\" is not a valid repository path component"),
            (
                "a___b",
                "\"a___b\" is not a valid repository path component",
            ),
            ("a b", "\"a b\" is not a valid repository path component"),
            ("host:port/x", "\"host:port\" is not a valid registry host"),
            ("-bad.host/x", "\"-bad.host\" is not a valid registry host"),
            ("[::1/x", "\"[::1\" is not a valid registry host"),
            (
                "example.com:/x",
                "\"example.com:\" is not a valid registry host",
            ),
            (":tag", "the repository name is empty"),
            (&long, "longer than 255"),
        ];
        for (text, problem) in cases {
            let e = Reference::parse(text).expect_err(text);
            assert!(e.problem.contains(problem), "{text:?}: {:?}", e.problem);
            assert!(e.to_string().starts_with("invalid image reference"), "{e}");
        }
    }

    #[test]
    fn display_is_the_full_form() {
        for (text, full) in [
            ("ubuntu", "docker.io/library/ubuntu:latest"),
            ("localhost:5000/x:1", "localhost:5000/x:1"),
        ] {
            assert_eq!(Reference::parse(text).unwrap().to_string(), full);
        }
        let r = Reference::parse(&format!("x@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/x@{D}"));
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(Reference::parse("x:7").unwrap().manifest_reference(), "7");
        // Parsing the full form gives the same reference back.
        for text in ["ubuntu:24.04", "ghcr.io/org/tool:2.1", "localhost:5000/x"] {
            let r = Reference::parse(text).unwrap();
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        }
    }
}
