//! Fuzz target: the command-line parser, both stages.
//!
//! Argument vectors are drawn from a vocabulary built from the flag table:
//! every option string, abbreviations of the long ones (unique and
//! ambiguous), `--opt=value` forms, bundled short options, `--`, `-`,
//! values that look like options or numbers, UUIDs, portable data hashes,
//! image references, empty strings, newlines, non-UTF-8 bytes.
//!
//! Properties: [`parse`] never panics and gives the same answer twice; a
//! usage error has a non-empty message and prints as argparse does (usage
//! block, then `<prog>: error: <message>`); a parsed command line turns
//! into a request or a clean error under either terminal setting, never a
//! panic.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use super::flags::{option_strings, OptName};
use super::*;
use crate::fuzzing::{self, Rng};

const VALUES: &[&str] = &[
    "",
    "x",
    "-x",
    "-1",
    "-.5",
    "--",
    "-",
    "=",
    "==",
    "0",
    "10",
    "99999999999999999999999",
    "images",
    "img",
    "repo:tag",
    "repo:",
    ":tag",
    "registry:5000/a/b:c",
    "a@sha256:0000",
    "sha256:",
    "sha256:0123456789abcdef",
    "zzzzz-j7d0g-0123456789abcde",
    "zzzzz-tpzed-0123456789abcde",
    "zzzzz-4zz18-0123456789abcde",
    "zzzzz-4zz18-012",
    "d41d8cd98f00b204e9800998ecf8427e+0",
    "d41d8cd98f00b204e9800998ecf8427e+",
    "source",
    "file",
    "collection",
    "/dev/null",
    "./image.tar",
    "image.tar",
    "a b",
    "-a b",
    "line\nbreak",
    "é",
    "\u{0}",
    "--force",
    "--source=-",
];

fn word(rng: &mut Rng, options: &[String]) -> OsString {
    match rng.below(10) {
        0..=3 => {
            let option = rng.pick(options).clone();
            if option.starts_with("--") && rng.one_in(3) {
                // An abbreviation, unique or not.
                let keep = 2 + rng.below(option.len() - 1);
                option[..keep.min(option.len())].into()
            } else {
                option.into()
            }
        }
        4 => {
            let option = rng.pick(options);
            format!("{option}={}", rng.pick(VALUES)).into()
        }
        5 => {
            // Bundled short options, maybe with an attached value.
            let shorts = ["f", "h", "x", "1", "-", "="];
            let n = 1 + rng.small(4);
            let bundle: String = (0..n).map(|_| *rng.pick(&shorts)).collect();
            format!("-{bundle}").into()
        }
        6 => "--".into(),
        7 => {
            let mut bytes = rng.pick(VALUES).as_bytes().to_vec();
            bytes.push(0xff);
            bytes.insert(0, 0x80 + rng.below(0x40) as u8);
            OsString::from_vec(bytes)
        }
        _ => rng.pick(VALUES).into(),
    }
}

fn generate(rng: &mut Rng) -> Vec<OsString> {
    let options: Vec<String> = option_strings()
        .map(|o| match o.name {
            OptName::Short(c) => format!("-{c}"),
            OptName::Long(name) => format!("--{name}"),
        })
        .chain(["--bogus".to_string(), "-q".to_string()])
        .collect();
    (0..rng.small(9)).map(|_| word(rng, &options)).collect()
}

fn check_one(argv: &[OsString]) {
    let first = parse(argv.to_owned());
    assert_eq!(first, parse(argv.to_owned()), "parse is not deterministic");
    match first {
        Ok(Parsed::Help | Parsed::Version) => {}
        Ok(Parsed::Run(args)) => {
            for stderr_is_tty in [false, true] {
                if let Err(error) = args.clone().into_request(&Env { stderr_is_tty }) {
                    assert!(matches!(error.exit_code(), 1 | 2));
                    assert!(!error.to_string().is_empty());
                }
            }
        }
        Err(CliError::Usage(message)) => {
            assert!(!message.is_empty(), "empty usage error");
            let text = doc::usage_error("arv-keepdocker", &message);
            assert!(text.starts_with("usage: arv-keepdocker"), "{text}");
            assert!(
                text.ends_with(&format!("arv-keepdocker: error: {message}\n")),
                "{text}"
            );
        }
        Err(CliError::TagGivenTwice(error)) => assert!(!error.to_string().is_empty()),
    }
}

#[test]
fn fuzz_command_line() {
    let cases = fuzzing::run(
        "cli",
        3000,
        generate,
        |argv| check_one(argv),
        |argv| format!("{argv:?}").into_bytes(),
    );
    assert!(cases > 0);
}

#[test]
fn fuzz_generator_reaches_every_outcome() {
    let (mut run, mut usage, mut special) = (0, 0, 0);
    for seed in 0..2000 {
        match parse(generate(&mut Rng::new(seed))) {
            Ok(Parsed::Run(_)) => run += 1,
            Ok(_) => special += 1,
            Err(_) => usage += 1,
        }
    }
    assert!(
        run > 100 && usage > 100 && special > 10,
        "{run} {usage} {special}"
    );
}
