//! The one table of command-line options.
//!
//! Every option is declared here once, with its names, value, legacy
//! mutually exclusive group, help text and man text. The parser
//! (`cli/mod.rs`), the help and usage text (`cli/doc.rs`), and later the man
//! page and the shell completions all read [`FLAGS`]; nothing else lists
//! options.
//!
//! The order is significant: legacy options come in the order the Python
//! tool declared them to argparse, because argparse lists the candidates of
//! an ambiguous abbreviation in that order
//! (`ambiguous option: --n could match --no-pull, --name, --no-progress, ...`)
//! and renders its usage line in that order.

/// Identifies an option in the parser's `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Id {
    Help,
    Version,
    Force,
    ForceImageFormat,
    Pull,
    ProjectUuid,
    Name,
    Progress,
    BatchProgress,
    Silent,
    Batch,
    Resume,
    Cache,
    Retries,
    Source,
    From,
    DryRun,
    Format,
    Replication,
    StorageClasses,
    Platform,
    InsecureRegistry,
    CompressedLayers,
    ReuseLayers,
}

/// Where an option comes from. A legacy option keeps every abbreviation
/// argparse gave it: an abbreviation is first resolved among the legacy
/// options (so `--s` still means `--silent` although `--source` exists), and
/// only when no legacy option matches among the new ones (`--so`, `--fr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Accepted by the Python `arv-keepdocker`.
    Legacy,
    /// Added by this implementation.
    New,
}

/// A mutually exclusive group of the legacy parser: at most one of the
/// option strings of its members (negations included) may be given, though
/// the same one may be repeated. Rendered as `[--a | --b]` in the usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Pull,
    Progress,
    Resume,
    Cache,
}

/// The part of `--help` (and of the man page) an option is listed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Source,
    Destination,
    Output,
    UploadState,
    Other,
}

impl Section {
    /// In display order.
    pub const ALL: [Section; 5] = [
        Section::Source,
        Section::Destination,
        Section::Output,
        Section::UploadState,
        Section::Other,
    ];

    /// The heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::Source => "Image source",
            Section::Destination => "Destination",
            Section::Output => "Progress and messages",
            Section::UploadState => "Upload state and retries",
            Section::Other => "Other",
        }
    }
}

/// The value an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value {
    /// The placeholder in usage and help; for legacy options argparse's
    /// metavar (`UUID`, `NAME`, `RETRIES`), which the usage line must keep.
    pub metavar: &'static str,
    /// The only accepted values, if the set is closed.
    pub choices: &'static [&'static str],
}

/// The `--no-...` form of a switch: a separate option string with its own
/// help, which sets the switch back to false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negation {
    pub long: &'static str,
    pub help: &'static str,
}

/// One option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagSpec {
    pub id: Id,
    /// The long name, without `--`.
    pub long: &'static str,
    /// The one-letter name, without `-`.
    pub short: Option<char>,
    /// Other long names, without `--`. (None today; the parser and the
    /// documentation handle them so that adding one is a table edit.)
    pub aliases: &'static [&'static str],
    pub negation: Option<Negation>,
    /// `None` for a switch.
    pub value: Option<Value>,
    pub origin: Origin,
    pub group: Option<Group>,
    /// Long names (without `--`) of options that cannot be combined with
    /// this one, beyond its legacy group. Reported in argparse's words:
    /// `argument --pull: not allowed with argument --source`.
    pub excludes: &'static [&'static str],
    /// Long name (without `--`) of an option this one needs.
    pub requires: Option<&'static str>,
    pub section: Section,
    /// One or two sentences for `--help`, wrapped by `doc.rs`.
    pub help: &'static str,
    /// What the man page adds after the help text (may be empty).
    pub man: &'static str,
}

const SWITCH: FlagSpec = FlagSpec {
    id: Id::Help,
    long: "",
    short: None,
    aliases: &[],
    negation: None,
    value: None,
    origin: Origin::Legacy,
    group: None,
    excludes: &[],
    requires: None,
    section: Section::Other,
    help: "",
    man: "",
};

/// Every option, legacy ones first in the legacy declaration order.
pub const FLAGS: &[FlagSpec] = &[
    FlagSpec {
        id: Id::Help,
        long: "help",
        short: Some('h'),
        help: "Show this help and exit.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Version,
        long: "version",
        help: "Print the program name and version and exit.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Force,
        long: "force",
        short: Some('f'),
        section: Section::Source,
        help: "Upload the image again even if it is already in Arvados.",
        man: "Without it, an image already stored in Arvados is not uploaded again: \
              the existing collection is reused, or copied into the target project \
              without moving any data, and only the missing tags are added.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::ForceImageFormat,
        long: "force-image-format",
        section: Section::Source,
        help: "Store the image even if the cluster does not list its format \
               (v1 or v2) as supported.",
        man: "The supported formats are the cluster's dockerImageFormats setting. \
              Without this option an image in another format is refused, because \
              compute nodes would not be able to run it.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Pull,
        long: "pull",
        negation: Some(Negation {
            long: "no-pull",
            help: "Use only images the Docker daemon already has (default).",
        }),
        group: Some(Group::Pull),
        section: Section::Source,
        help: "Pull the image from its registry before uploading it.",
        man: "Only meaningful when the image comes from the Docker daemon, so it \
              cannot be combined with --source.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::ProjectUuid,
        long: "project-uuid",
        value: Some(Value {
            metavar: "UUID",
            choices: &[],
        }),
        section: Section::Destination,
        help: "Put the collection and its tags in the project UUID instead of \
               your home project. With a collection as --source, 'source' means \
               the project that already holds it.",
        man: "UUID is a project (group) or user UUID. --project-uuid=source tags the \
              source collection where it is, without making a copy.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Name,
        long: "name",
        value: Some(Value {
            metavar: "NAME",
            choices: &[],
        }),
        section: Section::Destination,
        help: "Name the collection NAME instead of \
               'Docker image REPO TAG sha256:12345'.",
        man: "The default name is made of the repository, with each '/' replaced by a \
              space, the tag, and the first 12 characters of the image id. The \
              cluster may append a suffix to keep names unique in a project.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Progress,
        long: "progress",
        negation: Some(Negation {
            long: "no-progress",
            help: "Show no progress, even when stderr is a terminal.",
        }),
        group: Some(Group::Progress),
        section: Section::Output,
        help: "Show upload progress on stderr for humans (the default when \
               stderr is a terminal and --silent is not given).",
        man: "One line, redrawn in place: read / total, percentage, rate and time left, \
              for example '1.21 GiB / 3.50 GiB  34.6%  48.2 MiB/s  48s left'. \
              The total is the file's size for --source=FILE and Docker's image size for \
              the daemon, marked as an estimate ('~3.50 GiB'; the percentage stops at 100); \
              standard input has no total, so the line shows what was read and the rate. \
              For --source=docker:// the line counts the bytes pulled from the registry \
              against the size of the layer blobs. \
              A resumed upload adds 'reused SIZE' for the blocks it did not send again. \
              A narrow terminal gets fewer fields. \
              After the upload one INFO line sums up: bytes sent, bytes reused, time and \
              average rate.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::BatchProgress,
        long: "batch-progress",
        group: Some(Group::Progress),
        section: Section::Output,
        help: "Show upload progress on stderr as machine-readable lines \
               (bytes written and, if known, the total).",
        man: "Each line reads 'PROGRAM PID: WRITTEN written TOTAL total', with -1 as \
              TOTAL when the size is not known exactly (standard input, the daemon). \
              For --source=docker:// both count bytes pulled from the registry.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Silent,
        long: "silent",
        section: Section::Output,
        help: "Print no informational messages; errors are still shown. As with \
               the legacy tool, a new upload then does not print the collection \
               UUID either.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Batch,
        long: "batch",
        section: Section::UploadState,
        help: "Ignore saved upload state whose block signatures have expired \
               (always the case; accepted for compatibility).",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Resume,
        long: "resume",
        negation: Some(Negation {
            long: "no-resume",
            help: "Start an interrupted upload over.",
        }),
        group: Some(Group::Resume),
        section: Section::UploadState,
        help: "Continue an interrupted upload from its saved state (default).",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Cache,
        long: "cache",
        negation: Some(Negation {
            long: "no-cache",
            help: "Save no upload state; implies --no-resume.",
        }),
        group: Some(Group::Cache),
        section: Section::UploadState,
        help: "Save upload state so that an interrupted upload can resume (default).",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Retries,
        long: "retries",
        value: Some(Value {
            metavar: "RETRIES",
            choices: &[],
        }),
        section: Section::UploadState,
        help: "Retry a request that fails for a temporary reason up to RETRIES \
               times (default 10).",
        man: "Applies to API server and Keep requests alike.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Source,
        long: "source",
        value: Some(Value {
            metavar: "SOURCE",
            choices: &[],
        }),
        origin: Origin::New,
        excludes: &["pull"],
        section: Section::Source,
        help: "Take the image from SOURCE instead of the Docker daemon: an image \
               archive written by 'docker save' (a file, or - for standard input), \
               a collection in Arvados that holds one (UUID or portable data hash), \
               or an image in a registry (docker://REFERENCE).",
        man: "No Docker daemon or docker command is needed. The archive is read once, \
              as a stream, and checked while it uploads; nothing is created on the \
              cluster unless it is a valid archive of exactly one image. A \
              collection source is tagged, or copied into the target project, \
              without moving any data. A registry source is \
              docker://[HOST[:PORT]/]REPO[:TAG|@sha256:DIGEST]; the reference follows Docker's rules \
              (no host: Docker Hub, with library/ for a one-part name; default tag \
              latest); the image is pulled with the credentials the docker command \
              would use and written straight into Keep as the archive `docker pull` \
              then `docker save` would give (Docker 25's layout, layers \
              uncompressed and checked against their diff_ids), with no temporary \
              file. Without REPO[:TAG] it is named as `docker pull` names it \
              (ubuntu:24.04), or by its id only when pulled by digest. An image \
              already in Arvados is found from the manifest and config alone, and no \
              layer is pulled.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::From,
        long: "from",
        value: Some(Value {
            metavar: "KIND",
            choices: &["file", "collection"],
        }),
        origin: Origin::New,
        requires: Some("source"),
        section: Section::Source,
        help: "Say what SOURCE is: 'file' or 'collection'. Without it, an existing \
               file wins, then a collection UUID or portable data hash.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::DryRun,
        long: "dry-run",
        origin: Origin::New,
        section: Section::Destination,
        help: "Check everything and print what would be created and what reused, \
               but create nothing: no Keep block, collection or link is written.",
        man: "The source is resolved and the image checked as for a real run: an \
              archive that is not already in Arvados is read to its end through the \
              archive checker and hashed (not uploaded), so the plan can give its \
              portable data hash; `docker save` runs the same way for an image from \
              the Docker daemon. The image format, the target project and your \
              permission to write there are checked. --pull is not carried out. The \
              exit status is 0 when the run would succeed, and otherwise the error \
              it would stop at is reported. With --format=json the plan is a JSON \
              document with \"dry_run\": true.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::ReuseLayers,
        long: "reuse-layers",
        origin: Origin::New,
        section: Section::Destination,
        help: "Store each layer of an image from the Docker daemon, a file or standard \
               input in Keep blocks of its own, record them, and send no layer a readable \
               image collection already holds. Changes the portable data hash a legacy \
               upload of the same image gives.",
        man: "Every regular member of the archive of at least 1 MiB (the layers, and \
              large configs) starts a new Keep block at its content and ends one at its \
              end; tar headers and small members are packed into blocks between them. The \
              file is byte for byte the archive; only the block boundaries differ from \
              the legacy tool's fixed 64 MiB cuts, so the collection's portable data hash \
              differs from a legacy upload's. The collection records its layers in the \
              properties docker-image-layers and docker-image-layer-blocks. A layer \
              recorded by a readable, untrashed image collection is looked up (the \
              image's diff_ids from the Docker daemon or the file's config; from standard \
              input, an OCI layout's blob names as they stream) and its blocks are not \
              sent again: the bytes are still read, and a recorded block is taken only \
              when the block just read has its MD5 and size. Standard input in the \
              classic layout (Docker 24 and older) is stored aligned but reuses nothing. \
              A --source=docker:// pull always stores layers this way.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Format,
        long: "format",
        value: Some(Value {
            metavar: "FORMAT",
            choices: &["text", "json"],
        }),
        origin: Origin::New,
        section: Section::Output,
        help: "Print the result on stdout as 'text' (the default: the collection \
               UUID, or the listing table) or as one 'json' document.",
        man: "For an upload the JSON document has the image id, its repo:tag, the \
              collection (uuid, portable data hash, name, owner, whether it was \
              uploaded, copied or reused), every link made or reused, and the bytes \
              uploaded and reused; for the listing, one object per image row. The \
              document is printed even with --silent. Errors are ERROR lines on \
              stderr as always. The schema is in the README.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Replication,
        long: "replication",
        value: Some(Value {
            metavar: "N",
            choices: &[],
        }),
        origin: Origin::New,
        section: Section::Destination,
        help: "Store N copies of each block (default: the cluster's \
               defaultCollectionReplication) and record N as the collection's \
               replication_desired.",
        man: "Each block is written until Keep confirms N replicas \
              (X-Keep-Replicas-Stored). A collection copied into the target project \
              gets the setting too; a collection that is reused as it is keeps its \
              own, and a warning says so.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::StorageClasses,
        long: "storage-classes",
        value: Some(Value {
            metavar: "CLASSES",
            choices: &[],
        }),
        origin: Origin::New,
        section: Section::Destination,
        help: "Store the blocks in these storage classes (comma-separated; default: \
               the cluster's default classes) and record them as the collection's \
               storage_classes_desired.",
        man: "Each block is written until Keep confirms every class \
              (X-Keep-Storage-Classes-Confirmed); a cluster that does not confirm \
              classes gets a warning and only the replica count is checked. A copied \
              collection gets the classes too; a reused one keeps its own.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::Platform,
        long: "platform",
        value: Some(Value {
            metavar: "PLATFORM",
            choices: &[],
        }),
        origin: Origin::New,
        requires: Some("source"),
        section: Section::Source,
        help: "With --source=docker://, the platform to pull, OS/ARCH[/VARIANT], when \
               the reference names a multi-platform image (default linux/amd64, what \
               compute nodes run).",
        man: "An error lists the platforms the image offers when none matches.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::InsecureRegistry,
        long: "insecure-registry",
        value: Some(Value {
            metavar: "HOST",
            choices: &[],
        }),
        origin: Origin::New,
        requires: Some("source"),
        section: Section::Source,
        help: "With --source=docker://, allow plain HTTP to the registry HOST or \
               HOST:PORT (loopback hosts are always allowed). May be given more than once.",
        ..SWITCH
    },
    FlagSpec {
        id: Id::CompressedLayers,
        long: "compressed-layers",
        origin: Origin::New,
        requires: Some("source"),
        section: Section::Source,
        help: "With --source=docker://, store the layers compressed, as the registry \
               serves them, instead of as `docker save` writes them.",
        man: "Smaller and faster to store, and still loaded by docker load and read by \
              Singularity; but Arvados estimates the scratch space a container needs \
              from the size of the image collection, so an image of compressed layers \
              gets less than loading it needs. Each layer is still checked against its \
              diff_id. zstd layers are always stored as pulled.",
        ..SWITCH
    },
];

/// A positional argument, for the documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionalSpec {
    /// As in the legacy usage line (`[image] [tag]`).
    pub name: &'static str,
    /// As in the help (`IMAGE`, `TAG`).
    pub metavar: &'static str,
    pub help: &'static str,
}

/// The two positionals.
pub const POSITIONALS: &[PositionalSpec] = &[
    PositionalSpec {
        name: "image",
        metavar: "IMAGE",
        help: "The image to upload from the Docker daemon: repo, repo:tag, or an \
               image id (sha256:..., or a prefix of its hex digits). Nothing, or \
               'images', lists the images in Arvados instead. With --source: the \
               REPO[:TAG] to tag the image with.",
    },
    PositionalSpec {
        name: "tag",
        metavar: "TAG",
        help: "The tag, if IMAGE has none (default 'latest').",
    },
];

impl FlagSpec {
    /// The option strings of the positive form, in argparse order (short
    /// first), as shown in messages: `-f/--force`.
    pub fn display_name(&self, negated: bool) -> String {
        if negated {
            let negation = self.negation.expect("only a negatable flag is negated");
            return format!("--{}", negation.long);
        }
        let mut names: Vec<String> = self.short.iter().map(|c| format!("-{c}")).collect();
        names.push(format!("--{}", self.long));
        names.extend(self.aliases.iter().map(|a| format!("--{a}")));
        names.join("/")
    }
}

/// The name part of an option string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptName {
    Short(char),
    Long(&'static str),
}

/// One option string (`--no-pull`, `-f`) and the flag it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionString {
    pub name: OptName,
    pub flag: &'static FlagSpec,
    pub negated: bool,
}

impl OptionString {
    /// Whether this is a long option string (`--...`).
    pub fn is_long(&self) -> bool {
        matches!(self.name, OptName::Long(_))
    }

    /// The option as argparse names it in messages: all the option strings
    /// of its action joined by `/`.
    pub fn action_name(&self) -> String {
        self.flag.display_name(self.negated)
    }
}

impl std::fmt::Display for OptionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name {
            OptName::Short(c) => write!(f, "-{c}"),
            OptName::Long(name) => write!(f, "--{name}"),
        }
    }
}

/// Every option string, in argparse's registration order: for each flag its
/// short name, long name and aliases, then its negation.
pub fn option_strings() -> impl Iterator<Item = OptionString> {
    FLAGS.iter().flat_map(|flag| {
        let plain = move |name| OptionString {
            name,
            flag,
            negated: false,
        };
        let negation = flag.negation.map(|n| OptionString {
            name: OptName::Long(n.long),
            flag,
            negated: true,
        });
        flag.short
            .map(|c| plain(OptName::Short(c)))
            .into_iter()
            .chain(std::iter::once(plain(OptName::Long(flag.long))))
            .chain(flag.aliases.iter().map(move |a| plain(OptName::Long(a))))
            .chain(negation)
    })
}

/// The flag with this long name (without `--`).
#[cfg(test)]
pub fn by_long(long: &str) -> &'static FlagSpec {
    FLAGS
        .iter()
        .find(|f| f.long == long)
        .unwrap_or_else(|| panic!("no flag --{long} in FLAGS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let strings: Vec<String> = option_strings().map(|o| o.to_string()).collect();
        for (i, a) in strings.iter().enumerate() {
            assert!(
                a.starts_with('-') && !a.contains('=') && !a.contains(' '),
                "{a}"
            );
            assert!(!strings[i + 1..].contains(a), "{a} twice");
        }
        for flag in FLAGS {
            assert!(!flag.help.is_empty(), "--{} has no help", flag.long);
            assert!(
                flag.negation.is_none() || flag.value.is_none(),
                "--{}",
                flag.long
            );
            for name in flag.excludes.iter().chain(flag.requires.iter()) {
                by_long(name);
            }
        }
        // Legacy options come first, so that argparse's orders are kept.
        let first_new = FLAGS.iter().position(|f| f.origin == Origin::New).unwrap();
        assert!(FLAGS[first_new..].iter().all(|f| f.origin == Origin::New));
    }

    #[test]
    fn legacy_option_strings_in_argparse_order() {
        let legacy: Vec<String> = option_strings()
            .filter(|o| o.flag.origin == Origin::Legacy)
            .map(|o| o.to_string())
            .collect();
        // The order of `parser._option_string_actions` in the legacy tool.
        assert_eq!(
            legacy,
            [
                "-h",
                "--help",
                "--version",
                "-f",
                "--force",
                "--force-image-format",
                "--pull",
                "--no-pull",
                "--project-uuid",
                "--name",
                "--progress",
                "--no-progress",
                "--batch-progress",
                "--silent",
                "--batch",
                "--resume",
                "--no-resume",
                "--cache",
                "--no-cache",
                "--retries",
            ]
        );
    }

    /// A new option may never be spelled like an abbreviation that worked
    /// with the legacy tool: an exact match wins over abbreviations, so it
    /// would change what an existing script means.
    #[test]
    fn new_names_never_shadow_a_legacy_abbreviation() {
        let legacy: Vec<String> = option_strings()
            .filter(|o| o.flag.origin == Origin::Legacy && o.is_long())
            .map(|o| o.to_string())
            .collect();
        for new in option_strings().filter(|o| o.flag.origin == Origin::New) {
            let name = new.to_string();
            let shadowed = legacy.iter().filter(|l| l.starts_with(&name)).count();
            assert_ne!(shadowed, 1, "{name} is a legacy abbreviation");
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(by_long("force").display_name(false), "-f/--force");
        assert_eq!(by_long("help").display_name(false), "-h/--help");
        assert_eq!(by_long("pull").display_name(true), "--no-pull");
        assert_eq!(by_long("retries").display_name(false), "--retries");
    }
}
