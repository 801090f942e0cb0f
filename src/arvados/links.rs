//! The preference order of Docker image links (legacy
//! `docker_link_sort_key`), shared by the listing and by the choice of an
//! image already in Arvados, so that both rank the same links the same way.
//!
//! The key is `(image_timestamp, created_at)`, both read with ciso8601's
//! naive parse (offsets dropped, not converted); a missing or unparseable
//! `image_timestamp` ranks as year 1. Most preferred first is the largest
//! key first; equal keys keep the order the server sent (legacy sorts with
//! `reverse=True`, which is stable).

use std::cmp::Ordering;

use serde_json::Value;

use super::api::Link;
use crate::timestamp::{parse_naive, Naive};

/// One link's place in the preference order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreferenceKey {
    /// The parsed `image_timestamp`, or year 1 when it is missing or
    /// unparseable.
    pub image: Naive,
    /// Whether `image` is that stand-in (legacy's `is EARLIEST_DATETIME`):
    /// an `image_timestamp` that really says 0001-01-01T00:00:00 sorts the
    /// same but is still a date to show.
    pub image_missing: bool,
    /// The parsed `created_at`; `None` ranks below every date.
    pub created: Option<Naive>,
}

impl PreferenceKey {
    /// The key of already parsed values.
    pub fn new(image: Option<Naive>, created: Option<Naive>) -> PreferenceKey {
        PreferenceKey {
            image: image.unwrap_or(Naive::EARLIEST),
            image_missing: image.is_none(),
            created,
        }
    }

    /// The key of a link record, reading what cannot be parsed as missing.
    pub fn of_link(link: &Link) -> PreferenceKey {
        let image = link
            .properties
            .as_ref()
            .and_then(|p| p.get("image_timestamp"))
            .and_then(Value::as_str)
            .and_then(|t| parse_naive(t).ok());
        let created = link.created_at.as_deref().and_then(|t| parse_naive(t).ok());
        PreferenceKey::new(image, created)
    }

    /// Most preferred first.
    pub fn preference(&self, other: &PreferenceKey) -> Ordering {
        (other.image, other.created).cmp(&(self.image, self.created))
    }

    /// The image's date as the listing shows it: the image timestamp,
    /// else the link's creation.
    pub fn shown(&self) -> Naive {
        match (self.image_missing, self.created) {
            (true, Some(created)) => created,
            _ => self.image,
        }
    }
}

/// Sorts links most preferred first, equal keys in the order given.
pub fn sort_links(links: &mut [Link]) {
    links.sort_by(|a, b| PreferenceKey::of_link(a).preference(&PreferenceKey::of_link(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(uuid: &str, image: Option<&str>, created: &str) -> Link {
        let mut props = serde_json::Map::new();
        if let Some(t) = image {
            props.insert("image_timestamp".into(), Value::String(t.into()));
        }
        serde_json::from_value(serde_json::json!({
            "uuid": uuid, "created_at": created, "properties": props,
        }))
        .unwrap()
    }

    #[test]
    fn newest_image_first_then_newest_link_and_ties_keep_their_order() {
        let mut links = vec![
            link("a", None, "2024-05-01T00:00:00Z"),
            link("b", Some("2023-01-01T00:00:00Z"), "2020-01-01T00:00:00Z"),
            link("c", Some("2023-01-01T00:00:00Z"), "2021-01-01T00:00:00Z"),
            link("d", Some("not a date"), "2025-01-01T00:00:00Z"),
            link("e", Some("2023-01-01T00:00:00Z"), "2021-01-01T00:00:00Z"),
        ];
        sort_links(&mut links);
        let order: Vec<&str> = links.iter().map(|l| l.uuid.as_str()).collect();
        assert_eq!(order, ["c", "e", "b", "d", "a"]);
    }

    #[test]
    fn the_shown_date_falls_back_to_the_link() {
        let created = parse_naive("2024-05-01T00:00:00Z").ok();
        let key = PreferenceKey::new(None, created);
        assert_eq!(Some(key.shown()), created);
        let image = parse_naive("2020-01-01T00:00:00Z").ok();
        assert_eq!(Some(PreferenceKey::new(image, created).shown()), image);
    }
}
