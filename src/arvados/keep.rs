//! Keep: service discovery, rendezvous probe order, and block writes and
//! reads with the legacy replica, storage-class and retry rules
//! (spec §5.2–§5.5).
//!
//! [`KeepClient::write_block`] stores one block; the streaming engine that
//! cuts a `Read` into blocks and writes them on several threads is in
//! `upload.rs`. Network access goes through the small [`KeepTransport`]
//! trait so that the retry rounds can be tested with a fake;
//! [`UreqTransport`] is what production uses.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ureq::Agent;

use super::api::{ApiClient, Discovery, KeepServiceRecord};
use super::http::{
    describe_transport_error, new_request_id, Clock, PlainPut, PlainUrl, SystemClock,
};
use super::manifest::{bare_locator, md5_hex, Locator, EMPTY_BLOCK_LOCATOR};
use crate::error::{redact, Error, KeepWriteFailure, Result};
use crate::settings::ClientConfig;

/// Connect timeout for disk services in the first round; doubled each round.
pub const DISK_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Connect timeout for proxies in the first round; doubled each round.
pub const PROXY_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Stand-in for libcurl's low-speed limit (below 32 KiB/s for 256 s): no
/// single read or write may stall longer than this.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(256);
/// The longest pause between retry rounds.
pub const MAX_ROUND_DELAY: Duration = Duration::from_secs(60);
/// The longest answer to a PUT read (a signed locator is about 100 bytes).
const PUT_REPLY_LIMIT: u64 = 1 << 20;

/// A Keep service the client may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepService {
    pub uuid: String,
    /// `http[s]://host:port/`
    pub root: String,
    /// `disk`, `proxy`, ...
    pub service_type: String,
    pub read_only: bool,
}

impl KeepService {
    /// The service described by a `keep_services` record. A host holding
    /// `:` that is not bracketed is an IPv6 address and gets brackets.
    pub fn from_record(record: &KeepServiceRecord) -> KeepService {
        let host = &record.service_host;
        let host = if !host.starts_with('[') && host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let scheme = if record.service_ssl_flag {
            "https"
        } else {
            "http"
        };
        KeepService {
            uuid: record.uuid.clone(),
            root: format!("{scheme}://{host}:{}/", record.service_port),
            service_type: record.service_type.clone(),
            read_only: record.read_only,
        }
    }

    /// Whether this is a plain disk service (one replica per write). A
    /// missing type counts as disk, as in the legacy client.
    pub fn is_disk(&self) -> bool {
        self.service_type.is_empty() || self.service_type == "disk"
    }
}

/// The services for normal use from `keep_services/accessible`: gateway
/// services (`gateway:*`) are dropped.
pub fn services_from_records(records: &[KeepServiceRecord]) -> Vec<KeepService> {
    records
        .iter()
        .filter(|r| !r.service_type.starts_with("gateway:"))
        .map(KeepService::from_record)
        .collect()
}

/// Services from `ARVADOS_KEEP_SERVICES`: all proxies, with the legacy
/// made-up uuids `00000-bi6l4-<index as 15 digits>`.
pub fn proxy_services(roots: &[String]) -> Vec<KeepService> {
    roots
        .iter()
        .enumerate()
        .map(|(i, root)| KeepService {
            uuid: format!("00000-bi6l4-{i:015}"),
            root: root.clone(),
            service_type: "proxy".into(),
            read_only: false,
        })
        .collect()
}

/// The rendezvous weight of a service for a block: md5 hex of the block
/// hash followed by the last 15 characters of the service uuid.
pub fn service_weight(hash: &str, uuid: &str) -> String {
    let tail = &uuid[uuid.len().saturating_sub(15)..];
    md5_hex(format!("{hash}{tail}").as_bytes())
}

/// Services in the order to probe them for a block: heaviest first.
pub fn probe_order<'a>(hash: &str, services: &[&'a KeepService]) -> Vec<&'a KeepService> {
    let mut weighted: Vec<(String, &KeepService)> = services
        .iter()
        .map(|s| (service_weight(hash, &s.uuid), *s))
        .collect();
    weighted.sort_by(|a, b| b.0.cmp(&a.0));
    weighted.into_iter().map(|(_, s)| s).collect()
}

/// Whether a Keep error status is temporary (the service is retried next
/// round): 408, 409, 423, 500, 502, 503, 504, and anything outside
/// 100–599. Every other non-2xx status is permanent for that service.
pub fn keep_status_is_temporary(status: u16) -> bool {
    matches!(status, 408 | 409 | 423 | 500 | 502 | 503 | 504) || !(100..600).contains(&status)
}

/// Parses `X-Keep-Storage-Classes-Confirmed: a=1, b=2`. `None` (header
/// missing or malformed) means the cluster does not support storage
/// classes.
pub fn parse_classes_confirmed(header: Option<&str>) -> Option<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for entry in header?.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (class, count) = entry.split_once('=').unwrap_or((entry, ""));
        let count = count.trim();
        if count.is_empty() {
            continue;
        }
        *out.entry(class.trim().to_string()).or_insert(0) += count.parse::<u32>().ok()?;
    }
    Some(out)
}

/// The delay between the starts of retry rounds: 4, 8, 16, 32, 60, 60...
/// seconds (`round` is the round about to start, from 1).
pub fn round_delay(round: u32) -> Duration {
    Duration::from_secs(2u64 << round.min(6)).min(MAX_ROUND_DELAY)
}

/// One Keep PUT.
#[derive(Clone, Copy, Debug)]
pub struct PutRequest<'a> {
    pub root: &'a str,
    pub hash: &'a str,
    pub data: &'a [u8],
    pub request_id: &'a str,
    pub desired_replicas: u32,
    /// `X-Keep-Storage-Classes`, already sorted and joined with ", ".
    pub storage_classes: Option<&'a str>,
    pub connect_timeout: Duration,
}

/// One Keep GET.
#[derive(Clone, Copy, Debug)]
pub struct GetRequest<'a> {
    pub root: &'a str,
    /// The full locator, with size and signature.
    pub locator: &'a str,
    pub request_id: &'a str,
    /// Bodies longer than this are an error.
    pub max_body: u64,
    pub connect_timeout: Duration,
}

/// What a Keep service answered.
#[derive(Clone, Debug, Default)]
pub struct KeepReply {
    pub status: u16,
    pub reason: String,
    pub body: Vec<u8>,
    pub replicas_stored: Option<String>,
    pub classes_confirmed: Option<String>,
}

/// How the Keep client reaches services. `Err` is a transport failure
/// (no HTTP status), described in one line.
pub trait KeepTransport: Send + Sync {
    fn put(&self, request: &PutRequest<'_>) -> std::result::Result<KeepReply, String>;
    fn get(&self, request: &GetRequest<'_>) -> std::result::Result<KeepReply, String>;
}

/// The production transport: the shared ureq agent, and for PUTs to
/// `http://` services with no proxy configured, [`PlainPut`], which sends
/// the block without first copying it into ureq's buffer.
pub struct UreqTransport {
    agent: Agent,
    authorization: String,
    plain: Option<PlainPut>,
}

impl UreqTransport {
    pub fn new(agent: Agent, token: &str) -> UreqTransport {
        let plain = agent.config().proxy().is_none().then(PlainPut::new);
        UreqTransport {
            agent,
            authorization: format!("Bearer {token}"),
            plain,
        }
    }

    /// The PUT through [`PlainPut`]; `None` when the root is not plain
    /// HTTP or a proxy is configured.
    fn plain_put(&self, r: &PutRequest<'_>) -> Option<std::result::Result<KeepReply, String>> {
        let plain = self.plain.as_ref()?;
        let url = format!("{}{}", r.root, r.hash);
        let parsed = PlainUrl::parse(&url)?;
        let replicas = r.desired_replicas.to_string();
        let mut headers = vec![
            ("Authorization", self.authorization.as_str()),
            ("X-Request-Id", r.request_id),
            ("X-Keep-Desired-Replicas", replicas.as_str()),
        ];
        if let Some(classes) = r.storage_classes {
            headers.push(("X-Keep-Storage-Classes", classes));
        }
        let reply = plain.put(
            &parsed,
            &headers,
            r.data,
            r.connect_timeout,
            STALL_TIMEOUT,
            PUT_REPLY_LIMIT,
        );
        Some(reply.map(|reply| {
            let status = reply.status;
            KeepReply {
                status,
                reason: ureq::http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
                    .to_string(),
                replicas_stored: reply.header("x-keep-replicas-stored").map(str::to_string),
                classes_confirmed: reply
                    .header("x-keep-storage-classes-confirmed")
                    .map(str::to_string),
                body: reply.body,
            }
        }))
    }

    fn finish(
        response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        max_body: u64,
    ) -> std::result::Result<KeepReply, String> {
        let response = response.map_err(|e| describe_transport_error(&e))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let replicas_stored = header("x-keep-replicas-stored");
        let classes_confirmed = header("x-keep-storage-classes-confirmed");
        let body = response
            .into_body()
            .with_config()
            .limit(max_body)
            .read_to_vec()
            .map_err(|e| describe_transport_error(&e))?;
        Ok(KeepReply {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            body,
            replicas_stored,
            classes_confirmed,
        })
    }
}

impl KeepTransport for UreqTransport {
    fn put(&self, r: &PutRequest<'_>) -> std::result::Result<KeepReply, String> {
        if let Some(reply) = self.plain_put(r) {
            return reply;
        }
        let mut builder = self
            .agent
            .put(format!("{}{}", r.root, r.hash))
            .config()
            .timeout_connect(Some(r.connect_timeout))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .timeout_per_write(Some(STALL_TIMEOUT))
            .build()
            .header("Authorization", &self.authorization)
            .header("X-Request-Id", r.request_id)
            .header("X-Keep-Desired-Replicas", r.desired_replicas.to_string());
        if let Some(classes) = r.storage_classes {
            builder = builder.header("X-Keep-Storage-Classes", classes);
        }
        UreqTransport::finish(builder.send(r.data), PUT_REPLY_LIMIT)
    }

    fn get(&self, r: &GetRequest<'_>) -> std::result::Result<KeepReply, String> {
        let url = format!("{}{}", r.root, r.locator);
        let builder = self
            .agent
            .get(url)
            .config()
            .timeout_connect(Some(r.connect_timeout))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .build()
            .header("Authorization", &self.authorization)
            .header("X-Request-Id", r.request_id)
            .header("Accept", "application/octet-stream");
        UreqTransport::finish(builder.call(), r.max_body)
    }
}

/// Where the list of Keep services comes from.
#[derive(Clone, Debug)]
pub enum ServiceSource {
    /// `keep_services/accessible`, fetched once and again at the start of
    /// every retry round after the first.
    Api(ApiClient),
    /// A fixed list (`ARVADOS_KEEP_SERVICES`, or tests).
    Fixed(Vec<KeepService>),
}

/// What one round of [`KeepClient::in_rounds`] says.
enum Round<T> {
    /// Finished with this.
    Done(T),
    /// No service is left to try.
    GiveUp,
    /// Try again next round.
    Again,
}

/// What the rounds saw, when they did not finish.
struct Rounds {
    attempts: u32,
    /// Whether any round had a service list.
    listed: bool,
    /// Why the list could not be had, the last time it could not.
    list_error: String,
    /// The last round's services, in probe order.
    last_order: Vec<String>,
}

impl Rounds {
    /// These rounds, if any of them had a service list; else the error
    /// saying why none could be had (`what`: "cannot read block ...").
    fn listed(self, request_id: &str, what: impl FnOnce() -> String) -> Result<Rounds> {
        if self.listed {
            return Ok(self);
        }
        Err(Error::NoKeepServices {
            request_id: request_id.to_string(),
            problem: format!("{}: {}", what(), self.list_error),
        })
    }
}

/// The last answer of one service for one block.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Stored,
    Temporary(String),
    Permanent(String),
}

/// The Keep client: writes and reads blocks.
pub struct KeepClient {
    transport: Box<dyn KeepTransport>,
    source: ServiceSource,
    cached_services: Mutex<Option<Arc<Vec<KeepService>>>>,
    token: String,
    retries: u32,
    copies: u32,
    classes: Vec<String>,
    request_id: String,
    clock: Arc<dyn Clock>,
    threads: usize,
    warned_classes_unsupported: AtomicBool,
    warnings: Mutex<Vec<String>>,
    dry_run: bool,
}

impl std::fmt::Debug for KeepClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepClient")
            .field("source", &self.source)
            .field("copies", &self.copies)
            .field("classes", &self.classes)
            .field("retries", &self.retries)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl KeepClient {
    /// A client on the API client's agent and token: services from
    /// `config.keep_services` (all proxies) if set, else from the API.
    /// Replication 2 and no storage classes until set.
    pub fn new(api: &ApiClient, config: &ClientConfig) -> KeepClient {
        let source = match &config.keep_services {
            Some(roots) => ServiceSource::Fixed(proxy_services(roots)),
            None => ServiceSource::Api(api.clone()),
        };
        KeepClient::with_transport(
            Box::new(UreqTransport::new(api.agent().clone(), api.token())),
            source,
            api.token(),
            api.retries(),
        )
        .clock(api.clock())
    }

    /// [`KeepClient::new`] with the cluster's defaults, as arv-put sets them
    /// up: replication from the discovery document, storage classes marked
    /// default in the cluster config (not asked for when Keep services come
    /// from the environment, or the server has no config endpoint).
    pub fn for_cluster(
        api: &ApiClient,
        config: &ClientConfig,
        discovery: &Discovery,
    ) -> Result<KeepClient> {
        let mut keep = KeepClient::new(api, config).copies(discovery.default_replication());
        if config.keep_services.is_none() && discovery.has_configs() {
            keep = keep.storage_classes(api.cluster_config()?.default_storage_classes());
        }
        Ok(keep)
    }

    /// A client on any transport.
    pub fn with_transport(
        transport: Box<dyn KeepTransport>,
        source: ServiceSource,
        token: &str,
        retries: u32,
    ) -> KeepClient {
        KeepClient {
            transport,
            source,
            cached_services: Mutex::new(None),
            token: token.to_string(),
            retries,
            copies: 2,
            classes: Vec::new(),
            request_id: new_request_id(),
            clock: Arc::new(SystemClock),
            threads: 2,
            warned_classes_unsupported: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
            dry_run: false,
        }
    }

    /// Replicas wanted per block (`X-Keep-Desired-Replicas`).
    pub fn copies(mut self, copies: u32) -> KeepClient {
        self.copies = copies;
        self
    }

    /// Storage classes wanted per block.
    pub fn storage_classes(mut self, mut classes: Vec<String>) -> KeepClient {
        classes.sort();
        classes.dedup();
        self.classes = classes;
        self
    }

    /// `--dry-run`: blocks are hashed but never sent; each write returns
    /// the bare locator, so a manifest and its portable data hash can still
    /// be computed.
    pub fn dry_run(mut self) -> KeepClient {
        self.dry_run = true;
        self
    }

    /// The replicas asked for per block.
    pub fn wanted_copies(&self) -> u32 {
        self.copies
    }

    /// The storage classes asked for per block (sorted).
    pub fn wanted_classes(&self) -> &[String] {
        &self.classes
    }

    /// The `X-Request-Id` of every Keep request (arv-put uses one per run).
    pub fn request_id(mut self, id: &str) -> KeepClient {
        self.request_id = id.to_string();
        self
    }

    /// The clock retry rounds wait on.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> KeepClient {
        self.clock = clock;
        self
    }

    /// Blocks hashed and written at once by [`KeepClient::upload`]; memory
    /// is about `(threads + 1) × 64 MiB`.
    pub fn threads(mut self, threads: usize) -> KeepClient {
        self.threads = threads.max(1);
        self
    }

    /// The number of upload threads.
    pub fn thread_count(&self) -> usize {
        self.threads
    }

    /// The request id Keep requests carry.
    pub fn current_request_id(&self) -> &str {
        &self.request_id
    }

    /// Warnings gathered since the last call (for the caller to log).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap())
    }

    fn warn_once_classes_unsupported(&self) {
        if !self.warned_classes_unsupported.swap(true, Ordering::SeqCst) {
            self.warnings
                .lock()
                .unwrap()
                .push("X-Keep-Storage-Classes header not supported by the cluster".into());
        }
    }

    /// The current service list, refetched from the API when `refresh`.
    pub fn services(&self, refresh: bool) -> Result<Arc<Vec<KeepService>>> {
        let api = match &self.source {
            ServiceSource::Fixed(list) => {
                return if list.is_empty() {
                    Err(self.no_services("the service list is empty"))
                } else {
                    Ok(Arc::new(list.clone()))
                };
            }
            ServiceSource::Api(api) => api,
        };
        if !refresh {
            if let Some(list) = self.cached_services.lock().unwrap().clone() {
                return Ok(list);
            }
        }
        let list = services_from_records(&api.keep_services_accessible()?);
        if list.is_empty() {
            return Err(self.no_services("keep_services/accessible returned no services"));
        }
        let list = Arc::new(list);
        *self.cached_services.lock().unwrap() = Some(list.clone());
        Ok(list)
    }

    fn no_services(&self, problem: &str) -> Error {
        Error::NoKeepServices {
            request_id: self.request_id.clone(),
            problem: problem.to_string(),
        }
    }

    /// Hashes and stores one block; returns the signed locator.
    pub fn put_block(&self, data: &[u8]) -> Result<String> {
        self.write_block(&md5_hex(data), data)
    }

    /// Stores one block whose md5 hex is `hash`, following spec §5.4:
    /// services in rendezvous order, one writer per missing replica for
    /// disk services (one writer when any proxy is present), up to
    /// `retries + 1` rounds spaced 4, 8, 16, 32, 60... s apart, services
    /// that succeeded or failed permanently not retried. Returns the
    /// signed locator of the last successful answer.
    pub fn write_block(&self, hash: &str, data: &[u8]) -> Result<String> {
        let copies = self.copies;
        if copies < 1 || self.dry_run {
            return Ok(bare_locator(hash, data.len() as u64));
        }
        let mut done_copies = 0u32;
        let mut confirmed: BTreeMap<String, u32> = BTreeMap::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut answers: BTreeMap<String, Answer> = BTreeMap::new();
        let mut locator: Option<String> = None;
        // Cleared for the rest of this block when a service does not
        // confirm storage classes (the legacy client does the same per
        // block, and warns once per run).
        let mut tracking = true;

        let rounds = self.in_rounds(hash, true, |round, order, proxy_mode| {
            let tasks: VecDeque<&KeepService> = order
                .into_iter()
                .filter(|s| !finished.contains(&s.root))
                .collect();
            if tasks.is_empty() {
                // "No more Keep services to try; giving up."
                return Round::GiveUp;
            }
            let remaining = copies.saturating_sub(done_copies);
            let writers = if proxy_mode {
                1
            } else {
                remaining.max(1) as usize
            };
            let timeout = connect_timeout(proxy_mode, round);
            let outcome = self.write_round(
                hash,
                data,
                tasks,
                RoundGoal {
                    copies: remaining,
                    total_copies: copies,
                    classes: if tracking { &self.classes } else { &[] },
                    confirmed_before: &confirmed,
                },
                writers,
                timeout,
            );
            done_copies += outcome.copies;
            if outcome.classes_unsupported {
                tracking = false;
                self.warn_once_classes_unsupported();
            }
            for (class, n) in outcome.confirmed {
                *confirmed.entry(class).or_insert(0) += n;
            }
            for (root, answer) in outcome.answers {
                if !matches!(answer, Answer::Temporary(_)) {
                    finished.insert(root.clone());
                }
                answers.insert(root, answer);
            }
            if outcome.locator.is_some() {
                locator = outcome.locator;
            }
            let classes_done = !tracking
                || self
                    .classes
                    .iter()
                    .all(|c| confirmed.get(c).copied().unwrap_or(0) >= copies);
            match (&locator, done_copies >= copies && classes_done) {
                (Some(loc), true) => Round::Done(loc.clone()),
                _ => Round::Again,
            }
        });
        let block = bare_locator(hash, data.len() as u64);
        let rounds = match rounds {
            Ok(locator) => return Ok(locator),
            Err(rounds) => {
                rounds.listed(&self.request_id, || format!("cannot write block {block}"))?
            }
        };
        let Rounds {
            attempts,
            last_order,
            ..
        } = rounds;
        let services = last_order
            .iter()
            .filter_map(|root| match answers.get(root) {
                Some(Answer::Temporary(t)) | Some(Answer::Permanent(t)) => {
                    Some((root.clone(), redact(t, &self.token)))
                }
                _ => None,
            })
            .collect();
        let stored_classes = if !tracking {
            Vec::new()
        } else {
            self.classes
                .iter()
                .filter(|c| confirmed.get(*c).copied().unwrap_or(0) >= copies)
                .cloned()
                .collect()
        };
        Err(Error::KeepWrite(Box::new(KeepWriteFailure {
            request_id: self.request_id.clone(),
            block,
            attempts,
            wanted_copies: copies,
            wanted_classes: self.classes.clone(),
            stored_copies: done_copies,
            stored_classes,
            services,
        })))
    }

    /// The one retry driver of Keep writes and reads (spec §5.4, §5.5): up
    /// to `retries + 1` rounds spaced 4, 8, 16, 32, 60... s apart, each
    /// with the service list (fetched again after the first round; a
    /// round whose list cannot be had counts, and tries nothing), in
    /// rendezvous order for `hash` (writable services only for a write).
    /// `round(n, services, proxy_mode)` tries them; what the round says
    /// ends the rounds or not. `Err` holds what the rounds saw, for the
    /// caller's error.
    fn in_rounds<T>(
        &self,
        hash: &str,
        writable_only: bool,
        mut round: impl FnMut(u32, Vec<&KeepService>, bool) -> Round<T>,
    ) -> std::result::Result<T, Rounds> {
        let mut seen = Rounds {
            attempts: 0,
            listed: false,
            list_error: String::new(),
            last_order: Vec::new(),
        };
        let mut next_start: Option<Instant> = None;
        for n in 0..=self.retries {
            self.wait_for_round(n, &mut next_start);
            seen.attempts += 1;
            let services = match self.services(n > 0) {
                Ok(s) => s,
                Err(e) => {
                    seen.list_error = service_list_problem(e);
                    continue;
                }
            };
            seen.listed = true;
            let usable: Vec<&KeepService> = services
                .iter()
                .filter(|s| !(writable_only && s.read_only))
                .collect();
            let proxy_mode = usable.iter().any(|s| !s.is_disk());
            let order = probe_order(hash, &usable);
            seen.last_order = order.iter().map(|s| s.root.clone()).collect();
            match round(n, order, proxy_mode) {
                Round::Done(value) => return Ok(value),
                Round::GiveUp => break,
                Round::Again => {}
            }
        }
        Err(seen)
    }

    /// Sleeps until the start of `round` (4, 8, 16, 32, 60... s after the
    /// previous round's start; no sleep if that round took longer).
    fn wait_for_round(&self, round: u32, next_start: &mut Option<Instant>) {
        if let Some(start) = *next_start {
            let now = self.clock.now();
            if start > now {
                self.clock.sleep(start - now);
            }
        }
        *next_start = Some(self.clock.now() + round_delay(round + 1));
    }

    /// One round: `writers` threads take services from `tasks` while more
    /// replicas (or storage-class confirmations) are needed than are in
    /// flight.
    fn write_round(
        &self,
        hash: &str,
        data: &[u8],
        tasks: VecDeque<&KeepService>,
        goal: RoundGoal<'_>,
        writers: usize,
        connect_timeout: Duration,
    ) -> RoundOutcome {
        let writers = writers.clamp(1, tasks.len().max(1));
        let shared = Mutex::new(RoundState {
            queue: tasks,
            in_flight: 0,
            outcome: RoundOutcome::default(),
        });
        let wake = Condvar::new();
        let work = || loop {
            let (service, classes) = {
                let mut st = shared.lock().unwrap();
                loop {
                    let pending_classes = goal.pending_classes(&st.outcome);
                    let needed = (goal.copies.saturating_sub(st.outcome.copies) as usize)
                        .max(pending_classes.len());
                    if needed == 0 {
                        return;
                    }
                    if st.in_flight >= needed {
                        st = wake.wait(st).unwrap();
                        continue;
                    }
                    match st.queue.pop_front() {
                        Some(s) => {
                            st.in_flight += 1;
                            break (s, pending_classes);
                        }
                        None => return,
                    }
                }
            };
            let classes = (!classes.is_empty()).then(|| classes.join(", "));
            let request = PutRequest {
                root: &service.root,
                hash,
                data,
                request_id: &self.request_id,
                desired_replicas: goal.total_copies,
                storage_classes: classes.as_deref(),
                connect_timeout,
            };
            let started = Instant::now();
            let reply = self.transport.put(&request);
            debug_request("PUT", hash, &service.root, &reply, data.len(), started);
            let mut st = shared.lock().unwrap();
            st.in_flight -= 1;
            record_put(&mut st.outcome, &service.root, hash, reply);
            wake.notify_all();
        };
        if writers == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 1..writers {
                    s.spawn(work);
                }
                work();
            });
        }
        shared.into_inner().unwrap().outcome
    }

    /// Reads a block by its (signed) locator, checking its md5.
    /// GETs with rendezvous order and retry rounds (spec §5.5): a service
    /// that fails permanently is not asked again; a body whose md5 does not
    /// match is a failure and the next service is tried.
    pub fn get_block(&self, locator: &str) -> Result<Vec<u8>> {
        let parsed = Locator::parse(locator)?;
        if parsed.bare() == EMPTY_BLOCK_LOCATOR {
            return Ok(Vec::new());
        }
        let hash = parsed.hash();
        let mut unusable: HashSet<String> = HashSet::new();
        let mut answers: BTreeMap<String, (Option<u16>, String)> = BTreeMap::new();
        let rounds = self.in_rounds(hash, false, |round, order, proxy_mode| {
            let to_try: Vec<&KeepService> = order
                .into_iter()
                .filter(|s| !unusable.contains(&s.root))
                .collect();
            if to_try.is_empty() {
                return Round::GiveUp;
            }
            for service in to_try {
                let request = GetRequest {
                    root: &service.root,
                    locator,
                    request_id: &self.request_id,
                    max_body: parsed.size() + 1,
                    connect_timeout: connect_timeout(proxy_mode, round),
                };
                let started = Instant::now();
                let reply = self.transport.get(&request);
                let size = reply.as_ref().map_or(0, |r| r.body.len());
                debug_request("GET", locator, &service.root, &reply, size, started);
                match reply {
                    Ok(r) if (200..300).contains(&r.status) => {
                        if md5_hex(&r.body) == hash && r.body.len() as u64 == parsed.size() {
                            return Round::Done(r.body);
                        }
                        answers.insert(
                            service.root.clone(),
                            (None, "returned data that fails the checksum".into()),
                        );
                    }
                    Ok(r) => {
                        if !keep_status_is_temporary(r.status) {
                            unusable.insert(service.root.clone());
                        }
                        answers.insert(service.root.clone(), (Some(r.status), status_text(&r)));
                    }
                    Err(text) => {
                        answers.insert(service.root.clone(), (None, format!("failed: {text}")));
                    }
                }
            }
            Round::Again
        });
        let rounds = match rounds {
            Ok(body) => return Ok(body),
            Err(rounds) => rounds.listed(&self.request_id, || {
                format!("cannot read block {}", parsed.bare())
            })?,
        };
        let Rounds {
            attempts,
            last_order,
            ..
        } = rounds;
        let not_found = !last_order.is_empty()
            && last_order
                .iter()
                .all(|root| matches!(answers.get(root), Some((Some(403 | 404 | 410), _))));
        Err(Error::KeepRead {
            request_id: self.request_id.clone(),
            locator: parsed.bare(),
            attempts,
            not_found,
            services: last_order
                .iter()
                .filter_map(|root| {
                    answers
                        .get(root)
                        .map(|(_, t)| (root.clone(), redact(t, &self.token)))
                })
                .collect(),
        })
    }
}

/// Why listing services failed, without repeating "no Keep services".
fn service_list_problem(error: Error) -> String {
    match error {
        Error::NoKeepServices { problem, .. } => problem,
        other => other.to_string(),
    }
}

/// The connect timeout of a round: 2 s (disk) or 20 s (proxy), doubled
/// each round.
pub fn connect_timeout(proxy_mode: bool, round: u32) -> Duration {
    let base = if proxy_mode {
        PROXY_CONNECT_TIMEOUT
    } else {
        DISK_CONNECT_TIMEOUT
    };
    base * (1u32 << round.min(10))
}

/// What a round has to achieve.
struct RoundGoal<'a> {
    /// Replicas still missing when the round starts.
    copies: u32,
    /// Replicas wanted in all (what each class needs).
    total_copies: u32,
    /// Classes wanted (empty when not tracked).
    classes: &'a [String],
    /// Confirmations from earlier rounds.
    confirmed_before: &'a BTreeMap<String, u32>,
}

impl RoundGoal<'_> {
    /// Classes not yet confirmed `total_copies` times, sorted.
    fn pending_classes(&self, outcome: &RoundOutcome) -> Vec<String> {
        if outcome.classes_unsupported {
            return Vec::new();
        }
        self.classes
            .iter()
            .filter(|c| {
                let before = self.confirmed_before.get(*c).copied().unwrap_or(0);
                let now = outcome.confirmed.get(*c).copied().unwrap_or(0);
                before + now < self.total_copies
            })
            .cloned()
            .collect()
    }
}

struct RoundState<'a> {
    queue: VecDeque<&'a KeepService>,
    in_flight: usize,
    outcome: RoundOutcome,
}

#[derive(Default)]
struct RoundOutcome {
    copies: u32,
    confirmed: BTreeMap<String, u32>,
    classes_unsupported: bool,
    locator: Option<String>,
    answers: Vec<(String, Answer)>,
}

/// "answered 503 Service Unavailable: <first line of the body>".
/// The DEBUG line of one block request: the locator without its
/// signature, never a header.
fn debug_request(
    method: &str,
    locator: &str,
    root: &str,
    reply: &std::result::Result<KeepReply, String>,
    bytes: usize,
    started: Instant,
) {
    crate::log::debug(crate::log::KEEP, || {
        let outcome = match reply {
            Ok(r) => r.status.to_string(),
            // A GET's URL holds the signed locator: keep the signature
            // out of the line.
            Err(problem) => format!(
                "failed ({})",
                problem.replace(locator, crate::log::unsigned(locator))
            ),
        };
        // A PUT names its block by hash alone; the line shows hash+size.
        let shown = match crate::log::unsigned(locator) {
            bare if bare.contains('+') => bare.to_string(),
            hash => format!("{hash}+{bytes}"),
        };
        format!(
            "{method} {shown} {root} {outcome} {bytes} bytes {} ms",
            crate::log::millis(started)
        )
    });
}

fn status_text(reply: &KeepReply) -> String {
    let mut text = format!("answered {}", reply.status);
    if !reply.reason.is_empty() {
        text.push(' ');
        text.push_str(&reply.reason);
    }
    let body = String::from_utf8_lossy(&reply.body);
    let line = body.trim().lines().next().unwrap_or("").trim();
    if !line.is_empty() {
        let line: String = line.chars().take(200).collect();
        text.push_str(": ");
        text.push_str(&line);
    }
    text
}

fn record_put(
    outcome: &mut RoundOutcome,
    root: &str,
    hash: &str,
    reply: std::result::Result<KeepReply, String>,
) {
    let answer = match reply {
        Err(text) => Answer::Temporary(format!("failed: {text}")),
        Ok(r) if (200..300).contains(&r.status) => {
            let body = String::from_utf8_lossy(&r.body).trim().to_string();
            if !body.starts_with(&format!("{hash}+")) {
                Answer::Temporary(format!(
                    "answered {} with an unexpected body {:?}",
                    r.status,
                    body.chars().take(100).collect::<String>()
                ))
            } else {
                let replicas = r
                    .replicas_stored
                    .as_deref()
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .unwrap_or(1);
                outcome.copies += replicas;
                match parse_classes_confirmed(r.classes_confirmed.as_deref()) {
                    Some(classes) => {
                        for (class, n) in classes {
                            *outcome.confirmed.entry(class).or_insert(0) += n;
                        }
                    }
                    None => outcome.classes_unsupported = true,
                }
                outcome.locator = Some(body);
                Answer::Stored
            }
        }
        Ok(r) if keep_status_is_temporary(r.status) => Answer::Temporary(status_text(&r)),
        Ok(r) => Answer::Permanent(status_text(&r)),
    };
    outcome.answers.push((root.to_string(), answer));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::arvados::http::testing::{FakeClock, ScriptedServer};

    fn svc(n: u32, kind: &str) -> KeepService {
        KeepService {
            uuid: format!("zzzzz-bi6l4-{n:015}"),
            root: format!("http://keep{n}:25107/"),
            service_type: kind.into(),
            read_only: false,
        }
    }

    #[test]
    fn plain_and_ureq_puts_send_and_read_the_same() {
        const ANSWER: &str = "HTTP/1.1 200 OK\r\nX-Keep-Replicas-Stored: 1\r\n\
            X-Keep-Storage-Classes-Confirmed: default=1\r\nContent-Length: 44\r\n\r\n\
            5d41402abc4b2a76b9719d911017c592+5+Asig@123\n";
        const REFUSED: &str =
            "HTTP/1.1 507 Insufficient Storage\r\nContent-Length: 5\r\n\r\nfull\n";
        // One server each: a server serves one connection at a time, and
        // each transport keeps its own alive.
        let servers =
            [(); 2].map(|_| ScriptedServer::start(vec![(ANSWER, false), (REFUSED, false)]));
        let roots = servers
            .each_ref()
            .map(|s| format!("http://127.0.0.1:{}/", s.port));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let plain = UreqTransport::new(agent.clone(), "tok");
        assert!(plain.plain.is_some());
        let through_ureq = UreqTransport {
            plain: None,
            ..UreqTransport::new(agent, "tok")
        };
        let request = PutRequest {
            root: "",
            hash: "5d41402abc4b2a76b9719d911017c592",
            data: b"hello",
            request_id: "req-x",
            desired_replicas: 2,
            storage_classes: Some("archive, default"),
            connect_timeout: Duration::from_secs(5),
        };
        let mut replies = Vec::new();
        for (transport, root) in [&plain, &through_ureq].into_iter().zip(&roots) {
            for _ in 0..2 {
                let r = transport.put(&PutRequest { root, ..request }).unwrap();
                replies.push((
                    r.status,
                    r.reason,
                    r.body,
                    r.replicas_stored,
                    r.classes_confirmed,
                ));
            }
        }
        assert_eq!(replies[0], replies[2]);
        assert_eq!(replies[1], replies[3]);
        assert_eq!(replies[0].0, 200);
        assert_eq!(replies[0].4.as_deref(), Some("default=1"));
        assert_eq!(
            (replies[1].0, replies[1].1.as_str(), &replies[1].2[..]),
            (507, "Insufficient Storage", &b"full\n"[..])
        );
        let received: Vec<_> = servers.into_iter().flat_map(|s| s.finish()).collect();
        assert_eq!(received.len(), 4);
        for r in &received {
            assert!(r
                .head
                .starts_with("PUT /5d41402abc4b2a76b9719d911017c592 HTTP/1.1\r\n"));
            assert_eq!(r.body, b"hello");
            for (name, value) in [
                ("authorization", "Bearer tok"),
                ("x-request-id", "req-x"),
                ("x-keep-desired-replicas", "2"),
                ("x-keep-storage-classes", "archive, default"),
                ("content-length", "5"),
            ] {
                assert_eq!(r.header(name), Some(value), "{name} in {}", r.head);
            }
        }
    }

    #[test]
    fn rendezvous_worked_example() {
        let h = "acbd18db4cc2f85cedef654fccc4a4d8";
        let services: Vec<KeepService> = (0..4).map(|n| svc(n, "disk")).collect();
        let weights: Vec<String> = services
            .iter()
            .map(|s| service_weight(h, &s.uuid)[..6].to_string())
            .collect();
        assert_eq!(weights, ["7dbe58", "28a8a4", "3a0bc4", "bd8cfa"]);
        let refs: Vec<&KeepService> = services.iter().collect();
        let order: Vec<String> = probe_order(h, &refs)
            .iter()
            .map(|s| s.uuid[s.uuid.len() - 1..].to_string())
            .collect();
        assert_eq!(order, ["3", "0", "2", "1"]);
    }

    #[test]
    fn service_records_to_roots() {
        let rec = |host: &str, ssl: bool, kind: &str| KeepServiceRecord {
            uuid: "zzzzz-bi6l4-000000000000000".into(),
            service_host: host.into(),
            service_port: 25107,
            service_ssl_flag: ssl,
            service_type: kind.into(),
            read_only: false,
        };
        let list = services_from_records(&[
            rec("keep0.example", false, "disk"),
            rec("::1", true, "disk"),
            rec("[::2]", false, "proxy"),
            rec("gw.example", false, "gateway:test"),
        ]);
        let roots: Vec<&str> = list.iter().map(|s| s.root.as_str()).collect();
        assert_eq!(
            roots,
            [
                "http://keep0.example:25107/",
                "https://[::1]:25107/",
                "http://[::2]:25107/"
            ]
        );
        let proxies = proxy_services(&["http://a/".into(), "https://b:1/".into()]);
        assert_eq!(proxies[1].uuid, "00000-bi6l4-000000000000001");
        assert!(!proxies[0].is_disk());
    }

    #[test]
    fn status_classification() {
        for s in [408, 409, 423, 500, 502, 503, 504, 0, 99, 600] {
            assert!(keep_status_is_temporary(s), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 411, 413, 422, 501, 505, 507] {
            assert!(!keep_status_is_temporary(s), "{s}");
        }
    }

    #[test]
    fn classes_confirmed_header() {
        assert_eq!(parse_classes_confirmed(None), None);
        let m = parse_classes_confirmed(Some("default=2, archive=1,,")).unwrap();
        assert_eq!(m["default"], 2);
        assert_eq!(m["archive"], 1);
        assert_eq!(parse_classes_confirmed(Some("default=x")), None);
        assert_eq!(parse_classes_confirmed(Some("")), Some(BTreeMap::new()));
        assert_eq!(
            parse_classes_confirmed(Some("default=")),
            Some(BTreeMap::new())
        );
    }

    #[test]
    fn round_spacing_and_connect_timeouts() {
        let delays: Vec<u64> = (1..=8).map(|r| round_delay(r).as_secs()).collect();
        assert_eq!(delays, [4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(connect_timeout(false, 0), Duration::from_secs(2));
        assert_eq!(connect_timeout(false, 3), Duration::from_secs(16));
        assert_eq!(connect_timeout(true, 1), Duration::from_secs(40));
    }

    /// A scripted fake transport: each service root has a queue of answers
    /// (the last one repeats); every PUT is recorded.
    pub(crate) struct Fake {
        pub script: Mutex<BTreeMap<String, VecDeque<FakeAnswer>>>,
        pub puts: Mutex<Vec<(String, Option<String>, u32)>>,
        pub gets: Mutex<Vec<String>>,
        pub store: Mutex<BTreeMap<String, Vec<u8>>>,
    }

    #[derive(Clone, Debug)]
    pub(crate) enum FakeAnswer {
        /// Store it; replicas-stored header; classes-confirmed header.
        Ok(Option<&'static str>, Option<&'static str>),
        Status(u16),
        Down,
    }

    impl Fake {
        pub fn new(script: &[(&KeepService, &[FakeAnswer])]) -> Fake {
            Fake {
                script: Mutex::new(
                    script
                        .iter()
                        .map(|(s, a)| (s.root.clone(), a.iter().cloned().collect()))
                        .collect(),
                ),
                puts: Mutex::new(Vec::new()),
                gets: Mutex::new(Vec::new()),
                store: Mutex::new(BTreeMap::new()),
            }
        }
        fn next(&self, root: &str) -> FakeAnswer {
            let mut script = self.script.lock().unwrap();
            let q = script.get_mut(root).expect("unscripted service");
            if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                q.front().cloned().unwrap()
            }
        }
    }

    impl KeepTransport for Fake {
        fn put(&self, r: &PutRequest<'_>) -> std::result::Result<KeepReply, String> {
            assert_eq!(md5_hex(r.data), r.hash);
            self.puts.lock().unwrap().push((
                r.root.to_string(),
                r.storage_classes.map(str::to_string),
                r.desired_replicas,
            ));
            match self.next(r.root) {
                FakeAnswer::Ok(replicas, classes) => {
                    self.store
                        .lock()
                        .unwrap()
                        .insert(r.hash.to_string(), r.data.to_vec());
                    Ok(KeepReply {
                        status: 200,
                        reason: "OK".into(),
                        body: format!("{}+{}+Asig@12345678\n", r.hash, r.data.len()).into_bytes(),
                        replicas_stored: replicas.map(str::to_string),
                        classes_confirmed: classes.map(str::to_string),
                    })
                }
                FakeAnswer::Status(status) => Ok(KeepReply {
                    status,
                    reason: "Nope".into(),
                    body: b"plain text reason\n".to_vec(),
                    ..KeepReply::default()
                }),
                FakeAnswer::Down => Err("connection refused".into()),
            }
        }
        fn get(&self, r: &GetRequest<'_>) -> std::result::Result<KeepReply, String> {
            self.gets.lock().unwrap().push(r.root.to_string());
            match self.next(r.root) {
                FakeAnswer::Ok(..) => {
                    let hash = &r.locator[..32];
                    match self.store.lock().unwrap().get(hash) {
                        Some(data) => Ok(KeepReply {
                            status: 200,
                            body: data.clone(),
                            ..KeepReply::default()
                        }),
                        None => Ok(KeepReply {
                            status: 404,
                            ..KeepReply::default()
                        }),
                    }
                }
                FakeAnswer::Status(status) => Ok(KeepReply {
                    status,
                    ..KeepReply::default()
                }),
                FakeAnswer::Down => Err("connection refused".into()),
            }
        }
    }

    /// A transport shared between the client and the test.
    pub(crate) struct Shared(pub Arc<Fake>);
    impl KeepTransport for Shared {
        fn put(&self, r: &PutRequest<'_>) -> std::result::Result<KeepReply, String> {
            self.0.put(r)
        }
        fn get(&self, r: &GetRequest<'_>) -> std::result::Result<KeepReply, String> {
            self.0.get(r)
        }
    }

    pub(crate) fn client(
        services: Vec<KeepService>,
        fake: Arc<Fake>,
        retries: u32,
        clock: Arc<FakeClock>,
    ) -> KeepClient {
        KeepClient::with_transport(
            Box::new(Shared(fake)),
            ServiceSource::Fixed(services),
            "v2/x/secret",
            retries,
        )
        .clock(clock)
        .request_id("req-test0000000000000000")
    }

    const OK: FakeAnswer = FakeAnswer::Ok(None, Some("default=1"));

    #[test]
    fn two_disk_services_each_get_one_replica() {
        let services: Vec<KeepService> = (0..4).map(|n| svc(n, "disk")).collect();
        let script: Vec<(&KeepService, &[FakeAnswer])> =
            services.iter().map(|s| (s, &[OK][..])).collect();
        let fake = Arc::new(Fake::new(&script));
        let keep = client(
            services.clone(),
            fake.clone(),
            3,
            Arc::new(FakeClock::new()),
        )
        .storage_classes(vec!["default".into()]);
        let loc = keep.put_block(b"foo").unwrap();
        assert_eq!(loc, "acbd18db4cc2f85cedef654fccc4a4d8+3+Asig@12345678");
        let puts = fake.puts.lock().unwrap().clone();
        // The first two services in rendezvous order (…3, …0), in parallel.
        let mut roots: Vec<String> = puts.iter().map(|p| p.0.clone()).collect();
        roots.sort();
        assert_eq!(roots, ["http://keep0:25107/", "http://keep3:25107/"]);
        assert!(puts
            .iter()
            .all(|p| p.1.as_deref() == Some("default") && p.2 == 2));
        assert!(keep.take_warnings().is_empty());
    }

    #[test]
    fn a_failing_service_is_replaced_by_the_next_in_order() {
        let services: Vec<KeepService> = (0..4).map(|n| svc(n, "disk")).collect();
        let fake = Arc::new(Fake::new(&[
            (&services[3], &[FakeAnswer::Status(507)][..]),
            (&services[0], &[OK][..]),
            (&services[2], &[OK][..]),
            (&services[1], &[OK][..]),
        ]));
        let clock = Arc::new(FakeClock::new());
        let keep = client(services.clone(), fake.clone(), 3, clock.clone());
        keep.put_block(b"foo").unwrap();
        let roots: Vec<String> = fake
            .puts
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.0.clone())
            .collect();
        assert_eq!(roots.len(), 3);
        assert!(roots.contains(&"http://keep2:25107/".to_string()));
        assert!(!roots.contains(&"http://keep1:25107/".to_string()));
        // All within one round: no sleeping.
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn temporary_failures_are_retried_in_spaced_rounds() {
        let services = vec![svc(0, "disk"), svc(1, "disk")];
        let fake = Arc::new(Fake::new(&[
            (
                &services[0],
                &[FakeAnswer::Status(503), FakeAnswer::Down, OK][..],
            ),
            (&services[1], &[OK][..]),
        ]));
        let clock = Arc::new(FakeClock::new());
        let keep = client(services.clone(), fake.clone(), 5, clock.clone());
        keep.put_block(b"foo").unwrap();
        // keep1 stored in round 1 and is not asked again.
        let puts: Vec<String> = fake
            .puts
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.0.clone())
            .collect();
        assert_eq!(puts.iter().filter(|r| r.contains("keep1")).count(), 1);
        assert_eq!(puts.iter().filter(|r| r.contains("keep0")).count(), 3);
        assert_eq!(
            clock.sleeps(),
            [Duration::from_secs(4), Duration::from_secs(8)]
        );
    }

    #[test]
    fn rounds_that_take_long_do_not_sleep() {
        struct Slow(Arc<Fake>, Arc<FakeClock>);
        impl KeepTransport for Slow {
            fn put(&self, r: &PutRequest<'_>) -> std::result::Result<KeepReply, String> {
                self.1.advance(Duration::from_secs(5));
                self.0.put(r)
            }
            fn get(&self, r: &GetRequest<'_>) -> std::result::Result<KeepReply, String> {
                self.0.get(r)
            }
        }
        let services = vec![svc(0, "proxy")];
        let fake = Arc::new(Fake::new(&[(
            &services[0],
            &[FakeAnswer::Status(500), FakeAnswer::Status(500), OK][..],
        )]));
        let clock = Arc::new(FakeClock::new());
        let keep = KeepClient::with_transport(
            Box::new(Slow(fake, clock.clone())),
            ServiceSource::Fixed(services),
            "t",
            5,
        )
        .copies(1)
        .clock(clock.clone());
        keep.put_block(b"x").unwrap();
        // Round 1 took 5 s of the 4 s spacing: no sleep; round 2 took 5 of 8.
        assert_eq!(clock.sleeps(), [Duration::from_secs(3)]);
    }

    #[test]
    fn permanent_failures_end_early_with_every_answer_named() {
        let services = vec![svc(0, "disk"), svc(1, "disk")];
        let fake = Arc::new(Fake::new(&[
            (&services[0], &[FakeAnswer::Status(403)][..]),
            (&services[1], &[FakeAnswer::Status(400)][..]),
        ]));
        let clock = Arc::new(FakeClock::new());
        let keep = client(services, fake.clone(), 10, clock.clone());
        let e = keep.put_block(b"foo").unwrap_err();
        // One round: nothing left to try after both refused for good.
        assert_eq!(fake.puts.lock().unwrap().len(), 2);
        assert!(clock.sleeps().len() <= 1);
        let text = e.to_string();
        assert!(text.starts_with(
            "[req-test0000000000000000] failed to write block acbd18db4cc2f85cedef654fccc4a4d8+3 \
             after 2 attempts: wanted 2 copies but stored 0 copies: service http://keep"
        ), "{text}");
        assert!(
            text.contains("answered 403 Nope: plain text reason"),
            "{text}"
        );
        assert!(text.contains("answered 400 Nope"), "{text}");
    }

    #[test]
    fn retry_budget_exhausted_reports_attempts() {
        let services = vec![svc(0, "disk"), svc(1, "disk")];
        let fake = Arc::new(Fake::new(&[
            (&services[0], &[OK][..]),
            (&services[1], &[FakeAnswer::Down][..]),
        ]));
        let clock = Arc::new(FakeClock::new());
        let keep = client(services, fake.clone(), 2, clock.clone());
        let e = keep.put_block(b"foo").unwrap_err();
        match &e {
            Error::KeepWrite(w) => {
                assert_eq!(w.attempts, 3);
                assert_eq!(w.stored_copies, 1);
                assert_eq!(w.services.len(), 1);
                assert_eq!(w.services[0].1, "failed: connection refused");
            }
            other => panic!("{other}"),
        }
        assert_eq!(
            clock.sleeps(),
            [Duration::from_secs(4), Duration::from_secs(8)]
        );
    }

    #[test]
    fn proxy_mode_uses_one_writer_and_replicas_stored() {
        let services = vec![svc(0, "proxy"), svc(1, "proxy")];
        let fake = Arc::new(Fake::new(&[
            (
                &services[0],
                &[FakeAnswer::Ok(Some("2"), Some("default=2"))][..],
            ),
            (
                &services[1],
                &[FakeAnswer::Ok(Some("2"), Some("default=2"))][..],
            ),
        ]));
        let keep = client(services, fake.clone(), 3, Arc::new(FakeClock::new()))
            .storage_classes(vec!["default".into()]);
        keep.put_block(b"foo").unwrap();
        assert_eq!(fake.puts.lock().unwrap().len(), 1);
    }

    #[test]
    fn proxy_storing_fewer_replicas_than_wanted_is_topped_up() {
        let services = vec![svc(0, "proxy"), svc(1, "proxy")];
        let fake = Arc::new(Fake::new(&[
            (
                &services[0],
                &[FakeAnswer::Ok(Some("1"), Some("default=1"))][..],
            ),
            (
                &services[1],
                &[FakeAnswer::Ok(Some("1"), Some("default=1"))][..],
            ),
        ]));
        let keep = client(services, fake.clone(), 3, Arc::new(FakeClock::new()))
            .storage_classes(vec!["default".into()]);
        keep.put_block(b"foo").unwrap();
        assert_eq!(fake.puts.lock().unwrap().len(), 2);
    }

    #[test]
    fn missing_classes_header_disables_class_tracking_with_one_warning() {
        let services = vec![svc(0, "disk"), svc(1, "disk")];
        let fake = Arc::new(Fake::new(&[
            (&services[0], &[FakeAnswer::Ok(None, None)][..]),
            (&services[1], &[FakeAnswer::Ok(None, None)][..]),
        ]));
        let keep = client(services, fake.clone(), 3, Arc::new(FakeClock::new()))
            .storage_classes(vec!["default".into()]);
        keep.put_block(b"foo").unwrap();
        keep.put_block(b"bar").unwrap();
        assert_eq!(
            keep.take_warnings(),
            ["X-Keep-Storage-Classes header not supported by the cluster"]
        );
        // Each block starts by asking for its classes again, as the legacy
        // client does (a write that starts after a reply without the header
        // no longer asks).
        let puts = fake.puts.lock().unwrap().clone();
        assert_eq!(puts.len(), 4);
        assert!(puts[0].1.as_deref() == Some("default") || puts[1].1.as_deref() == Some("default"));
        assert!(puts[2].1.as_deref() == Some("default") || puts[3].1.as_deref() == Some("default"));
    }

    #[test]
    fn unconfirmed_class_keeps_trying_other_services() {
        let services: Vec<KeepService> = (0..3).map(|n| svc(n, "disk")).collect();
        let fake = Arc::new(Fake::new(&[
            (&services[0], &[FakeAnswer::Ok(None, Some("default=1"))][..]),
            (
                &services[1],
                &[FakeAnswer::Ok(None, Some("default=1, archive=1"))][..],
            ),
            (&services[2], &[FakeAnswer::Ok(None, Some("archive=1"))][..]),
        ]));
        let keep = client(services, fake.clone(), 3, Arc::new(FakeClock::new()))
            .copies(1)
            .storage_classes(vec!["archive".into(), "default".into()]);
        keep.put_block(b"foo").unwrap();
        let puts = fake.puts.lock().unwrap().clone();
        assert!(puts[0].1.as_deref() == Some("archive, default"));
    }

    #[test]
    fn read_only_services_are_not_written() {
        let mut services: Vec<KeepService> = (0..4).map(|n| svc(n, "disk")).collect();
        services[3].read_only = true;
        let script: Vec<(&KeepService, &[FakeAnswer])> =
            services.iter().map(|s| (s, &[OK][..])).collect();
        let fake = Arc::new(Fake::new(&script));
        let keep = client(
            services.clone(),
            fake.clone(),
            3,
            Arc::new(FakeClock::new()),
        );
        keep.put_block(b"foo").unwrap();
        let roots: Vec<String> = fake
            .puts
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.0.clone())
            .collect();
        assert!(!roots.contains(&services[3].root));
    }

    #[test]
    fn empty_service_list_is_temporary_then_fails_clearly() {
        let fake = Arc::new(Fake::new(&[]));
        let clock = Arc::new(FakeClock::new());
        let keep = client(vec![], fake, 2, clock.clone());
        let e = keep.put_block(b"foo").unwrap_err();
        assert_eq!(clock.sleeps().len(), 2);
        assert_eq!(
            e.to_string(),
            "[req-test0000000000000000] no Keep services available (cannot write block \
             acbd18db4cc2f85cedef654fccc4a4d8+3: the service list is empty)"
        );
    }

    #[test]
    fn get_reads_in_probe_order_and_checks_md5() {
        let services: Vec<KeepService> = (0..4).map(|n| svc(n, "disk")).collect();
        let fake = Arc::new(Fake::new(&[
            (&services[3], &[FakeAnswer::Status(404)][..]),
            (&services[0], &[FakeAnswer::Down][..]),
            (&services[2], &[OK][..]),
            (&services[1], &[OK][..]),
        ]));
        fake.store
            .lock()
            .unwrap()
            .insert(md5_hex(b"foo"), b"foo".to_vec());
        let keep = client(services, fake.clone(), 3, Arc::new(FakeClock::new()));
        let data = keep
            .get_block("acbd18db4cc2f85cedef654fccc4a4d8+3+Asig@12345678")
            .unwrap();
        assert_eq!(data, b"foo");
        assert_eq!(
            *fake.gets.lock().unwrap(),
            [
                "http://keep3:25107/",
                "http://keep0:25107/",
                "http://keep2:25107/"
            ]
        );
        // A corrupt copy is skipped for the next service.
        fake.store
            .lock()
            .unwrap()
            .insert(md5_hex(b"bar"), b"baz".to_vec());
        let e = keep
            .get_block(&format!("{}+3", md5_hex(b"bar")))
            .unwrap_err();
        assert!(e.to_string().contains("fails the checksum"), "{e}");
    }

    #[test]
    fn get_everywhere_missing_is_not_found() {
        let services = vec![svc(0, "disk"), svc(1, "disk")];
        let fake = Arc::new(Fake::new(&[
            (&services[0], &[FakeAnswer::Status(404)][..]),
            (&services[1], &[FakeAnswer::Status(403)][..]),
        ]));
        let keep = client(services, fake, 3, Arc::new(FakeClock::new()));
        let e = keep
            .get_block("acbd18db4cc2f85cedef654fccc4a4d8+3")
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::KeepRead {
                    not_found: true,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("not found in Keep"), "{e}");
    }
}
