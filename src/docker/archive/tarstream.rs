//! A push parser for tar streams: bytes go in whatever pieces the reader
//! delivers, entries come out to a [`Sink`] as header, content slices, end.
//!
//! It holds one 512-byte block and the content of PAX / GNU extension headers
//! (at most 1 MiB), never a member's content, so a stream of any size is
//! parsed in constant memory. Header decoding follows Go's `archive/tar`,
//! which is what `docker save` writes with and `docker load` reads with:
//! ustar (with its prefix field), GNU long names and base-256 numbers, PAX
//! `path` / `linkpath` / `size` records. Where Go would quietly pick one of
//! two readings (a PAX size and a different header size, a PAX path and a
//! different GNU long name, a directory with content) this parser refuses the
//! archive instead, so what we check is what `docker load` will read.
//!
//! Unlike Go it also insists on the end-of-archive marker (two zero blocks,
//! which every tar writer emits, `docker save` included): a stream that stops
//! at a member boundary is reported as truncated, not taken as complete.

use super::error::ArchiveError;

/// The tar block size: headers are one block, content is padded to blocks.
pub(super) const BLOCK: usize = 512;
/// Largest member we believe in. Bigger sizes are damage or mischief.
pub(super) const MAX_MEMBER_SIZE: u64 = 1 << 40;
/// Largest PAX or GNU long-name header content (the same limit as Go's).
pub(super) const MAX_EXTENSION_SIZE: u64 = 1 << 20;

/// What kind of filesystem object a tar entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryKind {
    Regular,
    Directory,
    Symlink,
    HardLink,
    /// Devices, FIFOs and type letters nobody defined: carried through, never
    /// accepted where a file is needed.
    Other(u8),
}

impl EntryKind {
    pub(super) fn describe(self) -> &'static str {
        match self {
            EntryKind::Regular => "regular file",
            EntryKind::Directory => "directory",
            EntryKind::Symlink => "symbolic link",
            EntryKind::HardLink => "hard link",
            EntryKind::Other(b'3') => "character device",
            EntryKind::Other(b'4') => "block device",
            EntryKind::Other(b'6') => "FIFO",
            EntryKind::Other(_) => "special file",
        }
    }

    /// Types whose header carries no content (as in Go's `isHeaderOnlyType`).
    fn header_only(self) -> bool {
        matches!(
            self,
            EntryKind::Directory
                | EntryKind::Symlink
                | EntryKind::HardLink
                | EntryKind::Other(b'3' | b'4' | b'6')
        )
    }
}

/// One archive member as its headers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The path as recorded (PAX `path`, GNU long name or ustar prefix/name).
    pub name: String,
    /// The link target for links; empty otherwise.
    pub link: String,
    pub kind: EntryKind,
    /// Content bytes that follow the header.
    pub size: u64,
}

/// Receives the entries of a tar stream, in order: `begin`, then `data` with
/// consecutive slices of exactly `size` bytes in total, then `end`.
pub(super) trait Sink {
    fn begin(&mut self, entry: Entry) -> Result<(), ArchiveError>;
    fn data(&mut self, bytes: &[u8]);
    fn end(&mut self) -> Result<(), ArchiveError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extension {
    Pax,
    GlobalPax,
    LongName,
    LongLink,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Collecting a header block in `block`.
    Header,
    /// Passing `remaining` content bytes to the sink, then skipping `padding`.
    Content { remaining: u64, padding: u64 },
    /// Collecting an extension header's content in `extension`.
    Extension {
        kind: Extension,
        remaining: u64,
        padding: u64,
    },
    /// One zero block seen; the next block must be zero too.
    SecondZero,
    /// Past the end-of-archive marker: only zero padding may follow.
    End,
}

/// Extension records waiting for the header they apply to.
#[derive(Debug, Default)]
struct Pending {
    path: Option<String>,
    linkpath: Option<String>,
    size: Option<u64>,
    long_name: Option<String>,
    long_link: Option<String>,
    /// PAX `GNU.sparse.*` records: the entry is a sparse file.
    sparse: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.path.is_none()
            && self.linkpath.is_none()
            && self.size.is_none()
            && self.long_name.is_none()
            && self.long_link.is_none()
            && !self.sparse
    }
}

/// The streaming tar parser. Feed it with [`TarStream::update`], then call
/// [`TarStream::finish`] at the end of the input.
#[derive(Debug)]
pub(super) struct TarStream {
    state: State,
    block: [u8; BLOCK],
    fill: usize,
    /// Bytes consumed so far.
    offset: u64,
    /// Offset of the header of the entry or extension being read.
    header_offset: u64,
    extension: Vec<u8>,
    pending: Pending,
    /// Name and size of the entry whose content is streaming.
    current: Option<(String, u64)>,
    /// Name of the last complete entry, to say where a problem is.
    last: Option<String>,
}

impl Default for TarStream {
    fn default() -> Self {
        TarStream {
            state: State::Header,
            block: [0; BLOCK],
            fill: 0,
            offset: 0,
            header_offset: 0,
            extension: Vec::new(),
            pending: Pending::default(),
            current: None,
            last: None,
        }
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

impl TarStream {
    /// Bytes consumed so far.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Parses the next piece of the stream. Chunk boundaries do not matter.
    pub(super) fn update<S: Sink>(
        &mut self,
        mut input: &[u8],
        sink: &mut S,
    ) -> Result<(), ArchiveError> {
        while !input.is_empty() {
            match self.state {
                State::Header | State::SecondZero => {
                    let take = (BLOCK - self.fill).min(input.len());
                    self.block[self.fill..self.fill + take].copy_from_slice(&input[..take]);
                    self.fill += take;
                    self.offset += take as u64;
                    input = &input[take..];
                    if self.fill == BLOCK {
                        self.fill = 0;
                        self.header(sink)?;
                    }
                }
                State::Content { remaining, padding } if remaining > 0 => {
                    // The hot path: hand the caller's slice straight over.
                    let take = remaining.min(input.len() as u64) as usize;
                    sink.data(&input[..take]);
                    self.offset += take as u64;
                    input = &input[take..];
                    let remaining = remaining - take as u64;
                    self.state = State::Content { remaining, padding };
                    if remaining == 0 {
                        self.end_entry(sink, padding)?;
                    }
                }
                State::Content { padding, .. } => {
                    let take = padding.min(input.len() as u64) as usize;
                    self.offset += take as u64;
                    input = &input[take..];
                    self.state = match padding - take as u64 {
                        0 => State::Header,
                        padding => State::Content {
                            remaining: 0,
                            padding,
                        },
                    };
                }
                State::Extension {
                    kind,
                    remaining,
                    padding,
                } => {
                    let take = remaining.min(input.len() as u64) as usize;
                    self.extension.extend_from_slice(&input[..take]);
                    self.offset += take as u64;
                    input = &input[take..];
                    let remaining = remaining - take as u64;
                    self.state = State::Extension {
                        kind,
                        remaining,
                        padding,
                    };
                    if remaining == 0 {
                        self.apply_extension(kind)?;
                        self.state = match padding {
                            0 => State::Header,
                            padding => State::Content {
                                remaining: 0,
                                padding,
                            },
                        };
                    }
                }
                State::End => {
                    if let Some(at) = input.iter().position(|&b| b != 0) {
                        return Err(ArchiveError::TrailingData {
                            offset: self.offset + at as u64,
                        });
                    }
                    self.offset += input.len() as u64;
                    input = &[];
                }
            }
        }
        Ok(())
    }

    /// Says whether the stream ended where a tar archive may end.
    pub(super) fn finish(&self) -> Result<(), ArchiveError> {
        let truncated = |context: String| ArchiveError::Truncated {
            offset: self.offset,
            context,
        };
        let after = self.after();
        match self.state {
            State::End => Ok(()),
            State::Header if self.offset == 0 => Err(ArchiveError::Empty),
            // Too short to hold even one header: not worth calling truncated.
            State::Header if self.offset < BLOCK as u64 => {
                Err(match compression(&self.block[..self.fill]) {
                    Some(format) => ArchiveError::Compressed { format },
                    None => ArchiveError::NotTar,
                })
            }
            State::Header if self.fill > 0 => {
                Err(truncated(format!("it ends inside a tar header{after}")))
            }
            State::Header if !self.pending.is_empty() => Err(truncated(format!(
                "it ends after an extended header (PAX or GNU long name){after}"
            ))),
            State::Header => Err(truncated(format!(
                "it ends{after} without the end-of-archive marker"
            ))),
            State::Content { remaining, .. } => match &self.current {
                Some((name, size)) if remaining > 0 => Err(truncated(format!(
                    "it ends inside member {} after {} of its {size} bytes",
                    super::error::Name(name),
                    size - remaining
                ))),
                _ => Err(truncated(format!("it ends inside the padding{after}"))),
            },
            State::Extension { .. } => Err(truncated(format!(
                "it ends inside an extended header (PAX or GNU long name){after}"
            ))),
            State::SecondZero => Err(truncated(
                "it ends after a single zero block; a complete tar ends with two".into(),
            )),
        }
    }

    /// " after member `x`", to say where a nameless problem is.
    fn after(&self) -> String {
        match &self.last {
            Some(name) => format!(" after member {}", super::error::Name(name)),
            None => String::new(),
        }
    }

    fn bad(&self, member: Option<&str>, problem: String) -> ArchiveError {
        ArchiveError::BadHeader {
            offset: self.header_offset,
            member: member.map(str::to_owned),
            problem,
        }
    }

    fn end_entry<S: Sink>(&mut self, sink: &mut S, padding: u64) -> Result<(), ArchiveError> {
        sink.end()?;
        self.last = self.current.take().map(|(name, _)| name);
        self.state = match padding {
            0 => State::Header,
            padding => State::Content {
                remaining: 0,
                padding,
            },
        };
        Ok(())
    }

    /// Handles a complete header block.
    fn header<S: Sink>(&mut self, sink: &mut S) -> Result<(), ArchiveError> {
        self.header_offset = self.offset - BLOCK as u64;
        let block = &self.block;
        let zero = block.iter().all(|&b| b == 0);
        if let State::SecondZero = self.state {
            if zero {
                self.state = State::End;
                return Ok(());
            }
            return Err(self.bad(
                None,
                format!(
                    "a header follows a lone zero block{} (zero blocks only belong at the end)",
                    self.after()
                ),
            ));
        }
        if zero {
            if !self.pending.is_empty() {
                return Err(self.bad(
                    None,
                    "an extended header (PAX or GNU long name) is followed by the end of the \
                     archive"
                        .into(),
                ));
            }
            self.state = State::SecondZero;
            return Ok(());
        }
        if self.header_offset == 0 {
            if let Some(format) = compression(block) {
                return Err(ArchiveError::Compressed { format });
            }
        }
        if !checksum_ok(block) {
            return Err(if self.header_offset == 0 {
                ArchiveError::NotTar
            } else {
                self.bad(None, format!("checksum mismatch{}", self.after()))
            });
        }
        let typeflag = block[156];
        let raw_name = header_name(block);
        let header_size = match parse_numeric(&block[124..136]) {
            Some(size) => size,
            None => {
                let field = String::from_utf8_lossy(cstr(&block[124..136])).into_owned();
                return Err(self.bad(
                    Some(&raw_name),
                    format!("the size field {field:?} is not a number"),
                ));
            }
        };

        let extension = match typeflag {
            b'x' => Some(Extension::Pax),
            b'g' => Some(Extension::GlobalPax),
            b'L' => Some(Extension::LongName),
            b'K' => Some(Extension::LongLink),
            _ => None,
        };
        if let Some(kind) = extension {
            if header_size > MAX_EXTENSION_SIZE {
                return Err(self.bad(
                    Some(&raw_name),
                    format!(
                        "an extended header of {header_size} bytes is over the {} MiB limit",
                        MAX_EXTENSION_SIZE >> 20
                    ),
                ));
            }
            self.extension.clear();
            if header_size == 0 {
                self.apply_extension(kind)?;
            } else {
                self.state = State::Extension {
                    kind,
                    remaining: header_size,
                    padding: padding(header_size),
                };
            }
            return Ok(());
        }

        let pending = std::mem::take(&mut self.pending);
        let name = match (pending.path, pending.long_name) {
            (Some(path), Some(long)) if path != long => {
                return Err(self.bad(
                    Some(&path),
                    format!("its PAX path disagrees with its GNU long name {long:?}"),
                ))
            }
            (Some(path), _) => path,
            (None, Some(long)) => long,
            (None, None) => raw_name,
        };
        let link = match (pending.linkpath, pending.long_link) {
            (Some(path), Some(long)) if path != long => {
                return Err(self.bad(
                    Some(&name),
                    "its PAX linkpath disagrees with its GNU long link name".into(),
                ))
            }
            (Some(path), _) => path,
            (None, Some(long)) => long,
            (None, None) => String::from_utf8_lossy(cstr(&self.block[157..257])).into_owned(),
        };
        if pending.sparse {
            return Err(ArchiveError::Unsupported {
                member: name,
                what: "a GNU sparse file",
            });
        }
        let kind = match typeflag {
            b'0' | b'7' => EntryKind::Regular,
            // Pre-POSIX archives mark directories with a trailing slash only.
            0 if name.ends_with('/') => EntryKind::Directory,
            0 => EntryKind::Regular,
            b'1' => EntryKind::HardLink,
            b'2' => EntryKind::Symlink,
            b'5' => EntryKind::Directory,
            b'S' => {
                return Err(ArchiveError::Unsupported {
                    member: name,
                    what: "a GNU sparse file",
                })
            }
            b'M' => {
                return Err(ArchiveError::Unsupported {
                    member: name,
                    what: "the continuation of a multi-volume archive",
                })
            }
            other => EntryKind::Other(other),
        };
        let size = match pending.size {
            // Writers put 0 (Go, Python, libarchive) or the same number in the
            // header when a PAX size is needed; anything else is ambiguous.
            Some(pax) if header_size != 0 && header_size != pax => {
                return Err(self.bad(
                    Some(&name),
                    format!("its PAX size {pax} disagrees with its header size {header_size}"),
                ))
            }
            Some(pax) => pax,
            None => header_size,
        };
        if kind.header_only() && size != 0 {
            return Err(self.bad(
                Some(&name),
                format!(
                    "a {} cannot have content, yet it declares {size} bytes",
                    kind.describe()
                ),
            ));
        }
        if size > MAX_MEMBER_SIZE {
            return Err(self.bad(
                Some(&name),
                format!(
                    "it declares {size} bytes, over the {} TiB limit",
                    MAX_MEMBER_SIZE >> 40
                ),
            ));
        }
        self.current = Some((name.clone(), size));
        sink.begin(Entry {
            name,
            link,
            kind,
            size,
        })?;
        if size == 0 {
            self.end_entry(sink, 0)
        } else {
            self.state = State::Content {
                remaining: size,
                padding: padding(size),
            };
            Ok(())
        }
    }

    /// Applies a complete PAX or GNU extension to the next entry.
    fn apply_extension(&mut self, kind: Extension) -> Result<(), ArchiveError> {
        let data = std::mem::take(&mut self.extension);
        match kind {
            Extension::LongName | Extension::LongLink => {
                let text = String::from_utf8_lossy(cstr(&data)).into_owned();
                if text.is_empty() {
                    return Err(self.bad(None, "a GNU long name header is empty".into()));
                }
                if kind == Extension::LongName {
                    self.pending.long_name = Some(text);
                } else {
                    self.pending.long_link = Some(text);
                }
            }
            Extension::Pax | Extension::GlobalPax => {
                let records = parse_pax(&data).map_err(|problem| self.bad(None, problem.into()))?;
                // A global header applies to nothing in particular; moby's
                // untar ignores it too. Its records are still checked above.
                if kind == Extension::GlobalPax {
                    return Ok(());
                }
                for (key, value) in records {
                    match key.as_str() {
                        "path" | "linkpath" => {
                            if value.is_empty() || value.contains(&0) {
                                return Err(self.bad(
                                    None,
                                    format!("the PAX record `{key}` is empty or holds a NUL byte"),
                                ));
                            }
                            let value = String::from_utf8_lossy(&value).into_owned();
                            if key == "path" {
                                self.pending.path = Some(value);
                            } else {
                                self.pending.linkpath = Some(value);
                            }
                        }
                        "size" => {
                            let size = decimal(&value).ok_or_else(|| {
                                self.bad(
                                    None,
                                    format!(
                                        "the PAX size {:?} is not a number",
                                        String::from_utf8_lossy(&value)
                                    ),
                                )
                            })?;
                            self.pending.size = Some(size);
                        }
                        key if key.starts_with("GNU.sparse.") => self.pending.sparse = true,
                        // mtime, uid, xattrs...: nothing we check.
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// The bytes before the first NUL.
pub(super) fn cstr(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

/// The entry name from a header block, with the ustar prefix when present.
pub(super) fn header_name(block: &[u8; BLOCK]) -> String {
    let name = String::from_utf8_lossy(cstr(&block[..100]));
    let prefix: &[u8] = if &block[257..263] == b"ustar\0" {
        // The `star` variant keeps a trailer at the end of the prefix field.
        if &block[508..512] == b"tar\0" {
            cstr(&block[345..476])
        } else {
            cstr(&block[345..500])
        }
    } else {
        &[]
    };
    if prefix.is_empty() {
        name.into_owned()
    } else {
        format!("{}/{name}", String::from_utf8_lossy(prefix))
    }
}

/// Parses a numeric header field: octal text, or GNU base-256 binary when
/// the top bit is set. Negative or overflowing values give `None`.
pub(super) fn parse_numeric(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first & 0x40 != 0 {
                return None; // negative
            }
            field[1..]
                .iter()
                .try_fold(u64::from(first & 0x3f), |acc, &b| {
                    acc.checked_mul(256)?.checked_add(u64::from(b))
                })
        }
        _ => parse_octal(field),
    }
}

/// Octal text, padded with spaces or NULs on either side (empty means 0).
fn parse_octal(field: &[u8]) -> Option<u64> {
    let padding = |b: &u8| *b == b' ' || *b == 0;
    let start = field
        .iter()
        .position(|b| !padding(b))
        .unwrap_or(field.len());
    let end = field
        .iter()
        .rposition(|b| !padding(b))
        .map_or(start, |i| i + 1);
    field[start..end].iter().try_fold(0u64, |acc, &b| match b {
        b'0'..=b'7' => acc.checked_mul(8)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// A non-empty run of ASCII digits.
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| match b {
        b'0'..=b'9' => acc.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// The header checksum: the byte sum with the checksum field counted as
/// spaces. Old writers summed signed bytes; both are accepted, as Go does.
pub(super) fn checksum_ok(block: &[u8; BLOCK]) -> bool {
    let Some(stored) = parse_octal(&block[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored) == Ok(signed)
}

/// Parses PAX extended header records, `"<length> <key>=<value>\n"` each.
pub(super) fn parse_pax(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, &'static str> {
    let mut records = Vec::new();
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("a PAX record has no length")?;
        let digits = &data[..space];
        let len = decimal(digits).ok_or(
            if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                "a PAX record length is out of range"
            } else {
                "a PAX record length is not a number"
            },
        )?;
        // The shortest record is "<len> k=\n".
        if len < space as u64 + 4 || len > data.len() as u64 {
            return Err("a PAX record length is out of range");
        }
        let (record, rest) = data.split_at(len as usize);
        let body = &record[space + 1..];
        let Some(body) = body.strip_suffix(b"\n") else {
            return Err("a PAX record does not end with a newline");
        };
        let eq = body
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a PAX record has no `=`")?;
        let (key, value) = (&body[..eq], &body[eq + 1..]);
        if key.is_empty() || key.contains(&0) {
            return Err("a PAX record has an empty or binary key");
        }
        records.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
        data = rest;
    }
    Ok(records)
}

/// Names the compression format whose magic number starts `head`, the same
/// formats `docker load` detects.
pub(super) fn compression(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some("gzip")
    } else if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some("xz")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || zstd_skippable(head) {
        Some("zstd")
    } else {
        None
    }
}

/// A zstd skippable frame, which may precede the real one.
fn zstd_skippable(head: &[u8]) -> bool {
    head.len() >= 4
        && u32::from_le_bytes([head[0], head[1], head[2], head[3]]) & 0xffff_fff0 == 0x184d_2a50
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Records what the parser reports, to compare across chunkings.
    #[derive(Default, Debug, PartialEq)]
    pub(crate) struct Recorder {
        pub events: Vec<(Entry, Vec<u8>)>,
        open: bool,
    }

    impl Sink for Recorder {
        fn begin(&mut self, entry: Entry) -> Result<(), ArchiveError> {
            assert!(!self.open, "begin inside an entry");
            self.open = true;
            self.events.push((entry, Vec::new()));
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) {
            assert!(self.open);
            self.events.last_mut().unwrap().1.extend_from_slice(bytes);
        }
        fn end(&mut self) -> Result<(), ArchiveError> {
            assert!(self.open, "end outside an entry");
            self.open = false;
            let (entry, data) = self.events.last().unwrap();
            assert_eq!(entry.size, data.len() as u64);
            Ok(())
        }
    }

    pub(crate) fn parse(bytes: &[u8], chunk: usize) -> Result<Recorder, ArchiveError> {
        let mut tar = TarStream::default();
        let mut rec = Recorder::default();
        for piece in bytes.chunks(chunk.max(1)) {
            tar.update(piece, &mut rec)?;
        }
        tar.finish()?;
        Ok(rec)
    }

    /// A raw ustar header with a correct checksum.
    pub(crate) fn header(name: &str, typeflag: u8, size: u64) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        reseal(&mut h);
        h
    }

    pub(crate) fn reseal(h: &mut [u8; BLOCK]) {
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    }

    /// Appends header + content + padding.
    pub(crate) fn push(out: &mut Vec<u8>, header: &[u8; BLOCK], content: &[u8]) {
        out.extend_from_slice(header);
        out.extend_from_slice(content);
        out.resize(out.len() + padding(content.len() as u64) as usize, 0);
    }

    pub(crate) fn pax_record(key: &str, value: &str) -> String {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}").len() + body.len() != len {
            len += 1;
        }
        format!("{len}{body}")
    }

    fn end(out: &mut Vec<u8>) {
        out.extend_from_slice(&[0; 2 * BLOCK]);
    }

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        push(&mut out, &header("dir/", b'5', 0), b"");
        push(&mut out, &header("dir/a", b'0', 5), b"hello");
        push(&mut out, &header("empty", b'0', 0), b"");
        push(&mut out, &header("big", b'0', 1500), &[7u8; 1500]);
        push(&mut out, &header("exact", b'0', 512), &[1u8; 512]);
        let mut link = header("dir/l", b'2', 0);
        link[157..158].copy_from_slice(b"a");
        reseal(&mut link);
        push(&mut out, &link, b"");
        end(&mut out);
        out
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let bytes = sample();
        let whole = parse(&bytes, bytes.len()).unwrap();
        assert_eq!(whole.events.len(), 6);
        assert_eq!(whole.events[1].1, b"hello");
        assert_eq!(whole.events[5].0.link, "a");
        assert_eq!(whole.events[5].0.kind, EntryKind::Symlink);
        for chunk in [1, 2, 3, 7, 511, 512, 513, 1000, 1024, 4096] {
            assert_eq!(parse(&bytes, chunk).unwrap(), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn the_tar_crate_builder_output_parses_including_gnu_long_names() {
        let long = format!("{}/layer.tar", "d".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "short", &long).unwrap();
        let bytes = b.into_inner().unwrap();
        for chunk in [1, 100, 512, 100_000] {
            let rec = parse(&bytes, chunk).unwrap();
            assert_eq!(rec.events.len(), 2);
            assert_eq!(rec.events[0].0.name, long);
            assert_eq!(rec.events[0].1, b"abc");
            assert_eq!(rec.events[1].0.name, "short");
            assert_eq!(rec.events[1].0.link, long);
        }
    }

    #[test]
    fn ustar_prefix_and_pax_path_and_size() {
        let mut out = Vec::new();
        let mut h = header("layer.tar", b'0', 2);
        h[345..352].copy_from_slice(b"prefix1");
        reseal(&mut h);
        push(&mut out, &h, b"xy");
        let pax = pax_record("path", &"p".repeat(300)) + &pax_record("size", "4");
        push(
            &mut out,
            &header("PaxHeaders/x", b'x', pax.len() as u64),
            pax.as_bytes(),
        );
        // Go writes 0 in the header size when the PAX size is authoritative.
        push(&mut out, &header("truncated-name", b'0', 0), b"wxyz");
        end(&mut out);
        let rec = parse(&out, 3).unwrap();
        assert_eq!(rec.events[0].0.name, "prefix1/layer.tar");
        assert_eq!(rec.events[1].0.name, "p".repeat(300));
        assert_eq!(rec.events[1].1, b"wxyz");
    }

    #[test]
    fn global_pax_headers_are_ignored() {
        let mut out = Vec::new();
        let pax = pax_record("comment", "hello");
        push(
            &mut out,
            &header("g", b'g', pax.len() as u64),
            pax.as_bytes(),
        );
        push(&mut out, &header("a", b'0', 1), b"1");
        end(&mut out);
        let rec = parse(&out, 1).unwrap();
        assert_eq!(rec.events.len(), 1);
        assert_eq!(rec.events[0].0.name, "a");
    }

    #[test]
    fn base256_sizes_and_signed_checksums() {
        let mut h = header("a", b'0', 0);
        h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
        h[0] = 0xe9; // a high byte: signed and unsigned sums now differ
        reseal(&mut h);
        let mut out = Vec::new();
        push(&mut out, &h, b"abc");
        end(&mut out);
        assert_eq!(parse(&out, 512).unwrap().events[0].1, b"abc");

        // The same header checksummed the old signed way.
        let signed: i64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    i64::from(b as i8)
                }
            })
            .sum();
        h[148..155].copy_from_slice(format!("{signed:06o}\0").as_bytes());
        out[..BLOCK].copy_from_slice(&h);
        assert_eq!(parse(&out, 512).unwrap().events[0].1, b"abc");

        assert_eq!(parse_numeric(&[0xff; 12]), None, "negative");
        assert_eq!(
            parse_numeric(&[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]),
            None,
            "overflow"
        );
        assert_eq!(parse_octal(b"  0755 \0"), Some(0o755));
        assert_eq!(parse_octal(b"\0\0\0\0"), Some(0));
        assert_eq!(parse_octal(b"12 4"), None);
    }

    #[test]
    fn zero_blocks_and_trailing_bytes() {
        let mut out = Vec::new();
        push(&mut out, &header("a", b'0', 1), b"1");
        let complete = out.len() + 2 * BLOCK;
        end(&mut out);
        // Record padding (GNU tar pads to 10 KiB) is fine.
        out.resize(10240, 0);
        parse(&out, 100).unwrap();

        out.push(1);
        assert_eq!(
            parse(&out, 100).unwrap_err(),
            ArchiveError::TrailingData { offset: 10240 }
        );

        let e = parse(&out[..complete - BLOCK], 100).unwrap_err();
        assert!(e.to_string().contains("a single zero block"), "{e}");
        let e = parse(&out[..complete - 2 * BLOCK], 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the archive is truncated at byte 1024: it ends after member `a` without the \
             end-of-archive marker (was `docker save` interrupted, or the file cut short?)"
        );

        // A zero block in the middle.
        let mut mid = Vec::new();
        push(&mut mid, &header("a", b'0', 1), b"1");
        mid.extend_from_slice(&[0; BLOCK]);
        push(&mut mid, &header("b", b'0', 1), b"2");
        end(&mut mid);
        let e = parse(&mid, 7).unwrap_err();
        assert!(
            matches!(e, ArchiveError::BadHeader { offset: 1536, .. }),
            "{e:?}"
        );

        // An archive holding nothing at all is still a well-formed tar.
        assert_eq!(parse(&[0; 1024], 1).unwrap().events.len(), 0);
    }

    #[test]
    fn truncation_is_reported_where_it_happens() {
        let bytes = sample();
        assert_eq!(parse(&[], 1).unwrap_err(), ArchiveError::Empty);
        let e = parse(&bytes[..512 + 512 + 3], 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the archive is truncated at byte 1027: it ends inside member `dir/a` after 3 of its \
             5 bytes (was `docker save` interrupted, or the file cut short?)"
        );
        let e = parse(&bytes[..512 + 100], 10).unwrap_err();
        assert!(
            e.to_string()
                .contains("inside a tar header after member `dir/`"),
            "{e}"
        );
        let e = parse(&bytes[..512 + 512 + 10], 10).unwrap_err();
        assert!(
            e.to_string()
                .contains("inside the padding after member `dir/a`"),
            "{e}"
        );
        for cut in 1..bytes.len() - 2 * BLOCK {
            assert!(parse(&bytes[..cut], 4096).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn not_a_tar() {
        assert_eq!(parse(b"hello", 1).unwrap_err(), ArchiveError::NotTar);
        assert_eq!(parse(&[b'x'; 2000], 1).unwrap_err(), ArchiveError::NotTar);
        assert_eq!(
            parse(&[0x1f, 0x8b, 0x08, 0, 0, 0], 1).unwrap_err(),
            ArchiveError::Compressed { format: "gzip" }
        );
        assert_eq!(compression(&[0x5e, 0x2a, 0x4d, 0x18, 0]), Some("zstd"));
        assert_eq!(compression(b"BZh91AY"), Some("bzip2"));
        assert_eq!(compression(b"\xfd7zXZ\0"), Some("xz"));
        assert_eq!(compression(b"etc/\0\0\0"), None);
        let mut zstd = vec![0x28, 0xb5, 0x2f, 0xfd];
        zstd.resize(4096, 0x55);
        assert_eq!(
            parse(&zstd, 4096).unwrap_err(),
            ArchiveError::Compressed { format: "zstd" }
        );
        assert_eq!(
            ArchiveError::Compressed { format: "gzip" }.to_string(),
            "not a tar archive: the input is gzip-compressed; decompress it first, \
             arv-keepdocker stores the plain tar that `docker save` writes"
        );
    }

    fn one(h: [u8; BLOCK], content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push(&mut out, &header("first", b'0', 0), b"");
        push(&mut out, &h, content);
        end(&mut out);
        out
    }

    fn problem(bytes: &[u8]) -> String {
        match parse(bytes, 1000).unwrap_err() {
            ArchiveError::BadHeader { problem, .. } => problem,
            other => panic!("expected a bad header, got {other:?}"),
        }
    }

    #[test]
    fn malformed_headers() {
        let mut h = header("x", b'0', 1);
        h[0] = b'y';
        assert_eq!(
            problem(&one(h, b"1")),
            "checksum mismatch after member `first`"
        );

        let mut h = header("x", b'0', 0);
        h[124..136].copy_from_slice(b"0000000009a\0");
        reseal(&mut h);
        assert_eq!(
            problem(&one(h, b"")),
            "the size field \"0000000009a\" is not a number"
        );

        let mut h = header("x", b'0', 0);
        h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        reseal(&mut h);
        assert_eq!(
            problem(&one(h, b"")),
            "it declares 1099511627777 bytes, over the 1 TiB limit"
        );

        assert_eq!(
            problem(&one(header("d", b'5', 3), b"abc")),
            "a directory cannot have content, yet it declares 3 bytes"
        );

        let mut out = Vec::new();
        let pax = pax_record("size", "5");
        push(
            &mut out,
            &header("P", b'x', pax.len() as u64),
            pax.as_bytes(),
        );
        push(&mut out, &header("x", b'0', 4), b"abcd");
        end(&mut out);
        assert_eq!(
            problem(&out),
            "its PAX size 5 disagrees with its header size 4"
        );

        for bad in ["5 a=b", "x a=b\n", "99 a=b\n", "6 ab\n\n", "6 =b\n\n"] {
            let mut out = Vec::new();
            push(
                &mut out,
                &header("P", b'x', bad.len() as u64),
                bad.as_bytes(),
            );
            push(&mut out, &header("x", b'0', 0), b"");
            end(&mut out);
            assert!(problem(&out).contains("PAX record"), "{bad:?}");
        }

        let big = header("L", b'L', MAX_EXTENSION_SIZE + 1);
        let mut out = Vec::new();
        out.extend_from_slice(&big);
        assert!(problem(&out).contains("over the 1 MiB limit"));

        let mut out = Vec::new();
        let pax = pax_record("GNU.sparse.major", "1");
        push(
            &mut out,
            &header("P", b'x', pax.len() as u64),
            pax.as_bytes(),
        );
        push(&mut out, &header("x", b'0', 0), b"");
        end(&mut out);
        assert!(matches!(
            parse(&out, 1).unwrap_err(),
            ArchiveError::Unsupported { .. }
        ));
        assert!(matches!(
            parse(&one(header("s", b'S', 0), b""), 1).unwrap_err(),
            ArchiveError::Unsupported { .. }
        ));
    }

    #[test]
    fn pax_path_and_gnu_long_name_must_agree() {
        let mut out = Vec::new();
        let pax = pax_record("path", "one");
        push(
            &mut out,
            &header("P", b'x', pax.len() as u64),
            pax.as_bytes(),
        );
        push(&mut out, &header("././@LongLink", b'L', 4), b"two\0");
        push(&mut out, &header("x", b'0', 0), b"");
        end(&mut out);
        assert!(problem(&out).contains("disagrees with its GNU long name"));
        // Agreeing ones are fine.
        let mut out = Vec::new();
        push(
            &mut out,
            &header("P", b'x', pax.len() as u64),
            pax.as_bytes(),
        );
        push(&mut out, &header("././@LongLink", b'L', 4), b"one\0");
        push(&mut out, &header("x", b'0', 0), b"");
        end(&mut out);
        assert_eq!(parse(&out, 1).unwrap().events[0].0.name, "one");
    }

    #[test]
    fn pax_records() {
        let text = pax_record("path", "a b=c") + &pax_record("mtime", "1.5");
        let records = parse_pax(text.as_bytes()).unwrap();
        assert_eq!(records[0], ("path".into(), b"a b=c".to_vec()));
        assert_eq!(records[1], ("mtime".into(), b"1.5".to_vec()));
        assert_eq!(pax_record("path", "x"), "9 path=x\n");
        assert_eq!(pax_record("path", "abcdefghi").len(), 18);
        for (bad, problem) in [
            (
                "99999999999999999999 path=x\n",
                "a PAX record length is out of range",
            ),
            ("40 path=x\n", "a PAX record length is out of range"),
            ("1x path=x\n", "a PAX record length is not a number"),
            (" path=x\n", "a PAX record length is not a number"),
        ] {
            assert_eq!(parse_pax(bad.as_bytes()), Err(problem), "{bad:?}");
        }
    }
}
