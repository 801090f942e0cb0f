//! Tables of argv -> outcome for `arv-docker`: the requests its commands
//! make (the same as `arv-keepdocker`'s for the equivalent command line
//! wherever there is one), and its usage errors, word for word.

use super::*;
use crate::request::CollectionId;
use crate::request::{Project, RepoTag, Upload};

const ENV: DockerEnv = DockerEnv {
    keepdocker: Env {
        stderr_is_tty: false,
    },
    stdin_is_tty: false,
};

const UUID: &str = "zzzzz-4zz18-0123456789abcde";
const PDH: &str = "0123456789abcdef0123456789abcdef+1234";
const PROJECT: &str = "zzzzz-j7d0g-0123456789abcde";

fn docker(argv: &[&str]) -> Result<Request, DockerError> {
    docker_with(argv, &ENV)
}

fn docker_with(argv: &[&str], env: &DockerEnv) -> Result<Request, DockerError> {
    match parse(argv.iter().copied())? {
        DockerParsed::Run(inv) => inv.into_request(env),
        other => panic!("{argv:?} gave {other:?}"),
    }
}

/// How `--platform` refuses a value: `arv-keepdocker`'s own words.
const PLATFORM_ERROR: &str = "argument --platform: invalid value: 'linux' (OS/ARCH or \
    OS/ARCH/VARIANT, such as 'linux/amd64' or 'linux/arm64/v8')";

fn keepdocker(argv: &[&str]) -> Request {
    match crate::cli::parse(argv.iter().copied()) {
        Ok(Parsed::Run(args)) => args.into_request(&ENV.keepdocker).unwrap(),
        other => panic!("{argv:?} gave {other:?}"),
    }
}

fn upload(request: Result<Request, DockerError>) -> Upload {
    match request {
        Ok(Request::Upload(upload)) => upload,
        other => panic!("not an upload: {other:?}"),
    }
}

fn rt(repo: &str, tag: &str) -> RepoTag {
    RepoTag {
        repo: repo.into(),
        tag: tag.into(),
    }
}

/// Where `arv-keepdocker` has the same command, the request is the same.
#[test]
fn the_same_request_as_the_equivalent_arv_keepdocker_command() {
    let uuid_i = format!("-i{UUID}");
    let source_uuid = format!("--source={UUID}");
    let source_pdh = format!("--source={PDH}");
    let project = format!("--project-uuid={PROJECT}");
    #[rustfmt::skip]
    let rows: &[(&[&str], &[&str])] = &[
        (&["images"], &["images"]),
        (&["images", "--format=json", "--retries", "3"], &["--format=json", "--retries=3"]),
        (&["load", "-i", "img.tar"], &["--source=img.tar"]),
        (&["load", "--input=img.tar", "repo/x:1", &project], &["--source=img.tar", "repo/x:1", &project]),
        (&["load", "-i", "img.tar", "--from", "file"], &["--source=img.tar", "--from=file"]),
        (&["load"], &["--source=-"]),
        (&["load", "-i", "-", "x"], &["--source=-", "x"]),
        (&["load", "--input", "-", "--from=file"], &["--source=-"]),
        (&["load", &uuid_i, "--from=collection", "x:2"], &[&source_uuid, "--from=collection", "x:2"]),
        (&["load", "-i", PDH, "--from=collection"], &[&source_pdh, "--from=collection"]),
        (&["load", "-i", "kdtest-plain:v1", "--from=daemon"], &["kdtest-plain:v1"]),
        (&["load", "--from=daemon", "-i", "sha256:abc"], &["sha256:abc"]),
        (&["load", "--from=daemon", "-i", "d2c94e258dcb"], &["d2c94e258dcb"]),
        (&["push", &source_uuid, "a/b:c"], &[&source_uuid, "--from=collection", "--project-uuid=source", "a/b:c"]),
        (&["push", "a/b", &source_pdh, &project], &[&source_pdh, "--from=collection", &project, "a/b"]),
        (
            &["load", "-f", "--name", "n", "--dry-run", "--replication=2", "--storage-classes", "b,a",
              "--no-progress", "--silent", "--no-resume", "--no-cache", "--force-image-format", "-i", "x.tar"],
            &["-f", "--name=n", "--dry-run", "--replication=2", "--storage-classes=b,a", "--no-progress",
              "--silent", "--no-resume", "--no-cache", "--force-image-format", "--source=x.tar"],
        ),
        (&["load", "--batch-progress", "--", "x:1"], &["--batch-progress", "--source=-", "x:1"]),
        (&["load", "--progress", "--resume", "--cache", "--format", "json"],
         &["--progress", "--source=-", "--format=json"]),
    ];
    for (ours, theirs) in rows {
        let got = docker(ours);
        let mut want = keepdocker(theirs);
        // `load -i X` without --from adds the Docker daemon to --source's
        // rules (the same resolution, then an image name).
        if let Request::Upload(Upload {
            source: Source::Given { input, .. },
            ..
        }) = &mut want
        {
            if let (Input::Auto(x), "load") = (&*input, ours[0]) {
                *input = Input::AutoOrDaemon(x.clone());
            }
        }
        // `load --from=daemon -i IMAGE`: the daemon image as an input,
        // named as the legacy positional IMAGE names it.
        if let Request::Upload(Upload { source, .. }) = &mut want {
            if let Source::Daemon(image) = source {
                *source = Source::Given {
                    input: Input::Daemon(image.clone()),
                    repo_tag: None,
                };
            }
        }
        assert_eq!(got, Ok(want), "{ours:?}");
    }
}

#[test]
fn daemon_images_with_another_name() {
    let got = upload(docker(&[
        "load",
        "-i",
        "kdtest-plain:v1",
        "--from=daemon",
        "x/y",
    ]));
    assert_eq!(
        got.source,
        Source::Given {
            input: Input::Daemon(ImageArg::Name(rt("kdtest-plain", "v1"))),
            repo_tag: Some(rt("x/y", "latest")),
        }
    );
}

#[test]
fn push_by_name_looks_the_name_up() {
    let got = upload(docker(&["push", "kdtest/x:1", "--project-uuid", PROJECT]));
    assert_eq!(got.source, Source::Named(rt("kdtest/x", "1")));
    assert_eq!(got.project, Project::Uuid(PROJECT.into()));
    let got = upload(docker(&["push", "images"]));
    assert_eq!(got.source, Source::Named(rt("images", "latest")));
    assert_eq!(got.project, Project::Home);
}

#[test]
fn images_filters() {
    let list = |argv: &[&str]| match docker(argv) {
        Ok(Request::List(list)) => list.filter,
        other => panic!("{other:?}"),
    };
    let f = |repo: &str, tag: Option<&str>| {
        Some(NameFilter {
            repo: repo.into(),
            tag: tag.map(Into::into),
        })
    };
    assert_eq!(list(&["images"]), None);
    assert_eq!(list(&["images", "a/b"]), f("a/b", None));
    assert_eq!(list(&["images", "a/b:1.0"]), f("a/b", Some("1.0")));
    assert_eq!(list(&["images", "host:5000/a"]), f("host:5000/a", None));
    assert_eq!(
        list(&["images", "host:5000/a:t"]),
        f("host:5000/a", Some("t"))
    );
}

#[test]
fn load_reads_standard_input_only_when_it_is_not_a_terminal() {
    let tty = DockerEnv {
        stdin_is_tty: true,
        ..ENV
    };
    assert_eq!(
        docker_with(&["load"], &tty),
        Err(DockerError::Usage {
            command: Some(Command::Load),
            message: "no -i/--input and standard input is a terminal: give -i INPUT, or pipe \
                      an archive in (docker save IMAGE | arv-docker load)"
                .into()
        })
    );
    assert!(docker_with(&["load", "-i", "-"], &tty).is_ok());
}

#[test]
fn help_and_version() {
    let p = |argv: &[&str]| parse(argv.iter().copied());
    assert_eq!(p(&["--help"]), Ok(DockerParsed::Help(None)));
    assert_eq!(p(&["-h", "load"]), Ok(DockerParsed::Help(None)));
    assert_eq!(p(&["--version"]), Ok(DockerParsed::Version));
    assert_eq!(
        p(&["load", "--help"]),
        Ok(DockerParsed::Help(Some(Command::Load)))
    );
    assert_eq!(
        p(&["push", "x", "-h", "--bogus"]),
        Ok(DockerParsed::Help(Some(Command::Push)))
    );
    assert_eq!(
        p(&["images", "--", "--help"]),
        Ok(DockerParsed::Run(Invocation {
            positionals: vec!["--help".into()],
            ..Invocation::new(Command::Images)
        }))
    );
}

#[test]
fn usage_errors() {
    use Command::*;
    #[rustfmt::skip]
    let rows: &[(&[&str], Option<Command>, &str)] = &[
        (&[], None, "no command given (images, load, push, pull)"),
        (&["lod"], None, "'lod' is not an arv-docker command (did you mean 'load'?)"),
        (&["imgaes"], None, "'imgaes' is not an arv-docker command (did you mean 'images'?)"),
        (&["bogus"], None, "'bogus' is not an arv-docker command"),
        (&["--force", "load"], None, "unknown flag: --force (an option of arv-docker load, push, pull)"),
        (&["load", "--frce"], Some(Load), "unknown flag: --frce (did you mean --force?)"),
        (&["load", "--dryrun"], Some(Load), "unknown flag: --dryrun (did you mean --dry-run?)"),
        (&["load", "--source=x"], Some(Load), "unknown flag: --source (an option of arv-docker push)"),
        (&["push", "-i", "x", "n"], Some(Push), "unknown flag: -i (an option of arv-docker load)"),
        (&["load", "--proj", "x"], Some(Load), "unknown flag: --proj (did you mean --project-uuid?)"),
        (&["load", "--pro", "x"], Some(Load), "unknown flag: --pro"),
        (&["load", "-x"], Some(Load), "unknown flag: -x"),
        (&["load", "-i"], Some(Load), "flag needs an argument: -i"),
        (&["load", "--input"], Some(Load), "flag needs an argument: --input"),
        (&["load", "--force=yes"], Some(Load), "flag --force does not take a value (got yes)"),
        (&["load", "--from=dir", "-i", "x"], Some(Load), "invalid value 'dir' for --from: choose file, collection or daemon"),
        (&["load", "--from=file"], Some(Load), "--from says what -i/--input is: give -i too"),
        (&["load", "-i", "x", "--from=collection"], Some(Load), "-i x: not a collection UUID or portable data hash"),
        (&["load", "-i", "-", "--from=daemon"], Some(Load), "-i -: not a Docker image name or id"),
        (&["load", "a", "b"], Some(Load), "\"load\" takes at most one argument, NAME[:TAG]; got 2"),
        (&["load", "-i", "x.tar", "sha256:0123abcd"], Some(Load), "name the image NAME[:TAG], not by an image id: sha256:0123abcd"),
        (&["load", "--retries=-1"], Some(Load), "argument --retries: invalid int value: '-1' (must be 0 or more)"),
        (&["load", "--replication=0"], Some(Load), "argument --replication: invalid value: '0' (a number of copies, 1 or more)"),
        (&["load", "--format=yaml"], Some(Load), "argument --format: invalid choice: 'yaml' (choose from 'text', 'json')"),
        (&["load", "--progress", "--no-progress"], Some(Load), "argument --no-progress: not allowed with argument --progress"),
        (&["load", "--project-uuid=source", "-i", UUID], Some(Load),
         "--project-uuid=source is arv-keepdocker's; 'arv-docker push --source=COLLECTION NAME' \
          names an image in the project that holds it"),
        (&["push"], Some(Push), "\"push\" needs NAME[:TAG]"),
        (&["push", "a", "b"], Some(Push), "\"push\" takes one argument, NAME[:TAG]; got 2"),
        (&["push", "--source=img.tar", "x"], Some(Push),
         "--source takes a collection UUID or portable data hash, not 'img.tar' (to store an \
          archive: arv-docker load -i FILE NAME)"),
        (&["push", "sha256:abcdef"], Some(Push), "name the image NAME[:TAG], not by an image id: sha256:abcdef"),
        (&["pull"], Some(Pull), "\"pull\" needs REF"),
        (&["pull", "a", "b"], Some(Pull), "\"pull\" takes one argument, REF; got 2"),
        (&["pull", "--platform=linux", "ubuntu"], Some(Pull), PLATFORM_ERROR),
        (&["pull", "docker://"], Some(Pull), "'' is not an image reference"),
        (&["pull", "--retries=x", "ubuntu"], Some(Pull), "argument --retries: invalid int value: 'x'"),
        (&["images", "a", "b"], Some(Images), "\"images\" takes at most one argument, NAME[:TAG]; got 2"),
        (&["images", "a:"], Some(Images), "'a:' is not a repository name or NAME:TAG"),
        (&["images", "--name=x"], Some(Images), "unknown flag: --name (an option of arv-docker load, push, pull)"),
    ];
    let mut failures = Vec::new();
    for (argv, command, message) in rows {
        let got = docker(argv);
        let want = Err(DockerError::Usage {
            command: *command,
            message: message.to_string(),
        });
        if got != want {
            failures.push(format!("{argv:?}\n   got: {got:?}\n  want: {want:?}"));
        }
        assert_eq!(got.unwrap_err().exit_code(), 2);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `pull REF` is `arv-keepdocker --source=docker://REF`, with the same
/// registry options.
#[test]
fn pull_is_the_registry_source() {
    for (docker_argv, keepdocker_argv) in [
        (
            &["pull", "docker://ubuntu:24.04"][..],
            &["--source=docker://ubuntu:24.04"][..],
        ),
        (
            &["pull", "--platform=linux/arm64/v8", "--dry-run", "ghcr.io/org/tool:2.1"],
            &["--platform=linux/arm64/v8", "--dry-run", "--source=docker://ghcr.io/org/tool:2.1"],
        ),
        (
            &["pull", "--insecure-registry=reg:5000", "--compressed-layers", "reg:5000/x@sha256:0123456789012345678901234567890123456789012345678901234567890123"],
            &["--insecure-registry=reg:5000", "--compressed-layers", "--source=docker://reg:5000/x@sha256:0123456789012345678901234567890123456789012345678901234567890123"],
        ),
    ] {
        assert_eq!(docker(docker_argv).unwrap(), keepdocker(keepdocker_argv), "{docker_argv:?}");
    }
    assert_eq!(
        pull_argv("ubuntu:24.04", vec!["--dry-run".into(), "--name=n".into()]),
        ["--dry-run", "--name=n", "--source=docker://ubuntu:24.04"]
    );
}

#[test]
fn typos_and_their_corrections() {
    assert_eq!(distance("load", "lod"), 1);
    assert_eq!(distance("pusj", "push"), 1);
    assert_eq!(distance("laod", "load"), 1);
    assert_eq!(closest("lod", &["load", "pull"]), Some("load"));
    assert_eq!(closest("x", &["load", "pull"]), None);
    // Two letters away from a short word is another word, not a typo.
    assert_eq!(closest("pu", &["pull"]), None);
}

#[test]
fn the_table_is_well_formed() {
    for flag in FLAGS {
        assert!(!flag.help().is_empty(), "--{}", flag.long);
        // An arv-keepdocker option keeps its names and value.
        if let Some(spec) = flag.keepdocker() {
            assert_eq!(flag.short, spec.short, "--{}", flag.long);
            // ...and needs no other option, but pull's --source=docker://
            // ones, which pull gives.
            match spec.requires {
                None => {}
                Some(required) => {
                    assert_eq!(
                        (required, flag.commands),
                        ("source", &[Command::Pull][..]),
                        "--{}",
                        flag.long
                    )
                }
            }
        }
    }
    for command in std::iter::once(None).chain(COMMANDS.iter().map(|c| Some(c.command))) {
        let strings: Vec<String> = option_strings(command).into_iter().map(|o| o.0).collect();
        for (i, s) in strings.iter().enumerate() {
            assert!(!strings[i + 1..].contains(s), "{command:?}: {s} twice");
        }
    }
    for c in COMMANDS {
        assert_eq!(c.command.spec().name, c.name);
        assert_eq!(c.arguments.len(), 1);
    }
}

/// `load -i X`: the `--source` rules (a file, then a collection), then an
/// image of the Docker daemon; a path that names no file is reported as one.
#[test]
fn load_input_resolution() {
    use std::path::Path;
    let auto = |s: &str| Input::AutoOrDaemon(s.into());
    let files =
        |names: &'static [&'static str]| move |p: &Path| names.iter().any(|n| p == Path::new(n));
    let rows: &[(&str, &[&str], Result<Input, ()>)] = &[
        ("img.tar", &["img.tar"], Ok(Input::File("img.tar".into()))),
        (UUID, &[UUID], Ok(Input::File(UUID.into()))),
        (
            UUID,
            &[],
            Ok(Input::Collection(CollectionId::Uuid(UUID.into()))),
        ),
        (
            PDH,
            &[],
            Ok(Input::Collection(CollectionId::Pdh(PDH.into()))),
        ),
        ("ubuntu", &["ubuntu"], Ok(Input::File("ubuntu".into()))),
        (
            "ubuntu",
            &[],
            Ok(Input::Daemon(ImageArg::Name(rt("ubuntu", "latest")))),
        ),
        (
            "ghcr.io/org/tool:2.1",
            &[],
            Ok(Input::Daemon(ImageArg::Name(rt("ghcr.io/org/tool", "2.1")))),
        ),
        (
            "sha256:d2c94e",
            &[],
            Ok(Input::Daemon(
                ImageArg::parse("sha256:d2c94e", None).unwrap(),
            )),
        ),
        ("nope.tar", &[], Err(())),
        ("./x", &[], Err(())),
        ("/tmp/image", &[], Err(())),
        ("a b", &[], Err(())),
    ];
    for (arg, existing, want) in rows {
        let got = auto(arg).resolve(files(existing)).map_err(|_| ());
        assert_eq!(&got, want, "{arg} with files {existing:?}");
    }
    // Through the request: the message names -i and all three kinds.
    let upload = upload(docker(&["load", "-i", "nope.tar"]));
    let err = upload.resolve_input(|_| false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "-i 'nope.tar': no such file, and not a collection UUID, a portable data hash or a \
         Docker image name (use --from=file, --from=collection or --from=daemon to say which \
         was meant)"
    );
}
