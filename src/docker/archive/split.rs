//! Cutting an archive stream into layer-aligned pieces as it is read
//! (`--reuse-layers`, issue 16).
//!
//! Every regular member of at least [`ALIGN_MIN`] bytes (the layers, and
//! any other large blob) becomes a piece of its own: its content exactly,
//! so it starts a Keep block and ends one. Everything between two such
//! members (tar headers, extension headers, padding, small members, the
//! end-of-archive blocks) is one piece, packed. The same layer content
//! then always becomes the same Keep blocks, whatever archive it is in.
//!
//! The splitter only looks: the bytes it hands out are the stream's,
//! in order, none added or dropped, so the file stored is the archive
//! byte for byte (the Keep writer reads the pieces one after another).
//! A stream it cannot parse (a bad header, a cut member) is passed
//! through unaligned to its end: the archive checker under it, which sees
//! every byte, is what refuses a bad archive.
//!
//! Memory: one header block, and an extension header's text (GNU long
//! name, PAX records) up to [`MAX_EXTENSION`] bytes.

use std::io::{self, Read};

use super::members::normalize;
use super::tarstream::{checksum_ok, cstr, header_name, parse_numeric, parse_pax, BLOCK};

/// Regular members at least this large are aligned. Below it a member
/// costs at most this much to send again, while a block of its own would
/// cost a Keep request and a manifest entry each: the config JSON and the
/// small `json`/`VERSION` members of the classic layout stay packed, and
/// so does a layer small enough that aligning it saves nothing worth a
/// request.
pub const ALIGN_MIN: u64 = 1 << 20;

/// Extension header text longer than this is passed on, not parsed.
const MAX_EXTENSION: u64 = 1 << 20;

/// An aligned member: where its content lies in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Its name, normalized as the archive checker names members.
    pub member: String,
    /// The stream offset of its first content byte.
    pub offset: u64,
    pub size: u64,
}

/// What the next piece is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PieceKind {
    /// Headers, padding and small members.
    Packed,
    /// The content of one aligned member, exactly.
    Member(Span),
}

/// Where the parse is inside a packed piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The next byte starts a header block.
    Header,
    /// `left` bytes of a small member's content (and its padding).
    Content { left: u64, extension: Option<u8> },
    /// Not parsed any more: the end-of-archive blocks, or a stream that
    /// does not parse.
    Raw,
}

/// The splitter over a stream `R`: ask [`Splitter::next_piece`], then
/// read that piece to its end (0), then ask again.
pub struct Splitter<R> {
    inner: R,
    /// Bytes handed out so far.
    offset: u64,
    mode: Mode,
    /// A header block read ahead, and how much of it is handed out.
    head: Vec<u8>,
    head_out: usize,
    /// The member whose header the current packed piece ends with.
    pending: Option<Span>,
    /// In a member piece: content bytes left.
    member_left: Option<u64>,
    /// The padding after the last member piece, for the next packed one.
    padding: u64,
    /// The text of the extension header being read, and what it said.
    extension_text: Vec<u8>,
    long_name: Option<String>,
    pax_path: Option<String>,
    pax_size: Option<u64>,
    /// The inner stream has ended.
    ended: bool,
    /// The piece being read has ended.
    piece_done: bool,
    started: bool,
    spans: Vec<Span>,
}

impl<R: Read> Splitter<R> {
    pub fn new(inner: R) -> Self {
        Splitter {
            inner,
            offset: 0,
            mode: Mode::Header,
            head: Vec::with_capacity(BLOCK),
            head_out: 0,
            pending: None,
            member_left: None,
            padding: 0,
            extension_text: Vec::new(),
            long_name: None,
            pax_path: None,
            pax_size: None,
            ended: false,
            piece_done: false,
            started: false,
            spans: Vec::new(),
        }
    }

    /// The aligned members so far, in stream order.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Starts the next piece; `None` once the stream has ended. The piece
    /// before must have been read to its end.
    pub fn next_piece(&mut self) -> Option<PieceKind> {
        debug_assert!(
            !self.started || self.piece_done,
            "Splitter::next_piece before the piece was read to its end"
        );
        self.started = true;
        self.piece_done = false;
        if let Some(span) = self.pending.take() {
            self.member_left = Some(span.size);
            self.spans.push(span.clone());
            return Some(PieceKind::Member(span));
        }
        if self.ended {
            return None;
        }
        Some(PieceKind::Packed)
    }

    /// Reads from the inner stream, remembering its end.
    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        let n = loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            self.ended = true;
        }
        Ok(n)
    }

    /// The next bytes of a member piece.
    fn read_member(&mut self, buf: &mut [u8], left: u64) -> io::Result<usize> {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.read_inner(&mut buf[..want])?;
        let left = left - n as u64;
        self.offset += n as u64;
        if left == 0 || n == 0 {
            // The end of the content, or a stream cut inside it: whatever
            // follows is parsed no more.
            self.member_left = None;
            self.piece_done = true;
            self.mode = if left == 0 {
                Mode::Content {
                    left: self.padding,
                    extension: None,
                }
            } else {
                Mode::Raw
            };
            if left == 0 && self.padding == 0 {
                self.mode = Mode::Header;
            }
        } else {
            self.member_left = Some(left);
        }
        Ok(n)
    }

    /// Reads a whole header block ahead (or what is left of the stream)
    /// and decides what follows it.
    fn read_header(&mut self) -> io::Result<()> {
        self.head.clear();
        self.head_out = 0;
        let mut block = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            let n = self.read_inner(&mut block[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        self.head.extend_from_slice(&block[..got]);
        if got < BLOCK {
            self.mode = Mode::Raw;
            return Ok(());
        }
        if block.iter().all(|&b| b == 0) || !checksum_ok(&block) {
            // The end of the archive (or not a header): the rest passes.
            self.mode = Mode::Raw;
            return Ok(());
        }
        let Some(header_size) = parse_numeric(&block[124..136]) else {
            self.mode = Mode::Raw;
            return Ok(());
        };
        let kind = block[156];
        if matches!(kind, b'L' | b'x' | b'K' | b'g') {
            // An extension header: it describes the next header. Its text
            // is read for the name and size (a long name, PAX records)
            // when short enough; a long link name or global records only
            // pass.
            let read = matches!(kind, b'L' | b'x') && header_size <= MAX_EXTENSION;
            self.extension_text.clear();
            self.mode = Mode::Content {
                left: padded(header_size),
                extension: read.then_some(kind),
            };
            return Ok(());
        }
        let size = self.pax_size.take().unwrap_or(header_size);
        let name = self
            .long_name
            .take()
            .into_iter()
            .chain(self.pax_path.take())
            .last()
            .unwrap_or_else(|| header_name(&block));
        let regular = matches!(kind, b'0' | 0 | b'7');
        if regular && size >= ALIGN_MIN {
            self.pending = Some(Span {
                member: normalize(&name).unwrap_or(name),
                offset: self.offset + BLOCK as u64,
                size,
            });
            self.padding = padded(size) - size;
            // The packed piece ends with this header.
            self.mode = Mode::Header;
        } else {
            let content = match kind {
                // Links, directories, devices and FIFOs have no content.
                b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => 0,
                _ => size,
            };
            self.mode = Mode::Content {
                left: padded(content),
                extension: None,
            };
        }
        Ok(())
    }

    /// The next bytes of a packed piece.
    fn read_packed(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.head_out < self.head.len() {
                let n = buf.len().min(self.head.len() - self.head_out);
                buf[..n].copy_from_slice(&self.head[self.head_out..self.head_out + n]);
                self.head_out += n;
                self.offset += n as u64;
                return Ok(n);
            }
            if self.pending.is_some() || self.piece_done {
                self.piece_done = true;
                return Ok(0);
            }
            match self.mode {
                Mode::Header => {
                    if self.ended {
                        self.piece_done = true;
                        return Ok(0);
                    }
                    self.read_header()?;
                    if self.head.is_empty() {
                        self.piece_done = true;
                        return Ok(0);
                    }
                }
                Mode::Raw => {
                    let n = self.read_inner(buf)?;
                    self.offset += n as u64;
                    if n == 0 {
                        self.piece_done = true;
                    }
                    return Ok(n);
                }
                Mode::Content { left: 0, extension } => {
                    self.end_extension(extension);
                    self.mode = Mode::Header;
                }
                Mode::Content { left, extension } => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.read_inner(&mut buf[..want])?;
                    if n == 0 {
                        self.mode = Mode::Raw;
                        continue;
                    }
                    if extension.is_some() {
                        // At most MAX_EXTENSION and its padding.
                        self.extension_text.extend_from_slice(&buf[..n]);
                    }
                    self.offset += n as u64;
                    self.mode = Mode::Content {
                        left: left - n as u64,
                        extension,
                    };
                    return Ok(n);
                }
            }
        }
    }

    /// What an extension header said, for the header after it.
    fn end_extension(&mut self, extension: Option<u8>) {
        let text = std::mem::take(&mut self.extension_text);
        match extension {
            Some(b'L') => {
                self.long_name = Some(String::from_utf8_lossy(cstr(&text)).into_owned());
            }
            Some(b'x') => {
                // The text is padded with NULs to its block; records end
                // before them.
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                for (key, value) in parse_pax(&text[..end]).unwrap_or_default() {
                    match key.as_str() {
                        "path" => self.pax_path = Some(String::from_utf8_lossy(&value).into()),
                        "size" => {
                            self.pax_size = std::str::from_utf8(&value)
                                .ok()
                                .and_then(|v| v.parse().ok())
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

impl<R: Read> Read for Splitter<R> {
    /// The bytes of the current piece; 0 at its end.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.piece_done {
            return Ok(0);
        }
        match self.member_left {
            Some(left) => self.read_member(buf, left),
            None => self.read_packed(buf),
        }
    }
}

/// `size` rounded up to whole tar blocks.
fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{tar_of, Item, Order, TestImage};
    use super::*;

    /// Splits `data`, reading with `chunk`-byte reads: the pieces' bytes,
    /// their kinds, and the spans.
    fn split(data: &[u8], chunk: usize) -> (Vec<(PieceKind, Vec<u8>)>, Vec<Span>) {
        let mut splitter = Splitter::new(data);
        let mut pieces = Vec::new();
        while let Some(kind) = splitter.next_piece() {
            let mut bytes = Vec::new();
            let mut buf = vec![0u8; chunk];
            loop {
                let n = splitter.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                bytes.extend_from_slice(&buf[..n]);
            }
            // Only a stream that ends right after a member's content
            // leaves an empty piece (the writer makes no block of it).
            if !bytes.is_empty() {
                pieces.push((kind, bytes));
            }
        }
        let spans = splitter.spans().to_vec();
        (pieces, spans)
    }

    fn joined(pieces: &[(PieceKind, Vec<u8>)]) -> Vec<u8> {
        pieces.iter().flat_map(|(_, b)| b.clone()).collect()
    }

    /// A layer of `size` pseudo-random bytes.
    fn blob(size: usize, seed: u8) -> Vec<u8> {
        (0..size)
            .map(|i| ((i as u32).wrapping_mul(2654435761) >> 13) as u8 ^ seed)
            .collect()
    }

    /// Every member piece is exactly its member's content, at its offset,
    /// and everything joins back to the archive.
    fn check_alignment(data: &[u8], chunk: usize) -> Vec<Span> {
        let (pieces, spans) = split(data, chunk);
        assert_eq!(joined(&pieces), data, "the pieces are the archive");
        let mut at = 0u64;
        let mut members = 0;
        for (kind, bytes) in &pieces {
            assert!(!bytes.is_empty(), "no empty piece");
            if let PieceKind::Member(span) = kind {
                assert_eq!(span.offset, at);
                assert_eq!(span.size, bytes.len() as u64);
                members += 1;
            }
            at += bytes.len() as u64;
        }
        assert_eq!(members, spans.len());
        // Packed pieces never hold a large member's content: any two
        // packed pieces have a member piece between them.
        for pair in pieces.windows(2) {
            assert!(
                matches!(pair[0].0, PieceKind::Member(_))
                    || matches!(pair[1].0, PieceKind::Member(_))
            );
        }
        spans
    }

    #[test]
    fn large_members_are_pieces_of_their_own() {
        let big = blob(3 << 20, 1);
        let odd = blob((1 << 20) + 7, 2);
        let data = tar_of(&[
            Item::File("small".into(), b"hello".to_vec()),
            Item::File("big".into(), big.clone()),
            Item::File("odd".into(), odd.clone()),
            Item::File("tiny".into(), vec![]),
            Item::File("just-under".into(), blob((1 << 20) - 1, 3)),
        ]);
        for chunk in [1, 511, 512, 4096, 1 << 20, 8 << 20] {
            let spans = check_alignment(&data, chunk);
            let names: Vec<_> = spans.iter().map(|s| (s.member.as_str(), s.size)).collect();
            assert_eq!(
                names,
                [("big", big.len() as u64), ("odd", odd.len() as u64)]
            );
            // The content at each span is the member's.
            assert_eq!(&data[spans[0].offset as usize..][..big.len()], &big[..]);
            assert_eq!(&data[spans[1].offset as usize..][..odd.len()], &odd[..]);
        }
        let (pieces, _) = split(&data, 4096);
        // small's header + content + big's header; big; odd's padding + the
        // rest with odd's header before it.
        assert_eq!(pieces.len(), 5);
        assert_eq!(pieces[0].1.len(), 512 * 3);
    }

    #[test]
    fn adjacent_and_first_members() {
        let a = blob(2 << 20, 4);
        let b = blob(2 << 20, 5);
        let data = tar_of(&[Item::File("a".into(), a), Item::File("b".into(), b)]);
        let (pieces, spans) = split(&data, 65536);
        assert_eq!(spans.len(), 2);
        // a's header alone, a, b's header alone (a is whole blocks), b, end.
        let sizes: Vec<usize> = pieces.iter().map(|(_, b)| b.len()).collect();
        assert_eq!(
            sizes,
            [512, 2 << 20, 512, 2 << 20, data.len() - (4 << 20) - 1024]
        );
        check_alignment(&data, 65536);
    }

    #[test]
    fn both_docker_layouts() {
        let image = TestImage::with_layers(vec![blob(2 << 20, 6), blob(100, 7), blob(5 << 20, 8)]);
        for items in [image.classic(Order::Docker), image.oci(Order::Docker)] {
            let data = tar_of(&items);
            let spans = check_alignment(&data, 1 << 16);
            assert_eq!(spans.len(), 2, "the two large layers: {spans:?}");
            // In stream order, which is by name, not layer order.
            let mut sizes: Vec<u64> = spans.iter().map(|s| s.size).collect();
            sizes.sort();
            assert_eq!(sizes, [2 << 20, 5 << 20]);
            for span in &spans {
                let member = items.iter().find(|i| i.name() == span.member);
                let Some(Item::File(_, content)) = member else {
                    panic!("{span:?} names no file");
                };
                assert_eq!(&data[span.offset as usize..][..content.len()], &content[..]);
            }
        }
    }

    #[test]
    fn long_names_and_pax_headers() {
        let long = format!("blobs/sha256/{}", "ab".repeat(60));
        let content = blob((1 << 20) + 3, 9);
        // The tar builder writes a GNU long name header for a long name.
        let mut builder = tar::Builder::new(Vec::new());
        // A symlink with a long target first: its GNU long link header
        // ('K') names nothing for the members after it.
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "a-link", "t".repeat(200))
            .unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, &long, &content[..])
            .unwrap();
        // And a PAX header naming a member.
        let pax_name = format!("./pax/{}", "c".repeat(150));
        builder
            .append_pax_extensions([("path", pax_name.as_bytes())])
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_path("short").unwrap();
        header.set_cksum();
        builder.append(&header, &content[..]).unwrap();
        let data = builder.into_inner().unwrap();
        let kinds: Vec<u8> = data.chunks(512).take(4).map(|b| b[156]).collect();
        // A GNU long link header, its text, then the link.
        assert_eq!((kinds[0], kinds[2]), (b'K', b'2'));
        let spans = check_alignment(&data, 777);
        let names: Vec<_> = spans.iter().map(|s| s.member.clone()).collect();
        assert_eq!(names, [long, pax_name.trim_start_matches("./").to_string()]);
    }

    #[test]
    fn empty_and_tiny_streams_and_cut_members() {
        assert_eq!(split(b"", 512).0, []);
        let (pieces, spans) = split(b"abc", 512);
        assert_eq!(joined(&pieces), b"abc");
        assert!(spans.is_empty());
        // Cut inside a large member's content, and inside a header.
        let data = tar_of(&[
            Item::File("s".into(), b"x".to_vec()),
            Item::File("big".into(), blob(2 << 20, 10)),
            Item::File("after".into(), b"y".to_vec()),
        ]);
        for cut in [
            100,
            1024,
            1536,
            1536 + 1000,
            1536 + (2 << 20) + 200,
            data.len() - 1,
        ] {
            let (pieces, _) = split(&data[..cut], 4096);
            assert_eq!(joined(&pieces), &data[..cut], "cut at {cut}");
            assert!(pieces.iter().all(|(_, b)| !b.is_empty()));
        }
        // Not a tar at all: one packed piece.
        let noise = blob(3 << 20, 11);
        let (pieces, spans) = split(&noise, 1 << 16);
        assert_eq!(pieces.len(), 1);
        assert!(spans.is_empty());
        assert_eq!(joined(&pieces), noise);
    }
}
