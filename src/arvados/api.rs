//! The Arvados REST API client (spec §1.4, §2).
//!
//! One [`ApiClient`] wraps the process's one ureq agent. Every logical
//! request gets a fresh `X-Request-Id` that its retries keep; failures are
//! retried with the legacy `--retries` meaning (N+1 attempts, a random
//! sleep in `[0, 2^k)` s before attempt k); a GET whose URL would exceed
//! 2048 characters is sent as a POST with `X-HTTP-Method-Override: GET`.
//! Error bodies (`{"errors": [...]}`) reach the error message, the token
//! never does.
//!
//! Typed helpers cover the calls the tool makes; [`ApiClient::call`] is the
//! general entry point, and [`KeysetLister`] pages through a listing
//! exactly as the legacy `keyset_list_all` does.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use ureq::Agent;

use super::http::{
    describe_transport_error, encode_pairs, new_agent, new_request_id, random_duration_below,
    transport_error_is_retryable, Clock, SystemClock,
};
use crate::error::{redact, Error, Result};
use crate::log;
use crate::settings::ClientConfig;

/// URLs longer than this are sent as POST + method override (the Python
/// client's threshold).
pub const MAX_GET_URL_LEN: usize = 2048;

/// The page size of keyset listings.
pub const KEYSET_PAGE_SIZE: u32 = 1000;

/// Largest API response body read (a page of 1000 signed manifests can be
/// large; this only guards against a runaway server).
const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// HTTP methods the API client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Whether an API error status is retried (spec §2.2): 5xx, 429, and the
/// 408/409/423 that Arvados adds.
pub fn api_status_is_retryable(status: u16) -> bool {
    status >= 500 || matches!(status, 408 | 409 | 423 | 429)
}

/// The user-facing text of an API error body: the `errors` list joined
/// with "; ", else the start of the body.
pub fn error_body_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(errors) = v.get("errors").and_then(Value::as_array) {
            let words: Vec<String> = errors
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if !words.is_empty() {
                return words.join("; ");
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let line = text.trim().lines().next().unwrap_or("").trim();
    if line.chars().count() > 200 {
        let cut: String = line.chars().take(200).collect();
        format!("{cut}...")
    } else {
        line.to_string()
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `retries` retries
/// are spent. Before retry k (1-based) it sleeps a random time in
/// `[0, 2^k)` seconds. `attempt` returns the error and whether it may be
/// retried.
pub fn with_retries<T>(
    retries: u32,
    clock: &dyn Clock,
    mut attempt: impl FnMut() -> std::result::Result<T, (Error, bool)>,
) -> Result<T> {
    let mut k: u32 = 0;
    loop {
        match attempt() {
            Ok(v) => return Ok(v),
            Err((e, retryable)) => {
                if !retryable || k >= retries {
                    return Err(e);
                }
                k += 1;
                let limit = Duration::from_secs(1u64 << k.min(20));
                clock.sleep(random_duration_below(limit));
            }
        }
    }
}

/// The discovery document fields the tool uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Discovery {
    /// `None` when the server does not advertise any.
    #[serde(rename = "dockerImageFormats", default)]
    pub docker_image_formats: Option<Vec<String>>,
    #[serde(rename = "defaultCollectionReplication", default)]
    pub default_collection_replication: Option<u32>,
    #[serde(rename = "maxRequestSize", default)]
    pub max_request_size: Option<u64>,
    #[serde(rename = "uuidPrefix", default)]
    pub uuid_prefix: Option<String>,
    #[serde(rename = "blobSignatureTtl", default)]
    pub blob_signature_ttl: Option<u64>,
    #[serde(default)]
    resources: BTreeMap<String, IgnoredAny>,
}

impl Discovery {
    /// Whether the server has a `configs` resource (`GET /config`).
    pub fn has_configs(&self) -> bool {
        self.resources.contains_key("configs")
    }
    /// The replication Keep writes use when a collection does not say:
    /// `defaultCollectionReplication`, else 2.
    pub fn default_replication(&self) -> u32 {
        self.default_collection_replication.unwrap_or(2)
    }
}

/// The part of `GET /arvados/v1/config` the tool uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClusterConfig {
    #[serde(rename = "StorageClasses", default)]
    pub storage_classes: BTreeMap<String, StorageClass>,
}

/// One entry of the cluster's `StorageClasses`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StorageClass {
    #[serde(rename = "Default", default)]
    pub default: bool,
    #[serde(rename = "Priority", default)]
    pub priority: i64,
}

impl ClusterConfig {
    /// Names of the classes marked `Default: true`, sorted.
    pub fn default_storage_classes(&self) -> Vec<String> {
        self.storage_classes
            .iter()
            .filter(|(_, c)| c.default)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// A user record (only what the tool uses).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct User {
    #[serde(default)]
    pub uuid: String,
    /// Whether the caller may create things owned by this user (absent
    /// from older servers).
    #[serde(default)]
    pub can_write: Option<bool>,
}

/// A group (project) record.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Group {
    #[serde(default)]
    pub uuid: String,
    #[serde(default)]
    pub group_class: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Whether the caller may create things in this project (absent from
    /// older servers).
    #[serde(default)]
    pub can_write: Option<bool>,
}

/// A collection record. Fields not selected come back absent.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Collection {
    pub uuid: String,
    pub owner_uuid: Option<String>,
    pub name: Option<String>,
    pub portable_data_hash: Option<String>,
    pub manifest_text: Option<String>,
    pub properties: Option<Map<String, Value>>,
    pub created_at: Option<String>,
    pub modified_at: Option<String>,
    pub replication_desired: Option<u32>,
    pub storage_classes_desired: Option<Vec<String>>,
}

/// A link record.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Link {
    pub uuid: String,
    pub owner_uuid: Option<String>,
    pub created_at: Option<String>,
    pub link_class: Option<String>,
    pub name: Option<String>,
    pub head_uuid: Option<String>,
    pub tail_uuid: Option<String>,
    pub properties: Option<Map<String, Value>>,
}

/// A `keep_services` record.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeepServiceRecord {
    pub uuid: String,
    pub service_host: String,
    pub service_port: u16,
    pub service_ssl_flag: bool,
    pub service_type: String,
    pub read_only: bool,
}

/// One page of a list call.
#[derive(Clone, Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct ItemList<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// Absent with `count=none`.
    #[serde(default)]
    pub items_available: Option<u64>,
}

/// Parameters of a list call. `filters`, `order` and `select` travel
/// JSON-encoded.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub filters: Vec<Value>,
    pub order: Option<Vec<String>>,
    pub select: Option<Vec<String>>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    /// `"exact"` or `"none"`.
    pub count: Option<String>,
    /// Anything else, e.g. `("include_trash", "true")`.
    pub extra: Vec<(String, String)>,
}

impl ListParams {
    /// A listing with these filters and server defaults otherwise.
    pub fn filtered(filters: Vec<Value>) -> ListParams {
        ListParams {
            filters,
            ..ListParams::default()
        }
    }

    fn to_query(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        if !self.filters.is_empty() {
            q.push((
                "filters".into(),
                Value::from(self.filters.clone()).to_string(),
            ));
        }
        if let Some(order) = &self.order {
            q.push(("order".into(), json!(order).to_string()));
        }
        if let Some(select) = &self.select {
            q.push(("select".into(), json!(select).to_string()));
        }
        if let Some(limit) = self.limit {
            q.push(("limit".into(), limit.to_string()));
        }
        if let Some(offset) = self.offset {
            q.push(("offset".into(), offset.to_string()));
        }
        if let Some(count) = &self.count {
            q.push(("count".into(), count.clone()));
        }
        q.extend(self.extra.iter().cloned());
        q
    }
}

/// The Arvados API client.
#[derive(Clone)]
pub struct ApiClient {
    agent: Agent,
    /// `https://host[:port]/`
    base: String,
    token: String,
    retries: u32,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for `config.api_host` over HTTPS, with its own agent.
    pub fn new(config: &ClientConfig, retries: u32) -> Result<ApiClient> {
        Ok(ApiClient::with_agent(new_agent(config)?, config, retries))
    }

    /// A client sharing an existing agent.
    pub fn with_agent(agent: Agent, config: &ClientConfig, retries: u32) -> ApiClient {
        ApiClient {
            agent,
            base: format!("https://{}/", config.api_host),
            token: config.api_token.clone(),
            retries,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock retries sleep on (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> ApiClient {
        self.clock = clock;
        self
    }

    /// Points the client at another base URL (tests with a plain-HTTP
    /// stand-in server).
    #[cfg(test)]
    pub(crate) fn with_base_url(mut self, base: &str) -> ApiClient {
        self.base = base.to_string();
        self
    }

    /// The shared HTTP agent (Keep uses it too).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The API token (for Keep's `Authorization` header).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `--retries` value.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The clock retry loops sleep on.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// One logical API request, retried per spec §2.2. `path` is relative
    /// to the host, e.g. `arvados/v1/links`. The response body is parsed
    /// as JSON.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        self.call_with_id(method, path, query, body, &new_request_id())
    }

    /// [`ApiClient::call`] with the `X-Request-Id` given.
    pub fn call_with_id(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        request_id: &str,
    ) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let mut pairs = query.to_vec();
        // Method calls carry `alt=json` as the Python client's do; the
        // discovery fetch does not.
        if !path.starts_with("discovery/") {
            pairs.push(("alt".into(), "json".into()));
        }
        let query_string = encode_pairs(&pairs);
        let full_url = if query_string.is_empty() {
            url.clone()
        } else {
            format!("{url}?{query_string}")
        };
        let body = body.map(|b| b.to_string());
        let override_get = method == Method::Get && full_url.len() > MAX_GET_URL_LEN;
        let auth = format!("Bearer {}", self.token);
        with_retries(self.retries, &*self.clock, || {
            let started = std::time::Instant::now();
            let sent = match method {
                Method::Get if override_get => self
                    .agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("X-Request-Id", request_id)
                    .header("X-HTTP-Method-Override", "GET")
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send(query_string.as_bytes()),
                Method::Get => self
                    .agent
                    .get(&full_url)
                    .header("Authorization", &auth)
                    .header("X-Request-Id", request_id)
                    .call(),
                Method::Delete => self
                    .agent
                    .delete(&full_url)
                    .header("Authorization", &auth)
                    .header("X-Request-Id", request_id)
                    .call(),
                Method::Post | Method::Put => {
                    let builder = if method == Method::Post {
                        self.agent.post(&full_url)
                    } else {
                        self.agent.put(&full_url)
                    };
                    let builder = builder
                        .header("Authorization", &auth)
                        .header("X-Request-Id", request_id);
                    match &body {
                        Some(b) => builder
                            .header("Content-Type", "application/json")
                            .send(b.as_bytes()),
                        None => builder.send_empty(),
                    }
                }
            };
            let status = sent.as_ref().ok().map(|r| r.status().as_u16());
            let answer = self.read_response(method, &url, request_id, sent);
            log::debug(log::API, || {
                let outcome = match (status, &answer) {
                    (Some(status), Ok(_) | Err((Error::Api { .. }, _))) => status.to_string(),
                    _ => "failed".to_string(),
                };
                format!(
                    "{} /{path} {outcome} {} ms request {request_id}",
                    method.as_str(),
                    log::millis(started)
                )
            });
            answer
        })
    }

    fn read_response(
        &self,
        method: Method,
        url: &str,
        request_id: &str,
        sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> std::result::Result<Value, (Error, bool)> {
        let transport = |e: &ureq::Error| Error::ApiTransport {
            method: method.as_str(),
            url: url.to_string(),
            problem: redact(&describe_transport_error(e), &self.token),
            request_id: request_id.to_string(),
        };
        let response = sent.map_err(|e| (transport(&e), transport_error_is_retryable(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| (transport(&e), transport_error_is_retryable(&e)))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| {
                let problem = format!("the response is not JSON ({e})");
                let err = Error::ApiResponse {
                    method: method.as_str(),
                    url: url.to_string(),
                    problem,
                    request_id: request_id.to_string(),
                };
                (err, false)
            });
        }
        let err = Error::Api {
            method: method.as_str(),
            url: url.to_string(),
            status,
            message: redact(&error_body_message(&body), &self.token),
            request_id: request_id.to_string(),
        };
        Err((err, api_status_is_retryable(status)))
    }

    /// [`ApiClient::call`], with the answer deserialised as `T`.
    pub fn call_as<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<T> {
        let request_id = new_request_id();
        let value = self.call_with_id(method, path, query, body, &request_id)?;
        serde_json::from_value(value).map_err(|e| Error::ApiResponse {
            method: method.as_str(),
            url: format!("{}{}", self.base, path),
            problem: format!("unexpected JSON ({e})"),
            request_id,
        })
    }

    /// The discovery document.
    pub fn discovery(&self) -> Result<Discovery> {
        self.call_as(Method::Get, "discovery/v1/apis/arvados/v1/rest", &[], None)
    }

    /// The cluster configuration (`GET /arvados/v1/config`).
    pub fn cluster_config(&self) -> Result<ClusterConfig> {
        self.call_as(Method::Get, "arvados/v1/config", &[], None)
    }

    /// The caller's own user record.
    pub fn current_user(&self) -> Result<User> {
        self.call_as(Method::Get, "arvados/v1/users/current", &[], None)
    }

    /// A user by uuid.
    pub fn get_user(&self, uuid: &str) -> Result<User> {
        self.get("users", uuid)
    }

    /// A group (project) by uuid.
    pub fn get_group(&self, uuid: &str) -> Result<Group> {
        self.get("groups", uuid)
    }

    /// A collection by uuid (or portable data hash).
    pub fn get_collection(&self, uuid: &str) -> Result<Collection> {
        self.get("collections", uuid)
    }

    /// `GET /arvados/v1/<resource>/<uuid>`.
    pub fn get<T: DeserializeOwned>(&self, resource: &str, uuid: &str) -> Result<T> {
        let path = format!(
            "arvados/v1/{resource}/{}",
            super::http::percent_encode(uuid)
        );
        self.call_as(Method::Get, &path, &[], None)
    }

    /// `POST /arvados/v1/<resource>` with `attributes` as the JSON body,
    /// verbatim (top-level attributes and the wrapped `{"link": {...}}`
    /// form both work).
    pub fn create<T: DeserializeOwned>(
        &self,
        resource: &str,
        attributes: &Value,
        ensure_unique_name: bool,
    ) -> Result<T> {
        let mut query = Vec::new();
        if ensure_unique_name {
            query.push(("ensure_unique_name".to_string(), "true".to_string()));
        }
        let path = format!("arvados/v1/{resource}");
        self.call_as(Method::Post, &path, &query, Some(attributes))
    }

    /// `PUT /arvados/v1/<resource>/<uuid>` with `attributes` as the body.
    pub fn update<T: DeserializeOwned>(
        &self,
        resource: &str,
        uuid: &str,
        attributes: &Value,
    ) -> Result<T> {
        let path = format!(
            "arvados/v1/{resource}/{}",
            super::http::percent_encode(uuid)
        );
        self.call_as(Method::Put, &path, &[], Some(attributes))
    }

    /// Creates a collection (`ensure_unique_name=true` as arv-put does).
    pub fn create_collection(&self, attributes: &Value) -> Result<Collection> {
        self.create("collections", attributes, true)
    }

    /// Replaces a collection's attributes given in `attributes`.
    pub fn update_collection(&self, uuid: &str, attributes: &Value) -> Result<Collection> {
        self.update("collections", uuid, attributes)
    }

    /// Creates a link.
    pub fn create_link(&self, attributes: &Value) -> Result<Link> {
        self.create("links", attributes, false)
    }

    /// The Keep services this client may use.
    pub fn keep_services_accessible(&self) -> Result<Vec<KeepServiceRecord>> {
        let list: ItemList<KeepServiceRecord> = self.call_as(
            Method::Get,
            "arvados/v1/keep_services/accessible",
            &[],
            None,
        )?;
        Ok(list.items)
    }

    /// One list call.
    pub fn list<T: DeserializeOwned>(
        &self,
        resource: &str,
        params: &ListParams,
    ) -> Result<ItemList<T>> {
        let path = format!("arvados/v1/{resource}");
        self.call_as(Method::Get, &path, &params.to_query(), None)
    }

    /// Every object matching `filters`, in keyset order, each once.
    /// `select`, if given, is extended with `uuid` and `created_at`.
    ///
    /// The pages are legacy's keyset pages (spec §2.3), but the first one
    /// asks for `count=exact`: once the items announced are in hand the
    /// listing is complete, so the empty page (or two) legacy needs to see
    /// the end is not requested. A short page is never taken as the end (a
    /// server may cap `limit`), and without a count the legacy rule
    /// applies: only an empty page ends the listing.
    pub fn list_all<T: DeserializeOwned>(
        &self,
        resource: &str,
        filters: Vec<Value>,
        select: Option<Vec<String>>,
    ) -> Result<Vec<T>> {
        let mut lister = KeysetLister::new(resource, filters, select);
        let mut available: Option<u64> = None;
        let mut out = Vec::new();
        loop {
            let first = lister.requests() == 0;
            let page = lister.next_page_with(|params| {
                let mut params = params.clone();
                if first {
                    params.count = Some("exact".into());
                }
                let page: ItemList<Value> = self.list(resource, &params)?;
                if first {
                    available = page.items_available;
                }
                Ok(page.items)
            })?;
            let Some(batch) = page else { break };
            for item in batch {
                out.push(
                    serde_json::from_value(item).map_err(|e| Error::ApiResponse {
                        method: "GET",
                        url: format!("{}arvados/v1/{resource}", self.base),
                        problem: format!("unexpected list item ({e})"),
                        request_id: String::new(),
                    })?,
                );
            }
            if available.is_some_and(|n| out.len() as u64 >= n) {
                break;
            }
        }
        Ok(out)
    }
}

/// The legacy `keyset_list_all`, one page at a time: fixed
/// `limit=1000`, `count=none`, `order=["created_at asc","uuid asc"]`; the
/// paging filters go first; only an empty page ends the listing. Items are
/// yielded once each.
#[derive(Clone, Debug)]
pub struct KeysetLister {
    resource: String,
    filters: Vec<Value>,
    select: Option<Vec<String>>,
    paging: Vec<Value>,
    /// `created_at` of the last page when all its items shared it.
    all_same: Option<Value>,
    previous_page: HashSet<String>,
    yielded: HashSet<String>,
    requests: u32,
    done: bool,
}

impl KeysetLister {
    pub fn new(resource: &str, filters: Vec<Value>, select: Option<Vec<String>>) -> KeysetLister {
        let select = select.map(|mut s| {
            for key in ["uuid", "created_at"] {
                if !s.iter().any(|k| k == key) {
                    s.push(key.to_string());
                }
            }
            s
        });
        KeysetLister {
            resource: resource.to_string(),
            filters,
            select,
            paging: Vec::new(),
            all_same: None,
            previous_page: HashSet::new(),
            yielded: HashSet::new(),
            requests: 0,
            done: false,
        }
    }

    /// How many list requests were made so far.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The parameters of the next request.
    pub fn next_params(&self) -> ListParams {
        let mut filters = self.paging.clone();
        filters.extend(self.filters.iter().cloned());
        ListParams {
            filters,
            order: Some(vec!["created_at asc".into(), "uuid asc".into()]),
            select: self.select.clone(),
            limit: Some(KEYSET_PAGE_SIZE),
            count: Some("none".into()),
            ..ListParams::default()
        }
    }

    /// The next batch of new items, or `None` at the end. A batch may be
    /// empty when a page held only items already yielded.
    pub fn next_page(&mut self, api: &ApiClient) -> Result<Option<Vec<Value>>> {
        let resource = self.resource.clone();
        self.next_page_with(|params| {
            let page: ItemList<Value> = api.list(&resource, params)?;
            Ok(page.items)
        })
    }

    /// [`KeysetLister::next_page`] with the list call supplied (tests).
    pub fn next_page_with(
        &mut self,
        mut fetch: impl FnMut(&ListParams) -> Result<Vec<Value>>,
    ) -> Result<Option<Vec<Value>>> {
        loop {
            if self.done {
                return Ok(None);
            }
            self.requests += 1;
            let items = fetch(&self.next_params())?;
            if items.is_empty() {
                match self.all_same.take() {
                    Some(x) => {
                        self.paging = vec![json!(["created_at", ">", x])];
                        continue;
                    }
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                }
            }
            let uuid_of = |v: &Value| v.get("uuid").and_then(Value::as_str).map(str::to_string);
            let this_page: HashSet<String> = items.iter().filter_map(uuid_of).collect();
            let first_created = items[0].get("created_at").cloned().unwrap_or(Value::Null);
            let last = &items[items.len() - 1];
            let last_created = last.get("created_at").cloned().unwrap_or(Value::Null);
            let last_uuid = last.get("uuid").cloned().unwrap_or(Value::Null);
            if first_created == last_created {
                self.paging = vec![
                    json!(["created_at", "=", last_created]),
                    json!(["uuid", ">", last_uuid]),
                ];
                self.all_same = Some(last_created);
            } else {
                self.paging = vec![
                    json!(["created_at", ">=", last_created]),
                    json!(["uuid", "!=", last_uuid]),
                ];
                self.all_same = None;
            }
            let mut fresh = Vec::with_capacity(items.len());
            for item in items {
                match uuid_of(&item) {
                    Some(u) if self.previous_page.contains(&u) || self.yielded.contains(&u) => {}
                    Some(u) => {
                        self.yielded.insert(u);
                        fresh.push(item);
                    }
                    None => fresh.push(item),
                }
            }
            self.previous_page = this_page;
            return Ok(Some(fresh));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arvados::http::testing::FakeClock;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;

    #[test]
    fn retryable_statuses() {
        for s in [408, 409, 423, 429, 500, 502, 503, 504, 599] {
            assert!(api_status_is_retryable(s), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 422] {
            assert!(!api_status_is_retryable(s), "{s}");
        }
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_body_message(br#"{"errors":["a (req-1)","b"],"error_token":"1+ab"}"#),
            "a (req-1); b"
        );
        assert_eq!(error_body_message(b"<html>\nbad gateway\n"), "<html>");
        assert_eq!(error_body_message(b""), "");
    }

    #[test]
    fn retries_sleep_below_doubling_limits_then_give_up() {
        // Every attempt fails, retryable or not; the number of attempts.
        let failing = |clock: &FakeClock, retryable: bool| {
            let mut calls = 0;
            let r: Result<()> = with_retries(3, clock, || {
                calls += 1;
                let e = Error::NoKeepServices {
                    request_id: "r".into(),
                    problem: "x".into(),
                };
                Err((e, retryable))
            });
            assert!(r.is_err());
            calls
        };
        let clock = FakeClock::new();
        assert_eq!(failing(&clock, true), 4);
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 3);
        for (k, s) in sleeps.iter().enumerate() {
            assert!(*s < Duration::from_secs(1 << (k + 1)), "{k}: {s:?}");
        }
        // Not retryable: one call, no sleep.
        let clock = FakeClock::new();
        assert_eq!(failing(&clock, false), 1);
        assert!(clock.sleeps().is_empty());
        // Success after one failure.
        let mut calls = 0;
        let r = with_retries(3, &FakeClock::new(), || {
            calls += 1;
            if calls < 2 {
                Err((
                    Error::NoKeepServices {
                        request_id: "r".into(),
                        problem: "x".into(),
                    },
                    true,
                ))
            } else {
                Ok(7)
            }
        });
        assert_eq!(r.unwrap(), 7);
    }

    fn uuid(n: u32) -> String {
        format!("zzzzz-o0j2j-{n:015}")
    }

    /// A fake `links.list` over `items` (sorted by created_at, uuid),
    /// honouring the paging filters and a page size.
    fn fake_list(items: &[(String, String)], page: usize, params: &ListParams) -> Vec<Value> {
        let mut out = Vec::new();
        for (created, u) in items {
            let ok = params.filters.iter().all(|f| {
                let (attr, op, val) = (f[0].as_str().unwrap(), f[1].as_str().unwrap(), &f[2]);
                let field = match attr {
                    "uuid" => u,
                    "created_at" => created,
                    _ => return true,
                };
                let val = val.as_str().unwrap();
                match op {
                    "=" => field == val,
                    ">" => field.as_str() > val,
                    ">=" => field.as_str() >= val,
                    "!=" => field != val,
                    "in" => true,
                    _ => panic!("{op}"),
                }
            });
            if ok {
                out.push(json!({"uuid": u, "created_at": created}));
            }
            if out.len() == page {
                break;
            }
        }
        out
    }

    fn run_lister(items: &[(String, String)], page: usize) -> (Vec<String>, u32) {
        let mut lister = KeysetLister::new("links", vec![json!(["link_class", "=", "x"])], None);
        let mut got = Vec::new();
        while let Some(batch) = lister
            .next_page_with(|p| {
                assert_eq!(p.limit, Some(1000));
                assert_eq!(p.count.as_deref(), Some("none"));
                assert_eq!(p.filters.last().unwrap(), &json!(["link_class", "=", "x"]));
                Ok(fake_list(items, page, p))
            })
            .unwrap()
        {
            got.extend(
                batch
                    .iter()
                    .map(|v| v["uuid"].as_str().unwrap().to_string()),
            );
        }
        (got, lister.requests())
    }

    #[test]
    fn keyset_request_counts_match_legacy() {
        // Empty: one request.
        assert_eq!(run_lister(&[], 1000), (vec![], 1));
        // One item: three requests.
        let one = vec![("2024-01-01T00:00:00Z".to_string(), uuid(1))];
        assert_eq!(run_lister(&one, 1000), (vec![uuid(1)], 3));
        // Distinct created_at: two requests.
        let many: Vec<(String, String)> = (0..5)
            .map(|i| (format!("2024-01-01T00:00:0{i}Z"), uuid(i)))
            .collect();
        let (got, n) = run_lister(&many, 1000);
        assert_eq!(got.len(), 5);
        assert_eq!(n, 2);
    }

    #[test]
    fn keyset_yields_every_item_once_across_small_pages_and_ties() {
        // Pages of 3 over items with many shared timestamps.
        let mut items = Vec::new();
        for i in 0..20u32 {
            items.push((format!("2024-01-01T00:00:{:02}Z", i / 4), uuid(i)));
        }
        items.sort();
        let (got, _) = run_lister(&items, 3);
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), got.len(), "duplicates in {got:?}");
        assert_eq!(got.len(), 20);
    }

    #[test]
    fn select_gains_uuid_and_created_at() {
        let l = KeysetLister::new("collections", vec![], Some(vec!["uuid".into()]));
        assert_eq!(
            l.next_params().select.unwrap(),
            vec!["uuid".to_string(), "created_at".to_string()]
        );
        let q = l.next_params().to_query();
        assert_eq!(q[0].0, "order");
        assert_eq!(q[0].1, r#"["created_at asc","uuid asc"]"#);
    }

    /// A recorded request: its head and body.
    type Recorded = (String, Vec<u8>);

    /// A one-shot plain-HTTP server: answers each connection with the next
    /// canned response and records the requests (head + body).
    pub(crate) struct StandIn {
        pub base: String,
        pub requests: Arc<Mutex<Vec<Recorded>>>,
        handle: Option<std::thread::JoinHandle<()>>,
    }

    impl StandIn {
        pub fn start(responses: Vec<String>) -> StandIn {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}/", listener.local_addr().unwrap());
            let requests = Arc::new(Mutex::new(Vec::new()));
            let recorded = requests.clone();
            let handle = std::thread::spawn(move || {
                for response in responses {
                    let (mut stream, _) = listener.accept().unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        if line == "\r\n" || line.is_empty() {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    recorded.lock().unwrap().push((head, body));
                    stream.write_all(response.as_bytes()).unwrap();
                }
            });
            StandIn {
                base,
                requests,
                handle: Some(handle),
            }
        }
        pub fn finish(mut self) -> Vec<Recorded> {
            self.handle.take().unwrap().join().unwrap();
            self.requests.lock().unwrap().clone()
        }
    }

    pub(crate) fn reply(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn client(base: &str, retries: u32, clock: Arc<FakeClock>) -> ApiClient {
        let config = ClientConfig {
            api_host: "unused.example".into(),
            api_token: "v2/zzzzz-gj3su-000000000000000/sekrit".into(),
            insecure: false,
            keep_services: None,
            ca_file: None,
        };
        ApiClient::new(&config, retries)
            .unwrap()
            .with_clock(clock)
            .with_base_url(base)
    }

    #[test]
    fn real_http_path_sends_headers_retries_and_reports_server_words() {
        let server = StandIn::start(vec![
            reply("503 Service Unavailable", r#"{"errors":["try later"]}"#),
            reply(
                "422 Unprocessable Entity",
                r#"{"errors":["Name has already been taken; token v2/zzzzz-gj3su-000000000000000/sekrit"]}"#,
            ),
        ]);
        let clock = Arc::new(FakeClock::new());
        let api = client(&server.base, 3, clock.clone());
        let err = api
            .create_link(&json!({"link_class": "docker_image_hash", "name": "sha256:x"}))
            .unwrap_err();
        let requests = server.finish();
        assert_eq!(requests.len(), 2);
        assert_eq!(clock.sleeps().len(), 1);
        let id_of = |head: &str| {
            head.lines()
                .find_map(|l| {
                    l.strip_prefix("x-request-id: ")
                        .or(l.strip_prefix("X-Request-Id: "))
                })
                .unwrap()
                .to_string()
        };
        // The request id is kept across the retry.
        assert_eq!(id_of(&requests[0].0), id_of(&requests[1].0));
        assert!(requests[0]
            .0
            .starts_with("POST /arvados/v1/links?alt=json HTTP/1.1"));
        assert!(requests[0]
            .0
            .to_ascii_lowercase()
            .contains("authorization: bearer v2/zzzzz-gj3su-000000000000000/sekrit"));
        let body: Value = serde_json::from_slice(&requests[0].1).unwrap();
        assert_eq!(body["link_class"], "docker_image_hash");
        let text = err.to_string();
        assert!(
            text.contains("HTTP 422: Name has already been taken"),
            "{text}"
        );
        assert!(!text.contains("sekrit"), "{text}");
    }

    #[test]
    fn list_all_stops_once_the_counted_items_are_in() {
        let item = |n: u32| {
            format!(
                r#"{{"uuid":"{}","created_at":"2024-01-0{n}T00:00:00Z"}}"#,
                uuid(n)
            )
        };
        let page = |items: &[String], available: &str| {
            reply(
                "200 OK",
                &format!(r#"{{"items":[{}]{available}}}"#, items.join(",")),
            )
        };
        // With the count, one request; the first asks for it.
        let server = StandIn::start(vec![page(&[item(1), item(2)], r#","items_available":2"#)]);
        let api = client(&server.base, 0, Arc::new(FakeClock::new()));
        let got: Vec<Value> = api.list_all("links", vec![], None).unwrap();
        let requests = server.finish();
        assert_eq!(got.len(), 2);
        assert_eq!(requests.len(), 1);
        assert!(requests[0].0.contains("count=exact"), "{}", requests[0].0);
        // Without one (count ignored), legacy's rule: only an empty page
        // ends it, and the later pages ask for no count.
        let server = StandIn::start(vec![page(&[item(1), item(2)], ""), page(&[], "")]);
        let api = client(&server.base, 0, Arc::new(FakeClock::new()));
        let got: Vec<Value> = api.list_all("links", vec![], None).unwrap();
        let requests = server.finish();
        assert_eq!(got.len(), 2);
        assert_eq!(requests.len(), 2);
        assert!(requests[1].0.contains("count=none"), "{}", requests[1].0);
    }

    #[test]
    fn long_get_becomes_post_with_method_override() {
        let server = StandIn::start(vec![reply("200 OK", r#"{"items":[{"uuid":"a"}]}"#)]);
        let api = client(&server.base, 0, Arc::new(FakeClock::new()));
        let uuids: Vec<String> = (0..100).map(uuid).collect();
        let page: ItemList<Link> = api
            .list(
                "links",
                &ListParams::filtered(vec![json!(["head_uuid", "in", uuids])]),
            )
            .unwrap();
        assert_eq!(page.items[0].uuid, "a");
        let requests = server.finish();
        let head = requests[0].0.to_ascii_lowercase();
        assert!(
            head.starts_with("post /arvados/v1/links http/1.1"),
            "{head}"
        );
        assert!(head.contains("x-http-method-override: get"));
        assert!(head.contains("content-type: application/x-www-form-urlencoded"));
        let body = String::from_utf8(requests[0].1.clone()).unwrap();
        assert!(
            body.starts_with("filters=%5B%5B%22head_uuid%22%2C%22in%22"),
            "{body}"
        );
        assert!(body.ends_with("&alt=json"));
    }

    #[test]
    fn short_get_keeps_query_in_url() {
        let server = StandIn::start(vec![reply("200 OK", r#"{"uuid":"zzzzz-tpzed-1"}"#)]);
        let api = client(&server.base, 0, Arc::new(FakeClock::new()));
        assert_eq!(api.current_user().unwrap().uuid, "zzzzz-tpzed-1");
        let requests = server.finish();
        assert!(requests[0]
            .0
            .starts_with("GET /arvados/v1/users/current?alt=json HTTP/1.1"));
    }

    #[test]
    fn discovery_and_config_parse() {
        let d: Discovery = serde_json::from_value(json!({
            "dockerImageFormats": ["v2"], "defaultCollectionReplication": 3,
            "resources": {"configs": {"methods": {}}, "links": {}}, "other": 1
        }))
        .unwrap();
        assert_eq!(d.docker_image_formats, Some(vec!["v2".to_string()]));
        assert_eq!(d.default_replication(), 3);
        assert!(d.has_configs());
        let d: Discovery = serde_json::from_value(json!({})).unwrap();
        assert_eq!(d.default_replication(), 2);
        assert!(d.docker_image_formats.is_none());
        let c: ClusterConfig = serde_json::from_value(json!({"StorageClasses": {
            "hot": {"Default": true, "Priority": 1}, "cold": {"Default": false},
            "default": {"Default": true}
        }}))
        .unwrap();
        assert_eq!(c.default_storage_classes(), ["default", "hot"]);
    }
}
