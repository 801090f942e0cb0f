//! Random access to one file of a collection, fetching only the Keep blocks
//! that the bytes actually read live in.
//!
//! A manifest gives a file as segments (`pos:size:name`) of its stream, and
//! the stream as the concatenation of its blocks. [`extents`] turns that into
//! a table of `(file offset, block, offset in block, length)` pieces, pure
//! arithmetic; [`KeepFile`] is a `Read + Seek` over the table that fetches a
//! block the first time a read lands in it and keeps the last two, so a tar
//! walk that seeks over member data costs one GET per block holding a header
//! (and a jump back to an earlier member costs nothing if it is still held).

use std::io::{self, Read, Seek, SeekFrom};

use super::keep::KeepClient;
use super::manifest::Locator;
use crate::error::{Error, Result};

/// Anything that returns a block's bytes by locator: Keep, or a table in
/// tests.
pub trait BlockSource {
    fn fetch(&self, locator: &Locator) -> Result<Vec<u8>>;
}

impl BlockSource for KeepClient {
    fn fetch(&self, locator: &Locator) -> Result<Vec<u8>> {
        self.get_block(&locator.to_string())
    }
}

/// One contiguous piece of the file, inside one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Where the piece starts in the file.
    pub file_offset: u64,
    /// Index of the block in the stream's locator list.
    pub block: usize,
    /// Where the piece starts in that block.
    pub block_offset: u64,
    pub len: u64,
}

/// The pieces of a file made of `segments` (`(stream position, size)`, in
/// file order) of a stream whose blocks have `block_sizes`. `None` if a
/// segment runs past the end of the stream.
pub fn extents(block_sizes: &[u64], segments: &[(u64, u64)]) -> Option<Vec<Extent>> {
    let mut starts = Vec::with_capacity(block_sizes.len());
    let mut total = 0u64;
    for size in block_sizes {
        starts.push(total);
        total = total.checked_add(*size)?;
    }
    let mut out = Vec::new();
    let mut file_offset = 0u64;
    for &(pos, size) in segments {
        if pos.checked_add(size)? > total {
            return None;
        }
        let (mut pos, mut left) = (pos, size);
        while left > 0 {
            // The last block starting at or before pos (skipping empty ones).
            let block = starts.partition_point(|s| *s <= pos) - 1;
            let block_offset = pos - starts[block];
            let len = left.min(block_sizes[block] - block_offset);
            if len == 0 {
                return None;
            }
            out.push(Extent {
                file_offset,
                block,
                block_offset,
                len,
            });
            file_offset += len;
            pos += len;
            left -= len;
        }
    }
    Some(out)
}

/// A seekable reader over one file of a collection.
pub struct KeepFile<'a, S: BlockSource + ?Sized> {
    source: &'a S,
    locators: Vec<Locator>,
    extents: Vec<Extent>,
    size: u64,
    pos: u64,
    /// The blocks held, most recently used last.
    held: Vec<(usize, Vec<u8>)>,
    /// Every block fetched, in order (what the reader cost).
    fetched: Vec<usize>,
}

/// How many fetched blocks a [`KeepFile`] holds (each up to 64 MiB).
const HELD_BLOCKS: usize = 2;

impl<'a, S: BlockSource + ?Sized> KeepFile<'a, S> {
    /// The file made of `segments` of the stream of `locators`. `None` if
    /// the segments do not fit in the stream.
    pub fn new(
        source: &'a S,
        locators: Vec<Locator>,
        segments: &[(u64, u64)],
    ) -> Option<KeepFile<'a, S>> {
        let sizes: Vec<u64> = locators.iter().map(Locator::size).collect();
        let extents = extents(&sizes, segments)?;
        let size = segments.iter().map(|s| s.1).sum();
        Some(KeepFile {
            source,
            locators,
            extents,
            size,
            pos: 0,
            held: Vec::new(),
            fetched: Vec::new(),
        })
    }

    /// The indexes of the blocks fetched so far, in order.
    #[cfg(test)]
    pub fn fetched(&self) -> &[usize] {
        &self.fetched
    }

    fn block(&mut self, index: usize) -> Result<&[u8]> {
        if let Some(at) = self.held.iter().position(|(i, _)| *i == index) {
            let entry = self.held.remove(at);
            self.held.push(entry);
        } else {
            let data = self.source.fetch(&self.locators[index])?;
            if data.len() as u64 != self.locators[index].size() {
                return Err(Error::BadLocator {
                    locator: self.locators[index].bare(),
                    problem: format!("Keep returned {} bytes", data.len()),
                });
            }
            self.fetched.push(index);
            if self.held.len() == HELD_BLOCKS {
                self.held.remove(0);
            }
            self.held.push((index, data));
        }
        Ok(&self.held.last().expect("just pushed").1)
    }
}

impl<S: BlockSource + ?Sized> Read for KeepFile<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.size {
            return Ok(0);
        }
        let at = self.extents.partition_point(|e| e.file_offset <= self.pos) - 1;
        let extent = self.extents[at];
        let skip = self.pos - extent.file_offset;
        let n = (extent.len - skip).min(buf.len() as u64) as usize;
        let start = (extent.block_offset + skip) as usize;
        let block = self.block(extent.block).map_err(io::Error::other)?;
        buf[..n].copy_from_slice(&block[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S: BlockSource + ?Sized> Seek for KeepFile<'_, S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::arvados::manifest::md5_hex;
    use std::cell::RefCell;

    #[test]
    fn extents_split_segments_at_block_edges() {
        // Blocks of 10, 10 and 5 bytes; the file is stream bytes 5..22.
        let got = extents(&[10, 10, 5], &[(5, 17)]).unwrap();
        assert_eq!(
            got,
            [
                Extent {
                    file_offset: 0,
                    block: 0,
                    block_offset: 5,
                    len: 5
                },
                Extent {
                    file_offset: 5,
                    block: 1,
                    block_offset: 0,
                    len: 10
                },
                Extent {
                    file_offset: 15,
                    block: 2,
                    block_offset: 0,
                    len: 2
                },
            ]
        );
        // Two segments, the second going back into the first block.
        let got = extents(&[10, 10], &[(12, 3), (0, 2)]).unwrap();
        assert_eq!(got[0].block, 1);
        assert_eq!((got[1].file_offset, got[1].block, got[1].len), (3, 0, 2));
        // An empty block in the middle is never chosen.
        let got = extents(&[4, 0, 4], &[(0, 8)]).unwrap();
        assert_eq!(got.iter().map(|e| e.block).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(extents(&[10], &[(5, 6)]), None);
        assert_eq!(extents(&[], &[]), Some(vec![]));
    }

    /// Blocks in memory; counts fetches.
    pub(crate) struct Table {
        pub blocks: Vec<Vec<u8>>,
        pub fetches: RefCell<Vec<usize>>,
    }

    impl Table {
        pub fn new(data: &[u8], block_size: usize) -> (Table, Vec<Locator>) {
            let blocks: Vec<Vec<u8>> = data.chunks(block_size).map(<[u8]>::to_vec).collect();
            let locators = blocks
                .iter()
                .map(|b| Locator::new(&md5_hex(b), b.len() as u64))
                .collect();
            let fetches = RefCell::new(Vec::new());
            (Table { blocks, fetches }, locators)
        }
    }

    impl BlockSource for Table {
        fn fetch(&self, locator: &Locator) -> Result<Vec<u8>> {
            let i = self
                .blocks
                .iter()
                .position(|b| md5_hex(b) == locator.hash())
                .unwrap();
            self.fetches.borrow_mut().push(i);
            Ok(self.blocks[i].clone())
        }
    }

    #[test]
    fn reads_and_seeks_fetch_only_the_blocks_touched() {
        let data: Vec<u8> = (0..100u32).map(|i| (i * 7 % 251) as u8).collect();
        let (table, locators) = Table::new(&data, 10);
        let mut file = KeepFile::new(&table, locators, &[(0, 100)]).unwrap();
        let mut buf = [0u8; 4];
        file.seek(SeekFrom::Start(38)).unwrap();
        file.read_exact(&mut buf).unwrap();
        assert_eq!(buf, data[38..42]);
        file.seek(SeekFrom::Current(50)).unwrap();
        file.read_exact(&mut buf[..2]).unwrap();
        assert_eq!(buf[..2], data[92..94]);
        // Block 9 and 4 are held: going back to 4 costs nothing.
        file.seek(SeekFrom::Start(45)).unwrap();
        file.read_exact(&mut buf[..1]).unwrap();
        assert_eq!(*table.fetches.borrow(), [3, 4, 9]);
        assert_eq!(file.fetched(), [3, 4, 9]);
        file.seek(SeekFrom::End(0)).unwrap();
        assert_eq!(file.read(&mut buf).unwrap(), 0);
        assert!(file.seek(SeekFrom::Current(-101)).is_err());
    }
}
