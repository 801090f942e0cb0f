//! The image format check against the cluster's `dockerImageFormats`
//! (spec §3.3), as a pure verdict plus the one function that logs it.
//!
//! One deliberate fix: an empty (or absent) list disables the check, as the
//! server configuration documents, where legacy refused every image.

use crate::error::{Error, Result};
use crate::log;

/// The format of an image id: `sha256:<hex>` is v2, bare hex is v1.
pub fn image_format(image_id: &str) -> &'static str {
    if image_id.starts_with("sha256:") {
        "v2"
    } else if !image_id.contains(':') {
        "v1"
    } else {
        "unknown"
    }
}

/// What the check says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The format is listed.
    Supported,
    /// The server lists no formats: the check is disabled.
    Unchecked,
    /// The format is not listed; the legacy ERROR text.
    Unsupported(String),
}

/// The verdict for `image_id` given the discovery document's list.
pub fn verdict(image_id: &str, supported: Option<&[String]>) -> Verdict {
    let supported = match supported {
        Some(list) if !list.is_empty() => list,
        _ => return Verdict::Unchecked,
    };
    let format = image_format(image_id);
    if supported.iter().any(|f| f == format) {
        return Verdict::Supported;
    }
    let list: Vec<String> = supported
        .iter()
        .map(|f| crate::request::py_repr(f))
        .collect();
    Verdict::Unsupported(format!(
        "image format is {} but server supports only [{}]",
        crate::request::py_repr(format),
        list.join(", ")
    ))
}

/// Logs the verdict as legacy does and refuses an unsupported image unless
/// `force` (`--force-image-format`).
pub fn ensure_supported(image_id: &str, supported: Option<&[String]>, force: bool) -> Result<()> {
    match verdict(image_id, supported) {
        Verdict::Supported => Ok(()),
        Verdict::Unchecked => {
            if supported.is_none() {
                log::warning(
                    "server does not specify supported image formats (see docker_image_formats \
                     in server config); storing the image without a format check.",
                );
            }
            Ok(())
        }
        Verdict::Unsupported(text) => {
            log::error(&text);
            if force {
                log::warning("forcing incompatible image");
                Ok(())
            } else {
                Err(Error::IncompatibleFormat)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_verdicts() {
        let v2 = "sha256:".to_string() + &"a".repeat(64);
        let v1 = "b".repeat(64);
        assert_eq!(image_format(&v2), "v2");
        assert_eq!(image_format(&v1), "v1");
        assert_eq!(image_format("md5:x"), "unknown");
        let only_v2 = vec!["v2".to_string()];
        let only_v1 = vec!["v1".to_string()];
        assert_eq!(verdict(&v2, Some(&only_v2)), Verdict::Supported);
        assert_eq!(verdict(&v2, Some(&[])), Verdict::Unchecked);
        assert_eq!(verdict(&v2, None), Verdict::Unchecked);
        assert_eq!(
            verdict(&v2, Some(&only_v1)),
            Verdict::Unsupported("image format is 'v2' but server supports only ['v1']".into())
        );
        let both = vec!["v1".to_string(), "x".to_string()];
        assert_eq!(
            verdict(&v2, Some(&both)),
            Verdict::Unsupported(
                "image format is 'v2' but server supports only ['v1', 'x']".into()
            )
        );
    }
}
