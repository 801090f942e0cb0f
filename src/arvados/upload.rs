//! The streaming block uploader: reads any `Read` once, cuts it into
//! 64 MiB blocks exactly where arv-put cuts them, and hashes and writes
//! the blocks on several threads.
//!
//! Shape: one reader thread fills reusable 64 MiB buffers and hands each
//! full block over a rendezvous `sync_channel`; `threads` workers md5 and
//! PUT blocks (each write may itself fan out to several Keep services);
//! buffers come back through a second channel. The calling thread is the
//! one place that reports progress, so the caller's callback never runs
//! concurrently. At most `threads + 1` buffers exist, whatever the
//! stream's size. Nothing touches the disk.
//!
//! The caller can see every byte in order without a second pass: either
//! wrap the `Read` (a tee into a sha256 or a tar parser), or pass an
//! observer that gets each block, in order, on the reader thread.
//!
//! A file can also be written in pieces ([`KeepClient::upload_pieces`]):
//! each piece starts a new block (its last block may be short), and each
//! names its place in the file, which need not be the order it is written
//! in. A Keep manifest lists blocks in file order whatever order they were
//! written in, so a piece whose bytes depend on a later one (a tar header
//! that needs the size of the member after it) is written after it and
//! listed before it. The same content then always becomes the same
//! blocks, wherever it lies in the file.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};

use super::keep::KeepClient;
use super::manifest::{md5_hex, one_file_manifest, Locator, BLOCK_SIZE};
use crate::error::{Error, Result};

/// Largest single `read` call, so progress moves during a block.
const READ_CHUNK: usize = 8 << 20;

/// Read progress is reported at least every this many bytes.
const READ_REPORT_STEP: usize = 1 << 20;

/// Progress of an upload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes read from the stream so far.
    pub bytes_read: u64,
    /// Bytes in blocks Keep has confirmed with the wanted replication.
    pub bytes_stored: u64,
    /// Blocks confirmed.
    pub blocks_stored: u64,
}

/// What an upload reports to its caller, on the caller's thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Progress(Progress),
    /// Something to log as a warning (e.g. storage classes unsupported).
    Warning(String),
    /// Keep confirmed block `index` (or it was reused), before the
    /// progress event that counts it.
    Stored {
        index: usize,
        size: usize,
        locator: String,
    },
}

/// The result of an upload: what the manifest needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    /// Signed locators, in file order (for a stream, the order read).
    pub locators: Vec<String>,
    /// Total bytes.
    pub size: u64,
    /// Of those, bytes in blocks that were not sent (a resumed upload's);
    /// set by the caller that chose them.
    pub reused: u64,
    /// From the start of the upload to its last block.
    pub elapsed: std::time::Duration,
}

impl Uploaded {
    /// The one-file manifest arv-put would write for this stream.
    pub fn manifest(&self, file_name: &str) -> String {
        one_file_manifest(&self.locators, self.size, file_name)
    }
}

/// Called on the reader thread with each block, in stream order, before
/// it is hashed and written. An error stops the upload and is returned.
pub type BlockObserver<'a> = &'a mut (dyn FnMut(&[u8]) -> Result<()> + Send);

/// Asked by the workers, for each block (index, md5, size), whether Keep
/// already holds it: `Some(signed locator)` skips the write.
pub type Reuse<'a> = &'a (dyn Fn(usize, &str, usize) -> Option<String> + Sync);

/// One piece of a file written in pieces: its place in the file (pieces
/// are listed in the manifest by increasing `slot`) and its bytes.
pub struct Piece<'a> {
    pub slot: usize,
    pub body: Body<'a>,
}

/// What a piece is made of.
pub enum Body<'a> {
    /// Bytes to read, hash and write.
    Read(Box<dyn Read + Send + 'a>),
    /// Blocks Keep already holds: their signed locators, in order, taken
    /// as they are (nothing is read, hashed or written). The caller
    /// answers for them being the right bytes.
    Stored(Vec<String>),
}

impl<'a> Piece<'a> {
    /// A piece of bytes to read.
    pub fn read(slot: usize, reader: impl Read + Send + 'a) -> Piece<'a> {
        Piece {
            slot,
            body: Body::Read(Box::new(reader)),
        }
    }

    /// A piece of blocks Keep already holds.
    pub fn stored(slot: usize, locators: Vec<String>) -> Piece<'a> {
        Piece {
            slot,
            body: Body::Stored(locators),
        }
    }
}

/// A piece as the reader thread takes it.
enum Source<R> {
    Read(R),
    Stored(Vec<String>),
}

struct Job {
    index: usize,
    buf: Vec<u8>,
    len: usize,
}

enum Msg {
    Read(u64),
    Stored {
        index: usize,
        locator: String,
        len: usize,
        /// A block of a [`Body::Stored`] piece: neither read nor written.
        held: bool,
    },
    Failed(Error),
    ReaderDone {
        /// The slot of each block, by write index.
        slots: Vec<usize>,
        size: u64,
    },
}

impl KeepClient {
    /// Uploads a stream: reads `input` to its end once, writes its blocks
    /// to Keep, and returns their signed locators in order. `what` names
    /// the stream in read errors ("docker save output", a path...).
    /// `events` runs on the calling thread. On the first failure the
    /// upload stops reading and returns that error.
    pub fn upload<R: Read + Send>(
        &self,
        input: R,
        what: &str,
        observer: Option<BlockObserver<'_>>,
        events: &mut dyn FnMut(Event),
    ) -> Result<Uploaded> {
        self.upload_reusing(input, what, observer, None, events)
    }

    /// [`upload`](Self::upload), where `reuse` may name blocks that need no
    /// write (a resumed upload). The blocks are still read and hashed.
    pub fn upload_reusing<R: Read + Send>(
        &self,
        input: R,
        what: &str,
        observer: Option<BlockObserver<'_>>,
        reuse: Option<Reuse<'_>>,
        events: &mut dyn FnMut(Event),
    ) -> Result<Uploaded> {
        let one = std::iter::once(Ok((0, Source::Read(input))));
        self.upload_inner(what, reuse, events, move |r: &Reader<'_>| {
            r.run(one, observer)
        })
    }

    /// Uploads a file made of pieces, asked for one at a time on the reader
    /// thread as the previous one ends (so a piece may depend on what the
    /// pieces before it measured). Each piece starts a new block; the
    /// locators come back in file order (by slot, then in the order each
    /// piece was read). An `Err` from `pieces` stops the upload and is
    /// returned, as a read error is. Memory is bounded as for a stream.
    ///
    /// A `Body::Stored` piece is listed as it is, nothing read or
    /// written; `reuse` may name blocks of the other pieces that need no
    /// write (they are still read and hashed, and only a block whose md5
    /// and size match is taken). The blocks of stored pieces count in
    /// [`Uploaded::reused`]; those `reuse` names, the caller counts (as for
    /// [`upload_reusing`](Self::upload_reusing)).
    pub fn upload_pieces<'a, P>(
        &self,
        pieces: P,
        what: &str,
        reuse: Option<Reuse<'_>>,
        events: &mut dyn FnMut(Event),
    ) -> Result<Uploaded>
    where
        P: Iterator<Item = Result<Piece<'a>>> + Send,
    {
        let pieces = pieces.map(sources);
        self.upload_inner(what, reuse, events, move |r: &Reader<'_>| {
            r.run(pieces, None)
        })
    }

    /// [`upload_pieces`](Self::upload_pieces), reading up to `lanes` of the
    /// `independent` pieces at once, each on a thread of its own (a piece
    /// is asked for when a lane is free, so their reads overlap: several
    /// layers downloading and decompressing together), then the pieces of
    /// `then`, one at a time, once every independent piece is read to its
    /// end: those may depend on what the independent ones measured. The
    /// lanes share the buffers, so memory is bounded as for one stream.
    pub fn upload_pieces_parallel<'a, P, Q>(
        &self,
        independent: P,
        then: Q,
        lanes: usize,
        reuse: Option<Reuse<'_>>,
        events: &mut dyn FnMut(Event),
    ) -> Result<Uploaded>
    where
        P: Iterator<Item = Result<Piece<'a>>> + Send,
        Q: Iterator<Item = Result<Piece<'a>>> + Send,
    {
        let independent = Mutex::new(independent.map(sources));
        let then = then.map(sources);
        self.upload_inner("pieces", reuse, events, move |r: &Reader<'_>| {
            std::thread::scope(|s| {
                for _ in 0..lanes.max(1) {
                    s.spawn(|| r.run_lane(&independent));
                }
            });
            // After a failure, nothing more is asked for.
            if !r.abort.load(Ordering::SeqCst) {
                r.run(then, None);
            }
        })
    }

    fn upload_inner<F>(
        &self,
        what: &str,
        reuse: Option<Reuse<'_>>,
        events: &mut dyn FnMut(Event),
        read: F,
    ) -> Result<Uploaded>
    where
        F: FnOnce(&Reader<'_>) + Send,
    {
        let started = std::time::Instant::now();
        let threads = self.thread_count().max(1);
        let max_buffers = threads + 1;
        let abort = AtomicBool::new(false);
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(0);
        // Shared by the workers only: if they all end (even by a panic) the
        // receiver goes away and the reader's next send fails instead of
        // blocking for ever.
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(max_buffers);
        let (msg_tx, msg_rx) = mpsc::channel::<Msg>();

        std::thread::scope(|s| {
            let reader = Reader {
                job_tx,
                free_rx: Mutex::new(free_rx),
                free_tx: free_tx.clone(),
                max_buffers,
                allocated: AtomicUsize::new(0),
                ledger: Mutex::default(),
                abort: &abort,
                msgs: msg_tx.clone(),
                what,
            };
            s.spawn(move || {
                read(&reader);
                reader.done();
            });
            for _ in 0..threads {
                let msgs = msg_tx.clone();
                let free = free_tx.clone();
                let jobs = job_rx.clone();
                let abort = &abort;
                s.spawn(move || self.work(&jobs, free, abort, msgs, reuse));
            }
            drop(job_rx);
            drop(msg_tx);
            drop(free_tx);
            self.collect(msg_rx, &abort, events)
        })
        .map(|mut uploaded| {
            uploaded.elapsed = started.elapsed();
            uploaded
        })
    }

    /// A worker: md5 and write blocks until the reader is done. After a
    /// failure it keeps draining jobs (without writing) so the reader
    /// never blocks.
    fn work(
        &self,
        jobs: &Mutex<Receiver<Job>>,
        free: SyncSender<Vec<u8>>,
        abort: &AtomicBool,
        msgs: Sender<Msg>,
        reuse: Option<Reuse<'_>>,
    ) {
        loop {
            let job = match jobs.lock().unwrap().recv() {
                Ok(job) => job,
                Err(_) => return,
            };
            if !abort.load(Ordering::SeqCst) {
                let data = &job.buf[..job.len];
                let hash = md5_hex(data);
                let known = reuse.and_then(|r| r(job.index, &hash, job.len));
                let written = match known {
                    Some(locator) => Ok(locator),
                    None => self.write_block(&hash, data),
                };
                let msg = match written {
                    Ok(locator) => Msg::Stored {
                        index: job.index,
                        locator,
                        len: job.len,
                        held: false,
                    },
                    Err(e) => {
                        abort.store(true, Ordering::SeqCst);
                        Msg::Failed(e)
                    }
                };
                let _ = msgs.send(msg);
            }
            // Never blocks: the channel holds every buffer there is.
            let _ = free.send(job.buf);
        }
    }

    /// The calling thread: gathers results in order and reports progress.
    fn collect(
        &self,
        msgs: Receiver<Msg>,
        abort: &AtomicBool,
        events: &mut dyn FnMut(Event),
    ) -> Result<Uploaded> {
        let mut progress = Progress::default();
        let mut locators: Vec<Option<String>> = Vec::new();
        let mut failure: Option<Error> = None;
        let mut total: Option<(Vec<usize>, u64)> = None;
        let mut reused = 0u64;
        for msg in msgs {
            match msg {
                Msg::Read(n) => {
                    progress.bytes_read += n;
                    events(Event::Progress(progress));
                }
                Msg::Stored {
                    index,
                    locator,
                    len,
                    held,
                } => {
                    if locators.len() <= index {
                        locators.resize(index + 1, None);
                    }
                    events(Event::Stored {
                        index,
                        size: len,
                        locator: locator.clone(),
                    });
                    locators[index] = Some(locator);
                    progress.bytes_stored += len as u64;
                    progress.blocks_stored += 1;
                    if held {
                        reused += len as u64;
                    }
                    for w in self.take_warnings() {
                        events(Event::Warning(w));
                    }
                    events(Event::Progress(progress));
                }
                Msg::Failed(e) => {
                    abort.store(true, Ordering::SeqCst);
                    failure.get_or_insert(e);
                }
                Msg::ReaderDone { slots, size } => total = Some((slots, size)),
            }
        }
        for w in self.take_warnings() {
            events(Event::Warning(w));
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let (slots, size) = total.expect("the reader reports its end unless it failed");
        locators.resize(slots.len(), None);
        let mut written: Vec<(usize, String)> = slots
            .into_iter()
            .zip(locators)
            .map(|(slot, l)| {
                (
                    slot,
                    l.expect("every block was stored or the upload failed"),
                )
            })
            .collect();
        // Stable: within a piece, blocks keep the order they were read in.
        written.sort_by_key(|&(slot, _)| slot);
        let locators = written.into_iter().map(|(_, l)| l).collect();
        Ok(Uploaded {
            locators,
            size,
            reused,
            elapsed: std::time::Duration::ZERO,
        })
    }
}

/// The reader thread's state, shared by its lanes when pieces are read
/// in parallel.
struct Reader<'a> {
    job_tx: SyncSender<Job>,
    free_rx: Mutex<Receiver<Vec<u8>>>,
    /// Where a lane gives back a buffer it holds unused when it ends.
    free_tx: SyncSender<Vec<u8>>,
    max_buffers: usize,
    allocated: AtomicUsize,
    ledger: Mutex<Ledger>,
    abort: &'a AtomicBool,
    msgs: Sender<Msg>,
    what: &'a str,
}

/// The blocks handed out so far: the slot of each, by write index, and
/// their total size.
#[derive(Default)]
struct Ledger {
    slots: Vec<usize>,
    size: u64,
}

impl Ledger {
    /// A new block of `len` bytes in `slot`: its write index.
    fn add(&mut self, slot: usize, len: usize) -> usize {
        self.slots.push(slot);
        self.size += len as u64;
        self.slots.len() - 1
    }
}

/// A piece as the reader takes it.
fn sources(piece: Result<Piece<'_>>) -> Result<(usize, Source<Box<dyn Read + Send + '_>>)> {
    piece.map(|p| match p.body {
        Body::Read(reader) => (p.slot, Source::Read(reader)),
        Body::Stored(locators) => (p.slot, Source::Stored(locators)),
    })
}

impl Reader<'_> {
    /// Reads `pieces` in turn (the observer sees every block, in order).
    fn run<R, P>(&self, pieces: P, mut observer: Option<BlockObserver<'_>>)
    where
        R: Read,
        P: Iterator<Item = Result<(usize, Source<R>)>>,
    {
        // A buffer a piece ending on a block boundary left unused.
        let mut spare: Option<Vec<u8>> = None;
        for piece in pieces {
            if !self.piece(piece, &mut spare, &mut observer) {
                return;
            }
        }
    }

    /// One lane of a parallel read: takes pieces from `pieces` until there
    /// are none, and gives back the buffer it held unused.
    fn run_lane<R, P>(&self, pieces: &Mutex<P>)
    where
        R: Read,
        P: Iterator<Item = Result<(usize, Source<R>)>>,
    {
        let mut spare: Option<Vec<u8>> = None;
        loop {
            if self.abort.load(Ordering::SeqCst) {
                break;
            }
            let Some(piece) = pieces.lock().unwrap().next() else {
                break;
            };
            if !self.piece(piece, &mut spare, &mut None) {
                break;
            }
        }
        if let Some(buf) = spare {
            // Never blocks: the channel holds every buffer there is.
            let _ = self.free_tx.send(buf);
        }
    }

    /// The end of the reading: what the collector needs, unless it failed.
    fn done(&self) {
        if self.abort.load(Ordering::SeqCst) {
            return;
        }
        let ledger = std::mem::take(&mut *self.ledger.lock().unwrap());
        let _ = self.msgs.send(Msg::ReaderDone {
            slots: ledger.slots,
            size: ledger.size,
        });
    }

    /// Reads one piece into blocks; false when the upload stops.
    fn piece<R: Read>(
        &self,
        piece: Result<(usize, Source<R>)>,
        spare: &mut Option<Vec<u8>>,
        observer: &mut Option<BlockObserver<'_>>,
    ) -> bool {
        let (slot, mut input) = match piece {
            Ok((slot, Source::Read(input))) => (slot, input),
            Ok((slot, Source::Stored(stored))) => {
                for locator in stored {
                    let len = match Locator::parse(&locator) {
                        Ok(l) => l.size() as usize,
                        Err(e) => {
                            self.fail(e);
                            return false;
                        }
                    };
                    let index = self.ledger.lock().unwrap().add(slot, len);
                    let _ = self.msgs.send(Msg::Stored {
                        index,
                        locator,
                        len,
                        held: true,
                    });
                }
                return true;
            }
            Err(e) => {
                self.fail(e);
                return false;
            }
        };
        loop {
            if self.abort.load(Ordering::SeqCst) {
                return false;
            }
            let Some(mut buf) = spare.take().or_else(|| self.buffer()) else {
                return false;
            };
            let (len, eof) = match self.fill(&mut input, &mut buf) {
                Ok(filled) => filled,
                Err(e) => {
                    self.fail(e);
                    return false;
                }
            };
            if len > 0 {
                if let Some(observe) = observer.as_mut() {
                    if let Err(e) = observe(&buf[..len]) {
                        self.fail(e);
                        return false;
                    }
                }
                let index = self.ledger.lock().unwrap().add(slot, len);
                if self.job_tx.send(Job { index, buf, len }).is_err() {
                    return false;
                }
            } else {
                *spare = Some(buf);
            }
            if eof {
                return true;
            }
        }
    }

    /// A free buffer, a new one while fewer than `max_buffers` exist, else
    /// the next one a worker gives back (`None` once they are all gone).
    fn buffer(&self) -> Option<Vec<u8>> {
        let free = self.free_rx.lock().unwrap();
        match free.try_recv() {
            Ok(buf) => return Some(buf),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        let claimed = self
            .allocated
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_buffers).then_some(n + 1)
            });
        if claimed.is_ok() {
            // Zeroed pages come from the OS lazily: memory grows only as
            // the buffer is filled.
            return Some(vec![0u8; BLOCK_SIZE]);
        }
        free.recv().ok()
    }

    /// Fills one block: returns its length and whether the stream ended.
    fn fill<R: Read>(&self, input: &mut R, buf: &mut [u8]) -> Result<(usize, bool)> {
        let mut len = 0;
        let mut unreported = 0;
        while len < BLOCK_SIZE {
            if self.abort.load(Ordering::SeqCst) {
                return Ok((0, true));
            }
            let end = (len + READ_CHUNK).min(BLOCK_SIZE);
            match input.read(&mut buf[len..end]) {
                Ok(0) => {
                    self.report(unreported);
                    return Ok((len, true));
                }
                Ok(n) => {
                    len += n;
                    unreported += n;
                    if unreported >= READ_REPORT_STEP {
                        self.report(unreported);
                        unreported = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(input_error(self.what, e)),
            }
        }
        self.report(unreported);
        Ok((len, false))
    }

    fn report(&self, n: usize) {
        if n > 0 {
            let _ = self.msgs.send(Msg::Read(n as u64));
        }
    }

    fn fail(&self, e: Error) {
        self.abort.store(true, Ordering::SeqCst);
        let _ = self.msgs.send(Msg::Failed(e));
    }
}

/// A read error as the crate's error. A wrapping `Read` (a tee that parses
/// the stream) may fail with one of our own errors inside an `io::Error`;
/// that error is returned as is.
fn input_error(what: &str, e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(ours) = inner.downcast::<Error>() {
                return *ours;
            }
        }
        unreachable!("checked above");
    }
    Error::Input {
        what: what.to_string(),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arvados::http::testing::FakeClock;
    use crate::arvados::keep::tests::{client, Fake, FakeAnswer};
    use crate::arvados::keep::KeepService;
    use crate::arvados::manifest::portable_data_hash;

    fn services() -> Vec<KeepService> {
        (0..2)
            .map(|n| KeepService {
                uuid: format!("zzzzz-bi6l4-{n:015}"),
                root: format!("http://keep{n}:25107/"),
                service_type: "disk".into(),
                read_only: false,
            })
            .collect()
    }

    fn keep_with(answers: &[FakeAnswer]) -> (KeepClient, Arc<Fake>) {
        let s = services();
        let fake = Arc::new(Fake::new(&[(&s[0], answers), (&s[1], answers)]));
        let keep = client(s, fake.clone(), 2, Arc::new(FakeClock::new()));
        (keep, fake)
    }

    /// A reader that hands out at most `step` bytes per call, like a pipe.
    struct Trickle<R> {
        inner: R,
        step: usize,
    }
    impl<R: Read> Read for Trickle<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step);
            self.inner.read(&mut buf[..n])
        }
    }

    fn upload(keep: &KeepClient, data: &[u8], step: usize) -> (Uploaded, Vec<Event>) {
        let mut events = Vec::new();
        let input = Trickle { inner: data, step };
        let up = keep
            .upload(input, "test data", None, &mut |e| events.push(e))
            .unwrap();
        (up, events)
    }

    const OK: FakeAnswer = FakeAnswer::Ok(None, Some("default=1"));

    #[test]
    fn empty_stream_has_no_blocks() {
        let (keep, fake) = keep_with(&[OK]);
        let (up, _) = upload(&keep, b"", 1 << 20);
        assert_eq!(up.locators, Vec::<String>::new());
        assert_eq!(up.size, 0);
        assert_eq!(
            up.manifest("x.tar"),
            ". d41d8cd98f00b204e9800998ecf8427e+0 0:0:x.tar\n"
        );
        assert!(fake.puts.lock().unwrap().is_empty());
    }

    #[test]
    fn blocks_are_cut_at_exactly_64_mib_whatever_the_read_sizes() {
        let (keep, fake) = keep_with(&[OK]);
        let data: Vec<u8> = (0..BLOCK_SIZE * 2 + 5).map(|i| (i % 251) as u8).collect();
        let (up, events) = upload(&keep, &data, 1_000_003);
        assert_eq!(up.size, data.len() as u64);
        let want: Vec<String> = data
            .chunks(BLOCK_SIZE)
            .map(|c| format!("{}+{}+Asig@12345678", md5_hex(c), c.len()))
            .collect();
        assert_eq!(up.locators, want);
        // Two replicas of three blocks.
        assert_eq!(fake.puts.lock().unwrap().len(), 6);
        let last = events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::Progress(p) => Some(*p),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            last,
            Progress {
                bytes_read: data.len() as u64,
                bytes_stored: data.len() as u64,
                blocks_stored: 3
            }
        );
    }

    #[test]
    fn a_dry_run_hashes_every_block_and_sends_none() {
        let (keep, fake) = keep_with(&[OK]);
        let keep = keep.dry_run();
        let data: Vec<u8> = (0..BLOCK_SIZE + 5).map(|i| (i % 13) as u8).collect();
        let (up, _) = upload(&keep, &data, 1 << 22);
        let want: Vec<String> = data
            .chunks(BLOCK_SIZE)
            .map(|c| format!("{}+{}", md5_hex(c), c.len()))
            .collect();
        assert_eq!(up.locators, want);
        assert!(fake.puts.lock().unwrap().is_empty());
    }

    #[test]
    fn exactly_one_block_and_one_more_byte() {
        let (keep, _) = keep_with(&[OK]);
        let zeros = vec![0u8; BLOCK_SIZE + 1];
        let (up, _) = upload(&keep, &zeros[..BLOCK_SIZE], 1 << 30);
        assert_eq!(up.locators.len(), 1);
        assert!(up.locators[0].starts_with("7f614da9329cd3aebf59b91aadc30bf0+67108864+"));
        let (up, _) = upload(&keep, &zeros, 1 << 30);
        assert_eq!(up.locators.len(), 2);
        assert!(up.locators[1].starts_with("93b885adfe0da089cdf634904fd59f71+1+"));
    }

    #[test]
    fn manifest_matches_the_worked_example() {
        let (keep, _) = keep_with(&[OK]);
        let mut data = vec![0u8; BLOCK_SIZE];
        data.extend_from_slice(b"hello");
        let (up, _) = upload(&keep, &data, 4 << 20);
        let name = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a.tar";
        assert_eq!(
            portable_data_hash(&up.manifest(name)),
            "fd11ced60fef4dda24083623ea817d51+169"
        );
    }

    #[test]
    fn observer_sees_every_block_in_order() {
        let (keep, _) = keep_with(&[OK]);
        let data: Vec<u8> = (0..BLOCK_SIZE + 77).map(|i| (i % 7) as u8).collect();
        let mut seen = Vec::new();
        let mut observe = |block: &[u8]| {
            seen.extend_from_slice(block);
            Ok(())
        };
        keep.upload(&data[..], "d", Some(&mut observe), &mut |_| {})
            .unwrap();
        assert!(seen == data);
    }

    #[test]
    fn observer_error_stops_the_upload() {
        let (keep, _) = keep_with(&[OK]);
        let data = [1u8; 10];
        let mut observe = |_: &[u8]| {
            Err(Error::BadLocator {
                locator: "x".into(),
                problem: "observer says no".into(),
            })
        };
        let e = keep
            .upload(&data[..], "d", Some(&mut observe), &mut |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("observer says no"));
    }

    #[test]
    fn read_errors_name_the_stream_and_our_own_errors_pass_through() {
        struct Broken(bool);
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                if self.0 {
                    Err(io::Error::other(Error::BadLocator {
                        locator: "tar".into(),
                        problem: "not a tar".into(),
                    }))
                } else {
                    Err(io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed"))
                }
            }
        }
        let (keep, _) = keep_with(&[OK]);
        let e = keep
            .upload(Broken(false), "docker save output", None, &mut |_| {})
            .unwrap_err();
        assert_eq!(e.to_string(), "cannot read docker save output: pipe closed");
        let e = keep
            .upload(Broken(true), "docker save output", None, &mut |_| {})
            .unwrap_err();
        assert!(matches!(e, Error::BadLocator { .. }));
    }

    #[test]
    fn reused_blocks_are_not_written_and_every_block_is_reported() {
        let (keep, fake) = keep_with(&[OK]);
        let data: Vec<u8> = (0..BLOCK_SIZE * 2 + 9).map(|i| (i % 13) as u8).collect();
        let first = md5_hex(&data[..BLOCK_SIZE]);
        let reuse = |index: usize, md5: &str, size: usize| {
            (index == 0 && md5 == first).then(|| format!("{md5}+{size}+Aold@99999999"))
        };
        let mut stored = Vec::new();
        let up = keep
            .upload_reusing(&data[..], "d", None, Some(&reuse), &mut |e| {
                if let Event::Stored { index, locator, .. } = e {
                    stored.push((index, locator));
                }
            })
            .unwrap();
        assert_eq!(
            up.locators[0],
            format!("{first}+{BLOCK_SIZE}+Aold@99999999")
        );
        assert!(up.locators[1].ends_with("+Asig@12345678"));
        // Two blocks written, each on two services.
        assert_eq!(fake.puts.lock().unwrap().len(), 4);
        stored.sort();
        let indexes: Vec<usize> = stored.iter().map(|s| s.0).collect();
        assert_eq!(indexes, [0, 1, 2]);
        assert_eq!(stored[2].1, up.locators[2]);
    }

    #[test]
    fn a_failed_block_fails_the_upload_with_the_keep_error() {
        let (keep, fake) = keep_with(&[FakeAnswer::Status(403)]);
        let data = vec![3u8; BLOCK_SIZE * 3];
        let e = keep.upload(&data[..], "d", None, &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::KeepWrite(_)), "{e}");
        // It stopped early: not every block was attempted on both services.
        assert!(fake.puts.lock().unwrap().len() <= 6);
    }

    fn piece(slot: usize, data: &[u8]) -> Result<Piece<'_>> {
        Ok(Piece::read(
            slot,
            Trickle {
                inner: data,
                step: 3_000_001,
            },
        ))
    }

    #[test]
    fn pieces_start_blocks_and_are_listed_by_slot() {
        let (keep, fake) = keep_with(&[OK]);
        let big: Vec<u8> = (0..BLOCK_SIZE + 10).map(|i| (i % 11) as u8).collect();
        let small = b"header".to_vec();
        let tail = b"end".to_vec();
        // Written: big (slot 1), small (slot 0), an empty piece, tail (2).
        let pieces = vec![
            piece(1, &big),
            piece(0, &small),
            piece(3, b""),
            piece(2, &tail),
        ];
        let up = keep
            .upload_pieces(pieces.into_iter(), "pieces", None, &mut |_| {})
            .unwrap();
        let bare: Vec<String> = up
            .locators
            .iter()
            .map(|l| l.trim_end_matches("+Asig@12345678").to_string())
            .collect();
        let want = [
            format!("{}+6", md5_hex(&small)),
            format!("{}+{BLOCK_SIZE}", md5_hex(&big[..BLOCK_SIZE])),
            format!("{}+10", md5_hex(&big[BLOCK_SIZE..])),
            format!("{}+3", md5_hex(&tail)),
        ];
        assert_eq!(bare, want);
        assert_eq!(up.size, (big.len() + small.len() + tail.len()) as u64);
        // Four blocks on two services each.
        assert_eq!(fake.puts.lock().unwrap().len(), 8);
    }

    #[test]
    fn stored_pieces_are_listed_in_place_and_neither_read_nor_written() {
        let (keep, fake) = keep_with(&[OK]);
        let held = [
            format!("{}+{BLOCK_SIZE}+Aheld@99999999", md5_hex(b"pretend")),
            format!("{}+7+Aheld@99999999", md5_hex(b"pretend2")),
        ];
        let pieces = vec![
            piece(2, b"after"),
            Ok(Piece::stored(1, held.to_vec())),
            piece(0, b"before"),
        ];
        let mut reported = Vec::new();
        let up = keep
            .upload_pieces(pieces.into_iter(), "pieces", None, &mut |e| {
                if let Event::Stored { index, size, .. } = e {
                    reported.push((index, size));
                }
            })
            .unwrap();
        assert_eq!(up.locators.len(), 4);
        assert!(up.locators[0].starts_with(&format!("{}+6+", md5_hex(b"before"))));
        assert_eq!(up.locators[1..3], held);
        assert!(up.locators[3].starts_with(&format!("{}+5+", md5_hex(b"after"))));
        assert_eq!(up.size, (BLOCK_SIZE + 7 + 6 + 5) as u64);
        assert_eq!(up.reused, (BLOCK_SIZE + 7) as u64);
        // Only the two read pieces were written (on two services each).
        assert_eq!(fake.puts.lock().unwrap().len(), 4);
        reported.sort();
        assert_eq!(reported.len(), 4);
        // A stored locator that is not one fails the upload.
        let bad = vec![Ok(Piece::stored(0, vec!["nonsense".to_string()]))];
        assert!(keep
            .upload_pieces(bad.into_iter(), "pieces", None, &mut |_| {})
            .is_err());
    }

    #[test]
    fn parallel_pieces_are_listed_by_slot_and_then_comes_after_them() {
        let (keep, fake) = keep_with(&[OK]);
        let big: Vec<u8> = (0..BLOCK_SIZE + 10).map(|i| (i % 11) as u8).collect();
        let other: Vec<u8> = (0..BLOCK_SIZE * 2).map(|i| (i % 7) as u8).collect();
        let small = b"a small layer".to_vec();
        // A reader that counts, at its end, the independent pieces done.
        struct Counting<'a> {
            inner: &'a [u8],
            done: &'a AtomicUsize,
        }
        impl Read for Counting<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let end = buf.len().min(1 << 20);
                let n = self.inner.read(&mut buf[..end])?;
                if n == 0 {
                    self.done.fetch_add(1, Ordering::SeqCst);
                }
                Ok(n)
            }
        }
        let done = AtomicUsize::new(0);
        let held = format!("{}+5+Aheld@99999999", md5_hex(b"held!"));
        let independent = vec![
            Ok(Piece::read(
                1,
                Counting {
                    inner: &big,
                    done: &done,
                },
            )),
            Ok(Piece::read(
                3,
                Counting {
                    inner: &other,
                    done: &done,
                },
            )),
            Ok(Piece::stored(5, vec![held.clone()])),
            Ok(Piece::read(
                7,
                Counting {
                    inner: &small,
                    done: &done,
                },
            )),
        ];
        let seen = Mutex::new(None);
        let then = (0..4).map(|k| {
            seen.lock()
                .unwrap()
                .get_or_insert(done.load(Ordering::SeqCst));
            Ok(Piece::read(
                2 * k,
                io::Cursor::new(format!("header {k}").into_bytes()),
            ))
        });
        let up = keep
            .upload_pieces_parallel(independent.into_iter(), then, 3, None, &mut |_| {})
            .unwrap();
        // Every independent piece was read before the first of `then`.
        assert_eq!(*seen.lock().unwrap(), Some(3));
        let bare: Vec<String> = up
            .locators
            .iter()
            .map(|l| Locator::parse(l).unwrap().bare())
            .collect();
        let h = |k: usize| {
            let b = format!("header {k}");
            format!("{}+{}", md5_hex(b.as_bytes()), b.len())
        };
        let want = vec![
            h(0),
            format!("{}+{BLOCK_SIZE}", md5_hex(&big[..BLOCK_SIZE])),
            format!("{}+10", md5_hex(&big[BLOCK_SIZE..])),
            h(1),
            format!("{}+{BLOCK_SIZE}", md5_hex(&other[..BLOCK_SIZE])),
            format!("{}+{BLOCK_SIZE}", md5_hex(&other[BLOCK_SIZE..])),
            h(2),
            held.trim_end_matches("+Aheld@99999999").to_string(),
            h(3),
            format!("{}+{}", md5_hex(&small), small.len()),
        ];
        assert_eq!(bare, want);
        assert_eq!(up.locators[7], held);
        assert_eq!(up.reused, 5);
        // Nine blocks written (all but the held one), on two services each.
        assert_eq!(fake.puts.lock().unwrap().len(), 18);
    }

    #[test]
    fn a_failing_parallel_piece_stops_the_upload() {
        let (keep, _) = keep_with(&[OK]);
        let data = vec![1u8; BLOCK_SIZE + 1];
        let independent: Vec<Result<Piece<'_>>> = vec![
            piece(1, &data),
            Err(Error::BadLocator {
                locator: "piece".into(),
                problem: "the source says no".into(),
            }),
            piece(3, &data),
        ];
        let then_asked = AtomicBool::new(false);
        let then = std::iter::from_fn(|| {
            then_asked.store(true, Ordering::SeqCst);
            None
        });
        let e = keep
            .upload_pieces_parallel(independent.into_iter(), then, 2, None, &mut |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("the source says no"), "{e}");
        assert!(!then_asked.load(Ordering::SeqCst));
    }

    #[test]
    fn a_piece_ending_on_a_block_boundary_leaves_no_empty_block() {
        let (keep, _) = keep_with(&[OK]);
        let exact = vec![5u8; BLOCK_SIZE];
        let pieces = vec![piece(0, &exact), piece(1, b"x")];
        let up = keep
            .upload_pieces(pieces.into_iter(), "pieces", None, &mut |_| {})
            .unwrap();
        assert_eq!(up.locators.len(), 2);
        assert!(up.locators[1].starts_with(&format!("{}+1+", md5_hex(b"x"))));
    }

    #[test]
    fn a_failing_piece_source_stops_the_upload() {
        let (keep, _) = keep_with(&[OK]);
        let data = vec![1u8; 100];
        let pieces: Vec<Result<Piece<'_>>> = vec![
            piece(0, &data),
            Err(Error::BadLocator {
                locator: "piece".into(),
                problem: "the source says no".into(),
            }),
            piece(1, &data),
        ];
        let e = keep
            .upload_pieces(pieces.into_iter(), "pieces", None, &mut |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("the source says no"), "{e}");
    }

    #[test]
    fn memory_is_bounded_by_the_buffers_in_flight() {
        // A stream of 10 blocks through 2 workers allocates at most 3
        // buffers: count allocations by watching distinct buffer addresses.
        struct Counting {
            left: usize,
        }
        impl Read for Counting {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.left);
                buf[..n].fill(9);
                self.left -= n;
                Ok(n)
            }
        }
        let (keep, _) = keep_with(&[OK]);
        let addresses = Mutex::new(std::collections::BTreeSet::new());
        let mut observe = |block: &[u8]| {
            addresses.lock().unwrap().insert(block.as_ptr() as usize);
            Ok(())
        };
        let up = keep
            .upload(
                Counting {
                    left: BLOCK_SIZE * 10,
                },
                "d",
                Some(&mut observe),
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(up.locators.len(), 10);
        let n = addresses.lock().unwrap().len();
        assert!(n <= keep.thread_count() + 1, "{n} buffers");
    }
}
