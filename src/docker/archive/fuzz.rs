//! Fuzz target: the archive reader.
//!
//! Inputs start from valid archives of every kind the test generator makes
//! (classic and OCI layouts, manifest.json first or last, a containerd
//! export, images with and without tags) and are damaged at two levels:
//!
//! * members: names that escape the root or are absolute or very long (GNU
//!   long name, PAX path or ustar prefix), members dropped, duplicated,
//!   reordered or turned into links, JSON documents edited (keys removed,
//!   values of the wrong type, a second image) or cut;
//! * bytes: truncation, bit flips, inserted and deleted ranges, and header
//!   fields rewritten with a fresh checksum (huge, base-256 and bad sizes,
//!   every type letter, GNU long names and PAX headers of absurd sizes).
//!
//! Properties checked for each input: nothing panics; the verdict is the
//! same whether the stream comes whole or in random pieces, or through the
//! [`Tee`] reader the Keep writer reads (which fails the read exactly when
//! the archive is refused); an error is one
//! non-empty line; the tar parser's entries are well formed; and when the
//! quick [`peek`](super::peek) at a seekable archive names an image and the
//! full check accepts the archive, they name the same image.
//!
//! Run briefly by `cargo test`, for minutes by `compat-tests/fuzz`. Memory:
//! that script runs under a virtual memory limit, so an allocation sized by
//! a header field would fail the run.

use std::io::{self, Cursor};

use serde_json::Value;

use super::tarstream::tests::{header, pax_record, push, reseal, Recorder};
use super::tarstream::{TarStream, BLOCK};
use super::testutil::*;
use super::Tee;
use crate::fuzzing::{self, Rng};

/// Valid archives' members to start from.
fn seed_items(rng: &mut Rng) -> Vec<Item> {
    let mut image = TestImage::new(rng.below(4) as u8);
    if rng.one_in(4) {
        image.repo_tags = None;
    }
    if rng.one_in(6) {
        image.created = None;
    }
    let order = if rng.one_in(2) {
        Order::Docker
    } else {
        Order::ManifestFirst
    };
    match rng.below(5) {
        0 | 1 => image.classic(order),
        2 | 3 => image.oci(order),
        _ => containerd_export().items,
    }
}

const NASTY_NAMES: &[&str] = &[
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "/manifest.json",
    "./manifest.json",
    "a/../../manifest.json",
    "manifest.json/",
    ".",
    "..",
    "",
    "blobs/sha256/",
    "blobs/sha256/zz",
    "index.json",
    "repositories",
    "oci-layout",
];

fn mutate_name(rng: &mut Rng, name: &str) -> String {
    match rng.below(6) {
        0 => rng.pick(NASTY_NAMES).to_string(),
        1 => format!("../{name}"),
        2 => format!("/{name}"),
        3 => format!("{}/{name}", "d".repeat(1 + rng.small(3000))),
        4 => format!(
            "{name}{}",
            ["/", "/.", "\u{0}x", "\u{fffd}", "//"][rng.below(5)]
        ),
        _ => name.chars().take(rng.small(name.len() + 1)).collect(),
    }
}

/// A random JSON value, small.
fn random_json(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::from(rng.next() as i64 >> rng.below(64)),
        3 => Value::from(rng.pick(NASTY_NAMES).to_string()),
        4 => Value::from(format!("sha256:{}", "0".repeat(rng.small(70)))),
        5 => Value::Array(
            (0..rng.small(4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "Config",
                "Layers",
                "RepoTags",
                "manifests",
                "digest",
                "size",
            ];
            Value::Object(
                (0..rng.small(4))
                    .map(|_| (rng.pick(&keys).to_string(), random_json(rng, depth + 1)))
                    .collect(),
            )
        }
    }
}

/// Replaces, removes or duplicates one node somewhere in `value`.
fn mutate_json(rng: &mut Rng, value: &mut Value) {
    let descend = rng.below(3) != 0;
    match value {
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            match rng.below(4) {
                _ if descend => mutate_json(rng, &mut items[i]),
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                _ => items[i] = random_json(rng, 0),
            }
        }
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).unwrap().clone();
            match rng.below(3) {
                _ if descend => mutate_json(rng, map.get_mut(&key).unwrap()),
                0 => {
                    map.remove(&key);
                }
                _ => {
                    map.insert(key, random_json(rng, 0));
                }
            }
        }
        _ => *value = random_json(rng, 0),
    }
}

fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.small(8) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(data.len() + 1);
                let junk: Vec<u8> = (0..1 + rng.small(600)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, junk);
            }
            3 if !data.is_empty() => {
                let at = rng.below(data.len());
                let end = (at + 1 + rng.small(2000)).min(data.len());
                data.drain(at..end);
            }
            _ => data.truncate(rng.below(data.len() + 1)),
        }
    }
}

/// Damages the member list.
fn mutate_items(rng: &mut Rng, items: &mut Vec<Item>) {
    for _ in 0..1 + rng.small(4) {
        if items.is_empty() {
            items.push(Item::File("manifest.json".into(), b"[]".to_vec()));
        }
        let i = rng.below(items.len());
        match rng.below(9) {
            0 => {
                let name = mutate_name(rng, items[i].name());
                items[i] = match items[i].clone() {
                    Item::File(_, data) => Item::File(name, data),
                    Item::Dir(_) => Item::Dir(name),
                    Item::Symlink(_, target) => Item::Symlink(name, target),
                };
            }
            1 => {
                items.remove(i);
            }
            2 => {
                let copy = items[i].clone();
                let at = rng.below(items.len() + 1);
                items.insert(at, copy);
            }
            3 => {
                let j = rng.below(items.len());
                items.swap(i, j);
            }
            4 => {
                let other = items[rng.below(items.len())].name().to_string();
                let target = match rng.below(3) {
                    0 => rng.pick(NASTY_NAMES).to_string(),
                    1 => format!("../{other}"),
                    _ => other,
                };
                items[i] = Item::Symlink(items[i].name().to_string(), target);
            }
            5 | 6 => {
                if let Item::File(_, data) = &mut items[i] {
                    match serde_json::from_slice::<Value>(data) {
                        Ok(mut value) if rng.below(4) != 0 => {
                            mutate_json(rng, &mut value);
                            *data = value.to_string().into_bytes();
                        }
                        _ => mutate_bytes(rng, data),
                    }
                }
            }
            7 => {
                // The documents everything hangs on.
                if let Some(Item::File(_, data)) = items
                    .iter_mut()
                    .find(|item| matches!(item, Item::File(n, _) if n == "manifest.json"))
                {
                    let mut value: Value =
                        serde_json::from_slice(data).unwrap_or(Value::Array(vec![]));
                    match rng.below(3) {
                        0 => {
                            if let Value::Array(images) = &mut value {
                                if let Some(first) = images.first().cloned() {
                                    images.push(first); // two images
                                }
                            }
                        }
                        1 => mutate_json(rng, &mut value),
                        _ => *data = b"{not json".to_vec(),
                    }
                    if rng.below(3) != 0 {
                        *data = value.to_string().into_bytes();
                    }
                }
            }
            _ => {
                let name = format!("junk{}", rng.below(5));
                let data = (0..rng.small(5000)).map(|_| rng.next() as u8).collect();
                items.insert(i, Item::File(name, data));
            }
        }
    }
}

/// Writes the members as a tar, each long name in a randomly chosen form.
fn build(rng: &mut Rng, items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        let (name, typeflag, content, link) = match item {
            Item::File(name, data) => (name.clone(), b'0', data.as_slice(), ""),
            Item::Dir(name) => (format!("{name}/"), b'5', &[][..], ""),
            Item::Symlink(name, target) => (name.clone(), b'2', &[][..], target.as_str()),
        };
        let short: String = name.chars().take(99).collect();
        let short = if short.len() > 99 { "x".into() } else { short };
        let fits = name.len() <= 99;
        match rng.below(if fits { 6 } else { 3 }) {
            0 => {
                // GNU long name.
                let mut long = name.clone().into_bytes();
                long.push(0);
                push(
                    &mut out,
                    &header("././@LongLink", b'L', long.len() as u64),
                    &long,
                );
            }
            1 => {
                let mut records = pax_record("path", &name);
                if !link.is_empty() && link.len() < 400 {
                    records.push_str(&pax_record("linkpath", link));
                }
                push(
                    &mut out,
                    &header("PaxHeaders/x", b'x', records.len() as u64),
                    records.as_bytes(),
                );
            }
            2 if name.len() <= 255 => {
                // ustar prefix + name, split at a slash if there is one.
                if let Some(cut) = name[..name.len().min(155)].rfind('/') {
                    if name.len() - cut - 1 <= 99 && cut > 0 {
                        let mut h = header(&name[cut + 1..], typeflag, content.len() as u64);
                        h[345..345 + cut].copy_from_slice(&name.as_bytes()[..cut]);
                        set_link(&mut h, link);
                        reseal(&mut h);
                        push(&mut out, &h, content);
                        continue;
                    }
                }
            }
            _ => {}
        }
        let mut h = header(&short, typeflag, content.len() as u64);
        set_link(&mut h, link);
        reseal(&mut h);
        push(&mut out, &h, content);
    }
    out.extend_from_slice(&[0; 2 * BLOCK]);
    out
}

fn set_link(h: &mut [u8; BLOCK], link: &str) {
    let n = link.len().min(100);
    h[157..157 + n].copy_from_slice(&link.as_bytes()[..n]);
}

/// Offsets of the header blocks of a well-formed tar.
fn header_offsets(tar: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + BLOCK <= tar.len() && tar[at..at + BLOCK].iter().any(|&b| b != 0) {
        offsets.push(at);
        let field = &tar[at + 124..at + 136];
        let text = String::from_utf8_lossy(field);
        let size = u64::from_str_radix(text.trim_matches(['\0', ' ']), 8).unwrap_or(0) as usize;
        at += BLOCK + size.div_ceil(BLOCK) * BLOCK;
    }
    offsets
}

const HUGE_SIZES: &[&[u8]] = &[
    b"77777777777\0",
    b"777777777777",
    b"00000000000\0",
    b"1777777777777",
    b"99999999999\0",
    b"-0000000001\0",
    b"           \0",
    b"0x100000000\0",
    &[0x80, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0],
    &[0xff; 12],
    &[
        0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ],
    &[
        0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ],
];

/// Rewrites fields of one header block; usually fixes the checksum after.
fn mutate_header(rng: &mut Rng, tar: &mut [u8], at: usize) {
    let h: &mut [u8; BLOCK] = (&mut tar[at..at + BLOCK]).try_into().unwrap();
    match rng.below(6) {
        0 | 1 => {
            let size = rng.pick(HUGE_SIZES);
            let n = size.len().min(12);
            h[124..124 + n].copy_from_slice(&size[..n]);
        }
        2 => h[156] = *rng.pick(b"0125LKxgSM7346\0Az"),
        3 => {
            let name = rng.pick(NASTY_NAMES).as_bytes();
            h[..100].fill(0);
            h[..name.len()].copy_from_slice(name);
        }
        4 => {
            // The ustar magic and prefix.
            if rng.one_in(2) {
                h[257..263].copy_from_slice(b"ustar ");
            } else {
                h[345..345 + 3].copy_from_slice(b"../");
            }
        }
        _ => {
            let i = rng.below(BLOCK);
            h[i] = rng.next() as u8;
        }
    }
    if rng.below(5) != 0 {
        reseal(h);
    }
}

/// Extension headers that try to make the reader allocate or loop.
fn hostile_header(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    match rng.below(4) {
        0 => {
            // A GNU long name claiming a gigabyte (or just over the limit).
            let size = *rng.pick(&[1u64 << 30, (1 << 20) + 1, 1 << 20, u64::MAX >> 30]);
            let h = header("././@LongLink", b'L', size.min(0o77777777777));
            out.extend_from_slice(&h);
            out.extend((0..rng.small(5000)).map(|_| b'a'));
        }
        1 => {
            // A PAX record whose length field is absurd.
            let record = match rng.below(3) {
                0 => "99999999999999999999 path=x\n".to_string(),
                1 => "18446744073709551615 path=x\n".to_string(),
                _ => format!("{} size=1\n", rng.next()),
            };
            push(
                &mut out,
                &header("PaxHeaders/x", b'x', record.len() as u64),
                record.as_bytes(),
            );
        }
        2 => {
            // A PAX size far beyond the data.
            let records = pax_record("size", &format!("{}", rng.next() >> rng.below(64)));
            push(
                &mut out,
                &header("PaxHeaders/x", b'x', records.len() as u64),
                records.as_bytes(),
            );
            push(&mut out, &header("big", b'0', 0), b"");
        }
        _ => {
            // Chains of extension headers.
            for _ in 0..1 + rng.small(50) {
                let long = b"manifest.json\0";
                push(
                    &mut out,
                    &header("././@LongLink", *rng.pick(b"LKxg"), long.len() as u64),
                    long,
                );
            }
        }
    }
    out
}

/// One fuzz input: an archive, valid or damaged.
fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut items = seed_items(rng);
    if rng.below(3) != 0 {
        mutate_items(rng, &mut items);
    }
    let mut tar = build(rng, &items);
    let offsets = header_offsets(&tar);
    match rng.below(6) {
        0 | 1 if !offsets.is_empty() => {
            for _ in 0..1 + rng.small(3) {
                let at = *rng.pick(&offsets);
                mutate_header(rng, &mut tar, at);
            }
        }
        2 => {
            let at = offsets.get(rng.below(offsets.len() + 1)).copied();
            let at = at.unwrap_or(tar.len().saturating_sub(2 * BLOCK));
            let hostile = hostile_header(rng);
            tar.splice(at..at, hostile);
        }
        3 => mutate_bytes(rng, &mut tar),
        4 => {
            // Cut at or near a block boundary.
            let blocks = tar.len() / BLOCK;
            let cut = rng.below(blocks + 1) * BLOCK;
            tar.truncate((cut + rng.small(3)).min(tar.len()));
        }
        _ => {}
    }
    tar
}

fn check_one(tar: &[u8]) {
    let whole = check(tar, usize::MAX);
    let pieces = check_random(tar, tar.len() as u64);
    assert_eq!(
        whole, pieces,
        "the verdict depends on how the stream is cut"
    );
    if let Err(error) = &whole {
        let text = error.to_string();
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "not one line: {text:?}"
        );
    }
    // Through the reader the Keep writer uses: the upload fails exactly
    // when the archive is refused (at the latest on the read that would
    // have returned end of file), with the same verdict.
    let mut tee = Tee::new(SlowReader::new(tar, 1 + tar.len() % 7000));
    let copied = io::copy(&mut tee, &mut io::sink());
    assert_eq!(copied.is_ok(), whole.is_ok(), "{copied:?}");
    assert_eq!(tee.finish(), whole, "the reader's verdict differs");
    // The tar layer alone: entries begin and end in pairs with their size.
    let _ = TarStream::default().update(tar, &mut Recorder::default());
    let peeked = super::peek(Cursor::new(tar));
    if let (Some(peek), Ok(image)) = (&peeked, &whole) {
        assert_eq!(
            peek.image_id, image.image_id,
            "the quick look and the full check disagree on the image"
        );
    }
}

#[test]
fn fuzz_archive_reader() {
    let cases = fuzzing::run(
        "archive",
        400,
        generate,
        |tar| check_one(tar),
        |tar| tar.clone(),
    );
    assert!(cases > 0);
}

#[test]
fn fuzz_generator_makes_valid_and_invalid_archives() {
    // The generator is only useful if it reaches both verdicts often.
    let mut valid = 0;
    for seed in 0..300 {
        if check(&generate(&mut Rng::new(seed)), usize::MAX).is_ok() {
            valid += 1;
        }
    }
    assert!((20..280).contains(&valid), "{valid} of 300 valid");
}
