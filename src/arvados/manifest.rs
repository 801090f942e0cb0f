//! Manifest text and portable data hashes (spec §5.1, §6): Keep locators,
//! name escaping, the one-file manifest arv-put writes, and the portable
//! data hash the server computes from it.
//!
//! Everything here is pure: the PDH of a collection depends only on the
//! manifest text the client sends, so this module is where "identical to
//! arv-put" is decided.

use std::collections::HashMap;

use md5::{Digest, Md5};

use crate::error::{Error, Result};

/// Keep's block size: arv-put cuts files into blocks of exactly this many
/// bytes, plus a short final block.
pub const BLOCK_SIZE: usize = 64 << 20;

/// The locator of the empty block, used for empty files; never uploaded.
pub const EMPTY_BLOCK_LOCATOR: &str = "d41d8cd98f00b204e9800998ecf8427e+0";

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The md5 of `data` in lower-case hex.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// A Keep locator: `<md5>+<size>` and optional hints such as the
/// permission signature `+A<sig>@<expiry>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locator {
    hash: String,
    size: u64,
    hints: Vec<String>,
}

impl Locator {
    /// Parses a locator with a size: `^[0-9a-f]{32}\+[0-9]+(\+[A-Z][A-Za-z0-9@_-]*)*$`.
    pub fn parse(text: &str) -> Result<Locator> {
        let bad = |problem: &str| Error::BadLocator {
            locator: text.to_string(),
            problem: problem.to_string(),
        };
        let mut parts = text.split('+');
        let hash = parts.next().unwrap_or("");
        if !is_md5_hex(hash) {
            return Err(bad("it does not start with 32 lower-case hex digits"));
        }
        let size = parts
            .next()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("it has no +size"))?;
        let mut hints = Vec::new();
        for hint in parts {
            if !is_hint(hint) {
                return Err(bad("a hint is not [A-Z][A-Za-z0-9@_-]*"));
            }
            hints.push(hint.to_string());
        }
        Ok(Locator {
            hash: hash.to_string(),
            size,
            hints,
        })
    }

    /// A locator without hints.
    #[cfg(test)]
    pub fn new(hash: &str, size: u64) -> Locator {
        Locator {
            hash: hash.to_string(),
            size,
            hints: Vec::new(),
        }
    }

    /// The md5 hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The block size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The permission signature hint (`A...@...`), if any.
    pub fn permission_hint(&self) -> Option<&str> {
        self.hints
            .iter()
            .find(|h| h.starts_with('A'))
            .map(String::as_str)
    }

    /// `<md5>+<size>`.
    pub fn bare(&self) -> String {
        format!("{}+{}", self.hash, self.size)
    }
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{}", self.hash, self.size)?;
        for h in &self.hints {
            write!(f, "+{h}")?;
        }
        Ok(())
    }
}

fn is_md5_hex(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_hint(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'_' | b'-'))
}

/// `<md5>+<size>` of a block.
pub fn bare_locator(hash: &str, size: u64) -> String {
    format!("{hash}+{size}")
}

/// Escapes a stream or file name for a manifest: backslash, colon and the
/// bytes `\000`–`\040` become `\` plus three octal digits. Other bytes,
/// including non-ASCII UTF-8, are kept.
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c == '\\' || c == ':' || (c as u32) <= 0o40 {
            out.push_str(&format!("\\{:03o}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Undoes [`escape_name`]: `\ooo` and `\\`.
pub fn unescape_name(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let octal = bytes
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
            if let Some(d) = octal {
                let v = (d[0] - b'0') as u32 * 64 + (d[1] - b'0') as u32 * 8 + (d[2] - b'0') as u32;
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
            if bytes.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The manifest arv-put writes for one file at the collection root made of
/// these blocks: `. <loc1> ... <locN> 0:<size>:<escaped name>\n`. With no
/// blocks (an empty file) the empty-block locator stands in.
pub fn one_file_manifest<S: AsRef<str>>(locators: &[S], size: u64, name: &str) -> String {
    let mut text = String::from(".");
    if locators.is_empty() {
        text.push(' ');
        text.push_str(EMPTY_BLOCK_LOCATOR);
    }
    for loc in locators {
        text.push(' ');
        text.push_str(loc.as_ref());
    }
    text.push_str(&format!(" 0:{size}:{}\n", escape_name(name)));
    text
}

/// The manifest with every locator reduced to `<md5>+<size>` (spec §6.2
/// steps 1–3): the text whose md5 is the portable data hash.
pub fn strip_manifest(manifest: &str) -> String {
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.lines() {
        let mut tokens = line.split(' ');
        if let Some(stream) = tokens.next() {
            out.push_str(stream);
        }
        for token in tokens {
            out.push(' ');
            match Locator::parse(token) {
                Ok(loc) => out.push_str(&loc.bare()),
                Err(_) => out.push_str(token),
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    }
    out
}

/// The portable data hash of a manifest: md5 of the stripped text, `+`,
/// its length.
pub fn portable_data_hash(manifest: &str) -> String {
    let stripped = strip_manifest(manifest);
    format!("{}+{}", md5_hex(stripped.as_bytes()), stripped.len())
}

/// One file of a manifest: its stream line, and its segments in that
/// stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    /// The stream name, unescaped (`.` for the root).
    pub stream: String,
    /// The file name, unescaped.
    pub name: String,
    /// Index of its stream line.
    pub line: usize,
    /// `(position in the stream, size)`, in file order.
    pub segments: Vec<(u64, u64)>,
    /// The file's segments appear on more than one stream line.
    pub split: bool,
}

/// The streams' locators and the files of a manifest (spec §6.1). Empty
/// directory markers (`0:0:.`) are not files.
pub fn manifest_files(
    text: &str,
) -> std::result::Result<(Vec<Vec<Locator>>, Vec<ManifestFile>), String> {
    let mut streams = Vec::new();
    let mut files: Vec<ManifestFile> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for (line_no, line) in text.lines().enumerate() {
        if line.is_empty() {
            streams.push(Vec::new());
            continue;
        }
        let bad = || format!("its manifest line {} is malformed", line_no + 1);
        let mut tokens = line.split(' ');
        let stream = unescape_name(tokens.next().ok_or_else(bad)?);
        let mut locators = Vec::new();
        let mut seen_file = false;
        for token in tokens {
            if let Ok(loc) = Locator::parse(token) {
                if seen_file {
                    return Err(bad());
                }
                locators.push(loc);
                continue;
            }
            let mut fields = token.splitn(3, ':');
            let (Some(pos), Some(size), Some(name)) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad());
            };
            let (Ok(pos), Ok(size)) = (pos.parse::<u64>(), size.parse::<u64>()) else {
                return Err(bad());
            };
            seen_file = true;
            let name = unescape_name(name);
            if name == "." {
                continue;
            }
            let key = (stream.clone(), name.clone());
            match index.get(&key) {
                Some(&i) => {
                    let file = &mut files[i];
                    file.split |= file.line != line_no;
                    if size > 0 {
                        file.segments.push((pos, size));
                    }
                }
                None => {
                    index.insert(key, files.len());
                    files.push(ManifestFile {
                        stream: stream.clone(),
                        name,
                        line: line_no,
                        segments: if size > 0 { vec![(pos, size)] } else { vec![] },
                        split: false,
                    });
                }
            }
        }
        streams.push(locators);
    }
    Ok((streams, files))
}

/// The image id a file name gives: `sha256:<64 hex>.tar` or `<64 hex>.tar`
/// minus `.tar` (the server's pattern for v1 and v2, spec §8.1).
pub fn image_id_of_file_name(name: &str) -> Option<&str> {
    let id = name.strip_suffix(".tar")?;
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The image file of a collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile {
    /// The file name minus `.tar`.
    pub id: String,
    pub name: String,
    pub locators: Vec<Locator>,
    pub segments: Vec<(u64, u64)>,
}

/// The one `sha256:<id>.tar` at the root of a collection's manifest, or
/// why the manifest is not an image collection's.
pub fn image_file_of(manifest: &str) -> std::result::Result<ImageFile, String> {
    const ONE: &str = "an image collection holds exactly one sha256:<id>.tar at its root";
    let (mut streams, files) = manifest_files(manifest)?;
    let file = match files.as_slice() {
        [] => return Err(format!("holds no file; {ONE}")),
        [file] => file,
        more => return Err(format!("holds {} files; {ONE}", more.len())),
    };
    let path = if file.stream == "." {
        file.name.clone()
    } else {
        format!("{}/{}", file.stream, file.name)
    };
    let id = match image_id_of_file_name(&file.name) {
        Some(id) if file.stream == "." => id.to_string(),
        _ => return Err(format!("holds one file, {path}; {ONE}")),
    };
    if file.split {
        return Err(format!(
            "holds {path} spread over several manifest streams, which this tool cannot read"
        ));
    }
    Ok(ImageFile {
        id,
        name: file.name.clone(),
        locators: std::mem::take(&mut streams[file.line]),
        segments: file.segments.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_NAME: &str =
        "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a.tar";

    #[test]
    fn worked_example_1_foo_txt() {
        assert_eq!(md5_hex(b"foo"), "acbd18db4cc2f85cedef654fccc4a4d8");
        let m = one_file_manifest(&["acbd18db4cc2f85cedef654fccc4a4d8+3"], 3, "foo.txt");
        assert_eq!(m, ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo.txt\n");
        assert_eq!(m.len(), 49);
        assert_eq!(
            portable_data_hash(&m),
            "83367e8913dcec0bf3fc25ed5a27eacb+49"
        );
    }

    #[test]
    fn worked_example_2_docker_name() {
        assert_eq!(
            bare_locator(&md5_hex(b"hello\n"), 6),
            "b1946ac92492d2347c6235b4d2611184+6"
        );
        let m = one_file_manifest(&["b1946ac92492d2347c6235b4d2611184+6"], 6, DOCKER_NAME);
        assert_eq!(
            m,
            ". b1946ac92492d2347c6235b4d2611184+6 0:6:sha256\\072d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a.tar\n"
        );
        assert_eq!(m.len(), 120);
        assert_eq!(
            portable_data_hash(&m),
            "f9e43acc9ea29a42c37eb64aa839c5a0+120"
        );
        // The signed form has the same PDH.
        let signed = one_file_manifest(
            &["b1946ac92492d2347c6235b4d2611184+6+A0123456789abcdef0123456789abcdef01234567@66a1b2c3"],
            6,
            DOCKER_NAME,
        );
        assert_eq!(
            portable_data_hash(&signed),
            "f9e43acc9ea29a42c37eb64aa839c5a0+120"
        );
    }

    #[test]
    fn worked_example_3_two_blocks() {
        let zeros = vec![0u8; BLOCK_SIZE];
        let first = bare_locator(&md5_hex(&zeros), BLOCK_SIZE as u64);
        assert_eq!(first, "7f614da9329cd3aebf59b91aadc30bf0+67108864");
        let second = bare_locator(&md5_hex(b"hello"), 5);
        assert_eq!(second, "5d41402abc4b2a76b9719d911017c592+5");
        let m = one_file_manifest(&[first, second], 67_108_869, DOCKER_NAME);
        assert_eq!(
            m,
            ". 7f614da9329cd3aebf59b91aadc30bf0+67108864 5d41402abc4b2a76b9719d911017c592+5 \
             0:67108869:sha256\\072d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a.tar\n"
        );
        assert_eq!(m.len(), 169);
        assert_eq!(
            portable_data_hash(&m),
            "fd11ced60fef4dda24083623ea817d51+169"
        );
    }

    #[test]
    fn worked_example_4_escapes() {
        assert_eq!(escape_name("my file.tar"), "my\\040file.tar");
        assert_eq!(escape_name("a\\b"), "a\\134b");
        assert_eq!(escape_name("a\tb"), "a\\011b");
        assert_eq!(escape_name("a:b"), "a\\072b");
        assert_eq!(escape_name("\u{0}\n"), "\\000\\012");
        assert_eq!(escape_name("é~!"), "é~!");
        for name in ["my file.tar", "a\\b", "x:y\tz", "é", "plain"] {
            assert_eq!(unescape_name(&escape_name(name)), name);
        }
        assert_eq!(unescape_name("a\\\\b"), "a\\b");
    }

    #[test]
    fn empty_file_uses_the_empty_block() {
        let m = one_file_manifest::<&str>(&[], 0, "empty.tar");
        assert_eq!(m, ". d41d8cd98f00b204e9800998ecf8427e+0 0:0:empty.tar\n");
    }

    #[test]
    fn locators_parse_and_strip() {
        let s =
            "acbd18db4cc2f85cedef654fccc4a4d8+3+A0123456789abcdef0123456789abcdef01234567@66a1b2c3";
        let loc = Locator::parse(s).unwrap();
        assert_eq!(loc.hash(), "acbd18db4cc2f85cedef654fccc4a4d8");
        assert_eq!(loc.size(), 3);
        assert_eq!(loc.bare(), "acbd18db4cc2f85cedef654fccc4a4d8+3");
        assert_eq!(
            loc.permission_hint(),
            Some("A0123456789abcdef0123456789abcdef01234567@66a1b2c3")
        );
        assert_eq!(loc.to_string(), s);
        for bad in [
            "acbd18db4cc2f85cedef654fccc4a4d8",
            "ACBD18DB4CC2F85CEDEF654FCCC4A4D8+3",
            "acbd18db4cc2f85cedef654fccc4a4d+3",
            "acbd18db4cc2f85cedef654fccc4a4d8+x",
            "acbd18db4cc2f85cedef654fccc4a4d8+3+a",
            "0:3:foo.txt",
        ] {
            assert!(Locator::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_file_manifest_keeps_signatures_and_escapes_the_name() {
        let signed = [
            "7f614da9329cd3aebf59b91aadc30bf0+67108864+Aabc@12345678",
            "5d41402abc4b2a76b9719d911017c592+5+Adef@12345678",
        ];
        let m = one_file_manifest(&signed, 67_108_869, "my image.tar");
        assert_eq!(
            m,
            format!(
                ". {} {} 0:67108869:my\\040image.tar\n",
                signed[0], signed[1]
            )
        );
    }

    #[test]
    fn pdh_strips_trailing_whitespace_and_all_hints() {
        let m = ". acbd18db4cc2f85cedef654fccc4a4d8+3+K@zzzzz+Afoo@1 0:3:foo.txt  \n";
        assert_eq!(portable_data_hash(m), "83367e8913dcec0bf3fc25ed5a27eacb+49");
    }

    const HEX: &str = "d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a";

    #[test]
    fn file_names_give_image_ids() {
        let v2 = format!("sha256:{HEX}.tar");
        assert_eq!(image_id_of_file_name(&v2), Some(&v2[..71]));
        let v1 = format!("{HEX}.tar");
        assert_eq!(image_id_of_file_name(&v1), Some(HEX));
        assert_eq!(image_id_of_file_name(&format!("sha256:{HEX}")), None);
        assert_eq!(
            image_id_of_file_name(&format!("sha256:{}.tar", &HEX[1..])),
            None
        );
        assert_eq!(image_id_of_file_name(&format!("sha512:{HEX}.tar")), None);
        assert_eq!(image_id_of_file_name("image.tar"), None);
    }

    #[test]
    fn manifest_shapes() {
        let one = format!(
            ". acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@123 b1946ac92492d2347c6235b4d2611184+6 \
             0:9:sha256\\072{HEX}.tar\n"
        );
        let image = image_file_of(&one).unwrap();
        assert_eq!(image.id, format!("sha256:{HEX}"));
        assert_eq!(image.locators.len(), 2);
        assert_eq!(
            image.locators[0].to_string(),
            "acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@123"
        );
        assert_eq!(image.segments, [(0, 9)]);

        let three = ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:1:a 1:1:b\n\
                     ./d acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:c\n";
        assert_eq!(
            image_file_of(three).unwrap_err(),
            "holds 3 files; an image collection holds exactly one sha256:<id>.tar at its root"
        );
        let wrong = ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:image.tar\n";
        assert!(image_file_of(wrong)
            .unwrap_err()
            .starts_with("holds one file, image.tar; an image collection holds exactly one"));
        let deep = format!("./x acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:{HEX}.tar\n");
        assert!(image_file_of(&deep)
            .unwrap_err()
            .starts_with(&format!("holds one file, ./x/{HEX}.tar;")));
        assert!(image_file_of("").unwrap_err().starts_with("holds no file"));
        // Several segments of one file, and an empty directory marker.
        let segs = format!(
            ". acbd18db4cc2f85cedef654fccc4a4d8+3 b1946ac92492d2347c6235b4d2611184+6 \
             3:6:{HEX}.tar 0:3:{HEX}.tar\n./e d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n"
        );
        let image = image_file_of(&segs).unwrap();
        assert_eq!(image.segments, [(3, 6), (0, 3)]);
        assert_eq!(
            image_file_of(". acbd18db4cc2f85cedef654fccc4a4d8+3 0:x:a\n").unwrap_err(),
            "its manifest line 1 is malformed"
        );
    }

    /// MD5 written out from RFC 1321, slow and plain: the reference the
    /// md-5 crate (or any faster backend it is swapped for) is checked
    /// against.
    fn reference_md5(data: &[u8]) -> String {
        const S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
        // K[i] = floor(|sin(i + 1)| * 2^32), as the RFC derives its table.
        let k: Vec<u32> = (0..64)
            .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
            .collect();
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&(data.len() as u64).wrapping_mul(8).to_le_bytes());
        let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
        for chunk in msg.chunks(64) {
            let m: Vec<u32> = chunk
                .chunks(4)
                .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
                .collect();
            let [mut a, mut b, mut c, mut d] = h;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                (a, d, c) = (d, c, b);
                b = b.wrapping_add(f.rotate_left(S[(i / 16) * 4 + i % 4]));
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d]) {
                *x = x.wrapping_add(y);
            }
        }
        let bytes: Vec<u8> = h.iter().flat_map(|x| x.to_le_bytes()).collect();
        hex(&bytes)
    }

    /// Incompressible bytes, the same on every run (xorshift64).
    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    #[test]
    fn md5_rfc1321_test_suite() {
        for (input, digest) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(md5_hex(input.as_bytes()), digest, "{input:?}");
            assert_eq!(reference_md5(input.as_bytes()), digest, "{input:?}");
        }
        assert_eq!(md5_hex(&[]), EMPTY_BLOCK_LOCATOR.split('+').next().unwrap());
    }

    #[test]
    fn md5_matches_the_reference_on_random_inputs_of_many_lengths() {
        // Every length across the padding boundaries of the first blocks,
        // then larger ones on both sides of 64-byte and page multiples.
        let mut lengths: Vec<usize> = (0..=300).collect();
        for base in [4096, 65_536, 1 << 20, 3 << 20] {
            lengths.extend([base - 65, base - 1, base, base + 1, base + 55, base + 56]);
        }
        let data = random_bytes(*lengths.iter().max().unwrap(), 18);
        for len in lengths {
            let part = &data[..len];
            assert_eq!(md5_hex(part), reference_md5(part), "length {len}");
        }
    }
}
