//! The `images` listing (spec §9.1): `arv-keepdocker` with no image, or
//! with `images`.
//!
//! What is printed is exactly what the legacy `list_images_in_arv` plus
//! `main`'s listing branch print, including their quirks: the naive
//! timestamp parse of `ciso8601.parse_datetime_as_naive` (offsets dropped
//! without converting, unparseable values ranked as year 1), the C-locale
//! `%c` dates, the preference sort with its ties, and the re-sort that
//! hash-only images trigger. Only the fetching differs: the two link
//! classes are listed in parallel, only the fields the listing reads are
//! selected, and a listing stops as soon as it holds the `items_available`
//! its first page announced instead of paying for an empty last page.
//!
//! [`find`] reads the listing (everything, or the images a name or an id
//! prefix names: the library's searches run the same code); [`print`]
//! writes it. The pure parts (timestamp parse, `%c`, preference order,
//! rows, layout) are plain functions with their tests below.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use serde_json::{json, Value};

use crate::arvados::api::ApiClient;
use crate::arvados::links::PreferenceKey;
use crate::error::{Error, Result};
use crate::request::OutputFormat;
use crate::timestamp::{format_c, parse_naive, Naive, Unparsed};

const HASH_CLASS: &str = "docker_image_hash";
const REPO_TAG_CLASS: &str = "docker_image_repo+tag";

/// What [`find`] looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search<'a> {
    /// Every image: the listing of `arv-keepdocker` with no arguments.
    All,
    /// Images with a `docker_image_repo+tag` link named `repo:tag`, or
    /// with any tag of `repo` when `tag` is `None`.
    Name { repo: &'a str, tag: Option<&'a str> },
    /// Images whose `docker_image_hash` link name starts with this
    /// (`sha256:` is added when it is not there).
    HashPrefix(&'a str),
}

/// One row of the listing: an image whose collection exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub collection: String,
    /// Selected only when asked for (`with_pdh`).
    pub portable_data_hash: Option<String>,
    pub repo: String,
    pub tag: String,
    /// The preferred hash link's name, `<unknown>` when the collection has
    /// only a name link, `None` for a hash link without a name (legacy
    /// fails when it prints that row).
    pub image_id: Option<String>,
    /// The image timestamp (else the link's creation), naive.
    pub created: Naive,
}

impl Listed {
    /// The image id, or the error legacy's listing stops with.
    pub fn image_id(&self) -> Result<&str> {
        self.image_id.as_deref().ok_or_else(|| {
            bad_answer(
                "links",
                format!(
                    "a docker_image_hash link on collection {} has no name \
                     (the legacy tool stops the listing here too)",
                    self.collection
                ),
            )
        })
    }

    /// The creation time in ISO 8601 (naive, as the listing reads it).
    pub fn created_iso(&self) -> String {
        iso(&self.created)
    }
}

/// The images `what` names, in listing order (legacy
/// `list_images_in_arv`): the links are listed, rows are made and ordered
/// by the legacy preference, and only rows whose collection exists (is
/// readable, not trashed) are kept. With `project`, only links and
/// collections that project owns count. With `with_pdh`, each row carries
/// its collection's portable data hash.
pub fn find(
    api: &ApiClient,
    what: Search<'_>,
    project: Option<&str>,
    with_pdh: bool,
) -> Result<Vec<Listed>> {
    let Some((hash_links, repo_links)) = docker_links(api, what, project)? else {
        return Ok(Vec::new());
    };
    let images = image_listing(hash_links, repo_links)?;
    let existing = existing_collections(api, &images, with_pdh, project)?;
    Ok(keep_existing(images, &existing))
}

/// The rows whose collection exists, with its portable data hash.
fn keep_existing(images: Vec<Image>, existing: &Live) -> Vec<Listed> {
    images
        .into_iter()
        .filter_map(|image| {
            let collection = image.collection?;
            let pdh = existing.get(&collection)?.clone();
            Some(Listed {
                collection,
                portable_data_hash: pdh,
                repo: image.repo,
                tag: image.tag,
                image_id: image.dockerhash,
                created: image.timestamp,
            })
        })
        .collect()
}

/// Print a listing as the legacy tool does.
///
/// Legacy connects first (discovery, `GET config`), then writes the
/// header, then lists. So when the listing failed, stdout holds the header
/// if the server answered at all (a 401 on the links, a record legacy
/// cannot handle) but not when it could not be reached; after the header
/// come the rows printed before a row legacy would crash on. The status is
/// then 1. A closed stdout (`arv-keepdocker | head -1`) ends the listing
/// quietly with status 0.
///
/// `--format=json`: the same rows as one JSON document, printed only when
/// the whole listing was read (a failure prints nothing on stdout).
pub fn print(
    format: OutputFormat,
    listing: Result<Vec<Listed>>,
    out: &mut dyn Write,
) -> Result<()> {
    if format == OutputFormat::Json {
        let document = json_rows(&listing?)?;
        let mut text = serde_json::to_string_pretty(&document).expect("JSON values serialize");
        text.push('\n');
        return emit(out, &text).map(|_| ());
    }
    let header = layout_row("REPOSITORY", "TAG", "IMAGE ID", "COLLECTION", "CREATED");
    let rows = match listing {
        Ok(rows) => rows,
        Err(e) => {
            if !matches!(e, Error::ApiTransport { .. }) {
                // The failure is what gets reported, not a write error.
                let _ = emit(out, &header);
            }
            return Err(e);
        }
    };
    let (rows, failure) = render_rows(&rows);
    if emit(out, &(header + &rows))? == Emitted::Closed {
        return Ok(());
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The listing's rows as `{"images": [{repo, tag, image_id, collection,
/// portable_data_hash, created}]}`: the full image id, and `created` as
/// the CREATED column's time in ISO 8601 (naive, as the listing reads it).
fn json_rows(rows: &[Listed]) -> Result<Value> {
    let mut out = Vec::new();
    for row in rows {
        out.push(json!({
            "repo": row.repo,
            "tag": row.tag,
            "image_id": row.image_id()?,
            "collection": row.collection,
            "portable_data_hash": row.portable_data_hash,
            "created": row.created_iso(),
        }));
    }
    Ok(json!({ "images": out }))
}

/// A naive timestamp in ISO 8601, as the JSON listing shows it.
fn iso(t: &Naive) -> String {
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    if t.microsecond != 0 {
        text.push_str(&format!(".{:06}", t.microsecond));
    }
    text
}

/// The two link classes for `what` (hash links, repo+tag links), or
/// `None` when no link matches. Everything: both classes listed side by
/// side. A name or hash prefix: the links that match, then the other
/// class's links on the same collections.
fn docker_links(
    api: &ApiClient,
    what: Search<'_>,
    project: Option<&str>,
) -> Result<Option<(Vec<Value>, Vec<Value>)>> {
    // The links of one class matching `filters`, in the project if one is
    // given, in keyset order (`created_at asc, uuid asc`).
    let links = |class: &str, filter: Option<Value>| -> Result<Vec<Value>> {
        let mut filters = vec![json!(["link_class", "=", class])];
        filters.extend(filter);
        if let Some(p) = project {
            filters.push(json!(["owner_uuid", "=", p]));
        }
        let select = LINK_FIELDS.iter().map(|f| f.to_string()).collect();
        api.list_all("links", filters, Some(select))
    };
    let (class, filter, other) = match what {
        Search::All => {
            let (hash, repo) = std::thread::scope(|s| {
                let hash = s.spawn(|| links(HASH_CLASS, None));
                let repo = links(REPO_TAG_CLASS, None);
                (hash.join(), repo)
            });
            let hash = hash.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            return Ok(Some((hash, repo?)));
        }
        Search::Name { repo, tag } => {
            let name = match tag {
                Some(tag) => json!(["name", "=", format!("{repo}:{tag}")]),
                None => json!(["name", "like", format!("{}:%", like_escape(repo))]),
            };
            (REPO_TAG_CLASS, name, HASH_CLASS)
        }
        Search::HashPrefix(prefix) => {
            let prefix = prefix.to_ascii_lowercase();
            let prefix = match prefix.starts_with("sha256:") {
                true => prefix,
                false => format!("sha256:{prefix}"),
            };
            let name = json!(["name", "like", format!("{}%", like_escape(&prefix))]);
            (HASH_CLASS, name, REPO_TAG_CLASS)
        }
    };
    let mut matching = links(class, Some(filter))?;
    if let Search::Name { repo, .. } = what {
        // `like` is the server's; the repo must match exactly.
        matching.retain(|l| {
            let name = l.get("name").and_then(Value::as_str).unwrap_or("");
            name.rsplit_once(':').is_some_and(|(r, _)| r == repo)
        });
    }
    let mut seen = HashSet::new();
    let heads: Vec<&str> = matching
        .iter()
        .filter_map(|l| l.get("head_uuid").and_then(Value::as_str))
        .filter(|h| seen.insert(*h))
        .collect();
    if heads.is_empty() {
        return Ok(None);
    }
    let others = links(other, Some(json!(["head_uuid", "in", heads])))?;
    Ok(Some(match class {
        HASH_CLASS => (matching, others),
        _ => (others, matching),
    }))
}

/// `text` with the `like` wildcards `%` and `_` (and the escape `\`)
/// escaped.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The collections that exist: uuid -> portable data hash (if selected).
type Live = HashMap<String, Option<String>>;

// ---------------------------------------------------------------------------
// Output

#[derive(Debug, PartialEq, Eq)]
enum Emitted {
    Written,
    /// The reader went away (EPIPE): legacy swallows it and exits 0.
    Closed,
}

fn emit(out: &mut dyn Write, text: &str) -> Result<Emitted> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(Emitted::Written),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Emitted::Closed),
        Err(source) => Err(Error::Input {
            what: "standard output (writing the listing)".into(),
            source,
        }),
    }
}

/// One line of the table: legacy's `"{:30}  {:10}  {:12}  {:29}  {:20}\n"`.
/// Values are padded to at least the width (counted in characters, as
/// Python counts code points) and never cut, so a long one pushes the
/// columns after it to the right.
pub fn layout_row(
    repo: &str,
    tag: &str,
    image_id: &str,
    collection: &str,
    created: &str,
) -> String {
    format!("{repo:<30}  {tag:<10}  {image_id:<12}  {collection:<29}  {created:<20}\n")
}

/// The rows, rendered. Legacy formats each row as it writes it, so a row
/// whose image id is not a string (a hash link with a null name) stops
/// the listing there: the rows before it are printed, then the error.
fn render_rows(rows: &[Listed]) -> (String, Option<Error>) {
    let mut text = String::new();
    for row in rows {
        let hash = match row.image_id() {
            Ok(hash) => hash,
            Err(e) => return (text, Some(e)),
        };
        let image_id: String = hash.chars().take(12).collect();
        let created = format_c(&row.created);
        text.push_str(&layout_row(
            &row.repo,
            &row.tag,
            &image_id,
            &row.collection,
            &created,
        ));
    }
    (text, None)
}

fn bad_answer(resource: &str, problem: String) -> Error {
    Error::ApiResponse {
        method: "GET",
        url: format!("/arvados/v1/{resource}"),
        problem,
        request_id: String::new(),
    }
}

// ---------------------------------------------------------------------------
// Fetching

/// The fields of a link the listing reads.
const LINK_FIELDS: [&str; 5] = ["uuid", "created_at", "head_uuid", "name", "properties"];

/// The uuids of the listed collections that exist, are readable and are
/// not trashed: legacy's `collections.list` with `uuid in [...]` (server
/// defaults exclude trashed collections and old versions).
fn existing_collections(
    api: &ApiClient,
    images: &[Image],
    with_pdh: bool,
    project: Option<&str>,
) -> Result<Live> {
    let mut wanted: Vec<&str> = Vec::new();
    let mut seen = HashSet::new();
    for c in images.iter().filter_map(|i| i.collection.as_deref()) {
        if seen.insert(c) {
            wanted.push(c);
        }
    }
    if wanted.is_empty() {
        // `uuid in []` matches nothing; legacy still asks.
        return Ok(HashMap::new());
    }
    let mut select = vec!["uuid".to_string()];
    if with_pdh {
        select.push("portable_data_hash".to_string());
    }
    let mut filters = vec![json!(["uuid", "in", wanted])];
    if let Some(p) = project {
        filters.push(json!(["owner_uuid", "=", p]));
    }
    let found: Vec<Value> = api.list_all("collections", filters, Some(select))?;
    Ok(found
        .iter()
        .filter_map(|c| {
            let uuid = c.get("uuid").and_then(Value::as_str)?;
            let pdh = c.get("portable_data_hash").and_then(Value::as_str);
            Some((uuid.to_string(), pdh.map(str::to_string)))
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Preference order and rows (legacy `docker_link_sort_key`,
// `_get_docker_links`, `list_images_in_arv`)

/// A docker link as the listing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DockerLink {
    head: Option<String>,
    /// `None` when the server sent a null (or non-string) name.
    name: Option<String>,
    key: PreferenceKey,
}

/// One row before the existence check.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Image {
    key: PreferenceKey,
    timestamp: Naive,
    collection: Option<String>,
    /// The preferred hash link's name, `<unknown>`, or `None` for a hash
    /// link without a name (legacy fails when it prints that row).
    dockerhash: Option<String>,
    repo: String,
    tag: String,
}

/// A link record from the server, checked the way legacy's sort key reads
/// it. Legacy crashes (status 1) on a `properties` or `image_timestamp`
/// that is there but of the wrong type, on an `image_timestamp` of
/// 9999-12-31T24:00 (the day after overflows), and on a missing
/// `created_at`; an unparseable `image_timestamp` is merely "missing".
fn docker_link(link: &Value) -> Result<DockerLink> {
    let uuid = link.get("uuid").and_then(Value::as_str).unwrap_or("?");
    let bad = |what: String| bad_answer("links", format!("link {uuid}: {what}"));
    let image = match link.get("properties") {
        None => None,
        Some(Value::Object(props)) => match props.get("image_timestamp") {
            None => None,
            Some(Value::String(s)) => match parse_naive(s) {
                Ok(t) => Some(t),
                Err(Unparsed::Invalid) => None,
                Err(Unparsed::OutOfRange) => {
                    return Err(bad(format!(
                        "image_timestamp {s:?} is past year 9999 (the legacy tool fails on it too)"
                    )))
                }
            },
            Some(other) => {
                return Err(bad(format!(
                    "image_timestamp is {other}, not a string (the legacy tool fails on it too)"
                )))
            }
        },
        Some(other) => {
            return Err(bad(format!(
                "properties is {other}, not an object (the legacy tool fails on it too)"
            )))
        }
    };
    let created = match link.get("created_at") {
        Some(Value::String(s)) => parse_naive(s).ok(),
        _ => None,
    };
    let Some(created) = created else {
        return Err(bad(format!(
            "created_at {} is not a timestamp",
            link.get("created_at").unwrap_or(&Value::Null)
        )));
    };
    Ok(DockerLink {
        head: link
            .get("head_uuid")
            .and_then(Value::as_str)
            .map(str::to_string),
        name: link.get("name").and_then(Value::as_str).map(str::to_string),
        key: PreferenceKey::new(image, Some(created)),
    })
}

/// Legacy `_get_docker_links`: parse, then a stable sort, most preferred
/// first, so ties keep the keyset order the server sent.
fn preferred_links(links: &[Value]) -> Result<Vec<DockerLink>> {
    let mut parsed = links.iter().map(docker_link).collect::<Result<Vec<_>>>()?;
    parsed.sort_by(|a, b| a.key.preference(&b.key));
    Ok(parsed)
}

/// Legacy `list_images_in_arv` without a name, up to (not including) the
/// existence check: one row per (collection, distinct repo+tag name) in
/// preference order, then one per collection with only hash links, and a
/// stable re-sort when there are any of those.
fn image_listing(hash_links: Vec<Value>, repo_links: Vec<Value>) -> Result<Vec<Image>> {
    let hash_links = preferred_links(&hash_links)?;
    let repo_links = preferred_links(&repo_links)?;
    if let Some(nameless) = repo_links.iter().find(|l| l.name.is_none()) {
        return Err(bad_answer(
            "links",
            format!(
                "a docker_image_repo+tag link on {} has no name (the legacy tool fails on it too)",
                nameless.head.as_deref().unwrap_or("nothing")
            ),
        ));
    }

    // Legacy's `{head: link for link in reversed(hash_links)}`: the value is
    // the most preferred link; the key order is that of first insertion
    // while walking from the least preferred end. The hash-only rows come
    // out in that order.
    let mut preferred_hash: HashMap<Option<&str>, usize> = HashMap::new();
    let mut head_order: Vec<Option<&str>> = Vec::new();
    for (i, link) in hash_links.iter().enumerate().rev() {
        let head = link.head.as_deref();
        if preferred_hash.insert(head, i).is_none() {
            head_order.push(head);
        }
    }

    let mut names_seen: HashMap<Option<&str>, HashSet<&str>> = HashMap::new();
    let mut images = Vec::new();
    for link in &repo_links {
        let head = link.head.as_deref();
        let name = link.name.as_deref().unwrap_or_default();
        if !names_seen.entry(head).or_default().insert(name) {
            continue;
        }
        let dockerhash = match preferred_hash.get(&head) {
            Some(&i) => hash_links[i].name.clone(),
            None => Some("<unknown>".to_string()),
        };
        let (repo, tag) = name.rsplit_once(':').unwrap_or((name, "<none>"));
        images.push(Image {
            key: link.key,
            timestamp: link.key.shown(),
            collection: link.head.clone(),
            dockerhash,
            repo: repo.to_string(),
            tag: tag.to_string(),
        });
    }

    let named = images.len();
    for head in head_order {
        if names_seen.get(&head).is_some_and(|names| !names.is_empty()) {
            continue;
        }
        let link = &hash_links[preferred_hash[&head]];
        images.push(Image {
            key: link.key,
            timestamp: link.key.shown(),
            collection: link.head.clone(),
            dockerhash: link.name.clone(),
            repo: "<none>".to_string(),
            tag: "<none>".to_string(),
        });
    }
    if images.len() > named {
        images.sort_by(|a, b| a.key.preference(&b.key));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- layout ---------------------------------------------------------

    #[test]
    fn header_is_legacy_byte_for_byte() {
        let header = layout_row("REPOSITORY", "TAG", "IMAGE ID", "COLLECTION", "CREATED");
        assert_eq!(
            header,
            "REPOSITORY                      TAG         IMAGE ID      \
             COLLECTION                     CREATED             \n"
        );
        assert_eq!(header.len(), 110);
    }

    #[test]
    fn row_pads_each_column_to_at_least_its_width() {
        assert_eq!(
            layout_row(
                "docker-example-r-base",
                "latest",
                "sha256:edd10",
                "zzzzz-4zz18-0tayximqcyb6uf8",
                "Mon Jun  1 17:46:16 2020"
            ),
            "docker-example-r-base           latest      sha256:edd10  \
             zzzzz-4zz18-0tayximqcyb6uf8    Mon Jun  1 17:46:16 2020\n"
        );
    }

    #[test]
    fn long_values_push_the_next_columns_right() {
        let repo = "registry.example:5000/a/very/long/repository/name";
        let row = layout_row(repo, "a-long-tag-name", "<unknown>", "c", "d");
        assert_eq!(
            row,
            format!("{repo}  a-long-tag-name  <unknown>     c                              d                   \n")
        );
    }

    #[test]
    fn width_counts_characters_like_python() {
        // 10 characters, 13 bytes: padded by 20 spaces, as `{:30}` does.
        let row = layout_row("répertoïré", "ταγ", "", "", "");
        assert!(row.starts_with(&format!(
            "répertoïré{}  ταγ{}  ",
            " ".repeat(20),
            " ".repeat(7)
        )));
    }

    // --- preference and rows ------------------------------------------------

    fn link(uuid: &str, head: &str, name: &str, created: &str, ts: Option<&str>) -> Value {
        let properties = match ts {
            Some(ts) => json!({ "image_timestamp": ts }),
            None => json!({}),
        };
        json!({"uuid": uuid, "head_uuid": head, "name": name, "created_at": created,
               "properties": properties})
    }

    const CREATED: &str = "2024-01-01T00:00:00.000000000Z";
    const TS: &str = "2023-07-01T00:00:00Z";

    fn summary(images: &[Image]) -> Vec<String> {
        images
            .iter()
            .map(|i| {
                format!(
                    "{}:{} {} {} {}",
                    i.repo,
                    i.tag,
                    i.dockerhash.as_deref().unwrap_or("-"),
                    i.collection.as_deref().unwrap_or("-"),
                    format_c(&i.timestamp)
                )
            })
            .collect()
    }

    #[test]
    fn newest_image_timestamp_first_then_newest_link_and_ties_keep_keyset_order() {
        let repo = vec![
            link("l1", "c1", "a:1", CREATED, Some(TS)),
            link(
                "l2",
                "c2",
                "b:1",
                CREATED,
                Some("2023-08-01T00:00:00+09:00"),
            ),
            link("l3", "c3", "c:1", CREATED, Some(TS)),
            link("l4", "c4", "d:1", "2024-02-01T00:00:00Z", Some(TS)),
            link("l5", "c5", "e:1", "2025-01-01T00:00:00Z", None),
            link("l6", "c6", "f:1", CREATED, Some("garbage")),
        ];
        let images = image_listing(vec![], repo).unwrap();
        assert_eq!(
            summary(&images),
            [
                "b:1 <unknown> c2 Tue Aug  1 00:00:00 2023",
                "d:1 <unknown> c4 Sat Jul  1 00:00:00 2023",
                "a:1 <unknown> c1 Sat Jul  1 00:00:00 2023",
                "c:1 <unknown> c3 Sat Jul  1 00:00:00 2023",
                // no or unparseable timestamp: year 1, then by link time
                "e:1 <unknown> c5 Wed Jan  1 00:00:00 2025",
                "f:1 <unknown> c6 Mon Jan  1 00:00:00 2024",
            ]
        );
    }

    #[test]
    fn hash_only_rows_are_re_sorted_and_their_ties_come_out_in_legacy_dict_order() {
        let hash = vec![
            // c5's least preferred link comes first in keyset order ...
            link(
                "h0",
                "c5",
                "sha256:5",
                "2023-01-01T00:00:00Z",
                Some("2000-01-01T00:00:00Z"),
            ),
            link(
                "h1",
                "c1",
                "sha256:1",
                "2024-01-05T00:00:00Z",
                Some("2023-01-01T00:00:00Z"),
            ),
            link(
                "h2",
                "c2",
                "sha256:2",
                "2024-01-06T00:00:00Z",
                Some("2023-08-01T00:00:00Z"),
            ),
            link("h4", "c4", "sha256:4", CREATED, Some(TS)),
            link("h5", "c5", "sha256:5", CREATED, Some(TS)),
            link("h6", "c6", "sha256:6", CREATED, Some(TS)),
        ];
        let repo = vec![link("r1", "c2", "tie:latest", CREATED, Some(TS))];
        let images = image_listing(hash, repo).unwrap();
        assert_eq!(
            summary(&images),
            [
                "tie:latest sha256:2 c2 Sat Jul  1 00:00:00 2023",
                // ... so legacy's dict puts c5 first; the other ties come out
                // in reverse keyset order.
                "<none>:<none> sha256:5 c5 Sat Jul  1 00:00:00 2023",
                "<none>:<none> sha256:6 c6 Sat Jul  1 00:00:00 2023",
                "<none>:<none> sha256:4 c4 Sat Jul  1 00:00:00 2023",
                "<none>:<none> sha256:1 c1 Sun Jan  1 00:00:00 2023",
            ]
        );
    }

    #[test]
    fn repo_rows_are_one_per_name_and_take_the_preferred_hash() {
        let hash = vec![
            link(
                "h1",
                "c1",
                "sha256:old",
                "2024-01-01T00:00:00Z",
                Some("2020-01-01T00:00:00Z"),
            ),
            link(
                "h2",
                "c1",
                "sha256:new",
                "2024-01-02T00:00:00Z",
                Some("2021-01-01T00:00:00Z"),
            ),
        ];
        let repo = vec![
            link(
                "r1",
                "c1",
                "app:v1",
                "2024-01-01T00:00:00Z",
                Some("2020-01-01T00:00:00Z"),
            ),
            link(
                "r2",
                "c1",
                "app:v1",
                "2024-01-03T00:00:00Z",
                Some("2022-01-01T00:00:00Z"),
            ),
            link(
                "r3",
                "c1",
                "reg.example:5000/app:v2",
                CREATED,
                Some("2019-01-01T00:00:00Z"),
            ),
            link("r4", "c1", "plain", CREATED, Some("2018-01-01T00:00:00Z")),
            link("r5", "c2", "other:x", CREATED, Some("2017-01-01T00:00:00Z")),
        ];
        let images = image_listing(hash, repo).unwrap();
        assert_eq!(
            summary(&images),
            [
                "app:v1 sha256:new c1 Sat Jan  1 00:00:00 2022",
                "reg.example:5000/app:v2 sha256:new c1 Tue Jan  1 00:00:00 2019",
                "plain:<none> sha256:new c1 Mon Jan  1 00:00:00 2018",
                "other:x <unknown> c2 Sun Jan  1 00:00:00 2017",
            ]
        );
    }

    #[test]
    fn an_explicit_year_one_timestamp_is_shown_a_missing_one_is_not() {
        let repo = vec![
            link(
                "r1",
                "c1",
                "explicit:1",
                "2024-03-03T03:03:03Z",
                Some("0001-01-01T00:00:00Z"),
            ),
            link("r2", "c2", "missing:1", "2024-02-02T02:02:02Z", None),
        ];
        let images = image_listing(vec![], repo).unwrap();
        assert_eq!(
            summary(&images),
            [
                "explicit:1 <unknown> c1 Mon Jan  1 00:00:00 1",
                "missing:1 <unknown> c2 Fri Feb  2 02:02:02 2024",
            ]
        );
    }

    #[test]
    fn records_legacy_cannot_list_are_errors() {
        let mut l = link("l1", "c1", "a:1", CREATED, None);
        l["properties"] = Value::Null;
        assert!(image_listing(vec![], vec![l]).is_err());
        let l = link("l1", "c1", "a:1", CREATED, None);
        let mut bad_ts = l.clone();
        bad_ts["properties"] = json!({"image_timestamp": null});
        assert!(image_listing(vec![bad_ts], vec![]).is_err());
        let late = link("l1", "c1", "a:1", CREATED, Some("9999-12-31T24:00"));
        assert!(image_listing(vec![], vec![late]).is_err());
        let mut nameless = l.clone();
        nameless["name"] = Value::Null;
        assert!(image_listing(vec![], vec![nameless]).is_err());
        // A link without properties at all is merely untimestamped.
        let mut bare = l.clone();
        bare.as_object_mut().unwrap().remove("properties");
        assert!(image_listing(vec![], vec![bare]).is_ok());
    }

    #[test]
    fn only_existing_collections_are_printed_up_to_a_row_legacy_fails_on() {
        let mut nameless_hash = link("h2", "c2", "", CREATED, Some(TS));
        nameless_hash["name"] = Value::Null;
        let hash = vec![
            link("h1", "c1", "sha256:0123456789abcdef", CREATED, Some(TS)),
            nameless_hash,
        ];
        let repo = vec![
            link("r1", "c1", "a:1", CREATED, Some("2023-09-01T00:00:00Z")),
            link("r2", "gone", "b:1", CREATED, Some("2023-08-01T00:00:00Z")),
        ];
        let images = image_listing(hash, repo).unwrap();
        let live =
            |uuids: &[&str]| -> Live { uuids.iter().map(|u| (u.to_string(), None)).collect() };
        let (text, failure) = render_rows(&keep_existing(images.clone(), &live(&["c1"])));
        assert_eq!(
            text,
            layout_row("a", "1", "sha256:01234", "c1", "Fri Sep  1 00:00:00 2023")
        );
        assert!(failure.is_none());
        let (text, failure) = render_rows(&keep_existing(images, &live(&["c1", "c2"])));
        assert_eq!(
            text,
            layout_row("a", "1", "sha256:01234", "c1", "Fri Sep  1 00:00:00 2023")
        );
        assert!(failure.is_some());
    }

    #[test]
    fn json_rows_have_the_text_rows_fields_in_full() {
        let hash = vec![link(
            "h1",
            "c1",
            "sha256:0123456789abcdef",
            CREATED,
            Some(TS),
        )];
        let repo = vec![
            link("r1", "c1", "a/b:1", CREATED, Some("2023-09-01T00:00:00.5Z")),
            link("r2", "gone", "b:1", CREATED, Some("2023-08-01T00:00:00Z")),
        ];
        let images = image_listing(hash, repo).unwrap();
        let existing: HashMap<String, Option<String>> = [(
            "c1".to_string(),
            Some("d41d8cd98f00b204e9800998ecf8427e+0".to_string()),
        )]
        .into();
        assert_eq!(
            json_rows(&keep_existing(images, &existing)).unwrap(),
            json!({"images": [{
                "repo": "a/b", "tag": "1", "image_id": "sha256:0123456789abcdef",
                "collection": "c1", "portable_data_hash": "d41d8cd98f00b204e9800998ecf8427e+0",
                "created": "2023-09-01T00:00:00.500000",
            }]})
        );
    }

    // --- output -------------------------------------------------------------

    struct Broken(io::ErrorKind);

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stdout_ends_quietly_other_write_errors_do_not() {
        assert_eq!(
            emit(&mut Broken(io::ErrorKind::BrokenPipe), "x").unwrap(),
            Emitted::Closed
        );
        assert!(emit(&mut Broken(io::ErrorKind::StorageFull), "x").is_err());
        let mut buf = Vec::new();
        assert_eq!(emit(&mut buf, "x").unwrap(), Emitted::Written);
        assert_eq!(buf, b"x");
    }
}
