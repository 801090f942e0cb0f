//! Tables of argv -> outcome for the command line.
//!
//! `LEGACY` was produced by running the legacy parser itself (arvados 3.2.1
//! `arvados.commands.keepdocker.arg_parser.parse_args`, Python 3.11.7,
//! `prog` = `arv-keepdocker`) on each argv and recording the namespace, or
//! the exit status and the `error:` line; `--help`/`--version` rows exited 0.
//! The same cases give the same results under Python 3.9, 3.12 and 3.13
//! (checked on the ambiguous, interleaved and `--` rows). Where we differ on
//! purpose the row is in `DIFFERENCES` instead, with the legacy outcome in
//! a comment.

use super::*;

enum Want {
    Run(fn(&mut Args)),
    Usage(&'static str),
    Help,
    Version,
}

const HELP: Want = Want::Help;
const VERSION: Want = Want::Version;

const fn run(set: fn(&mut Args)) -> Want {
    Want::Run(set)
}

const fn usage(message: &'static str) -> Want {
    Want::Usage(message)
}

fn s(text: &str) -> Option<String> {
    Some(text.to_string())
}

fn check(table: &[(&[&str], Want)]) {
    let mut failures = Vec::new();
    for (argv, want) in table {
        let got = parse(argv.iter().copied());
        let expected = match want {
            Want::Run(set) => {
                let mut args = Args::default();
                set(&mut args);
                Ok(Parsed::Run(args))
            }
            Want::Usage(message) => Err(CliError::Usage(message.to_string())),
            Want::Help => Ok(Parsed::Help),
            Want::Version => Ok(Parsed::Version),
        };
        if got != expected {
            failures.push(format!("{argv:?}\n   got: {got:?}\n  want: {expected:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[test]
fn legacy_behaviour() {
    check(LEGACY);
}

/// Observed with the legacy tool; generated from its output.
#[rustfmt::skip]
const LEGACY: &[(&[&str], Want)] = &[
    (&["--h"], HELP),
    (&["--h=v"], usage("argument -h/--help: ignored explicit argument 'v'")),
    (&["--h", "v"], HELP),
    (&["--he"], HELP),
    (&["--he=v"], usage("argument -h/--help: ignored explicit argument 'v'")),
    (&["--he", "v"], HELP),
    (&["--hel"], HELP),
    (&["--hel=v"], usage("argument -h/--help: ignored explicit argument 'v'")),
    (&["--hel", "v"], HELP),
    (&["--help"], HELP),
    (&["--help=v"], usage("argument -h/--help: ignored explicit argument 'v'")),
    (&["--help", "v"], HELP),
    (&["--v"], VERSION),
    (&["--v=v"], usage("argument --version: ignored explicit argument 'v'")),
    (&["--v", "v"], VERSION),
    (&["--ve"], VERSION),
    (&["--ve=v"], usage("argument --version: ignored explicit argument 'v'")),
    (&["--ve", "v"], VERSION),
    (&["--ver"], VERSION),
    (&["--ver=v"], usage("argument --version: ignored explicit argument 'v'")),
    (&["--ver", "v"], VERSION),
    (&["--vers"], VERSION),
    (&["--vers=v"], usage("argument --version: ignored explicit argument 'v'")),
    (&["--vers", "v"], VERSION),
    (&["--versi"], VERSION),
    (&["--versi=v"], usage("argument --version: ignored explicit argument 'v'")),
    (&["--versi", "v"], VERSION),
    (&["--versio"], VERSION),
    (&["--versio=v"], usage("argument --version: ignored explicit argument 'v'")),
    (&["--versio", "v"], VERSION),
    (&["--version"], VERSION),
    (&["--version=v"], usage("argument --version: ignored explicit argument 'v'")),
    (&["--version", "v"], VERSION),
    (&["--f"], usage("ambiguous option: --f could match --force, --force-image-format")),
    (&["--f=v"], usage("ambiguous option: --f=v could match --force, --force-image-format")),
    (&["--f", "v"], usage("ambiguous option: --f could match --force, --force-image-format")),
    (&["--fo"], usage("ambiguous option: --fo could match --force, --force-image-format")),
    (&["--fo=v"], usage("ambiguous option: --fo=v could match --force, --force-image-format")),
    (&["--fo", "v"], usage("ambiguous option: --fo could match --force, --force-image-format")),
    (&["--for"], usage("ambiguous option: --for could match --force, --force-image-format")),
    (&["--for=v"], usage("ambiguous option: --for=v could match --force, --force-image-format")),
    (&["--for", "v"], usage("ambiguous option: --for could match --force, --force-image-format")),
    (&["--forc"], usage("ambiguous option: --forc could match --force, --force-image-format")),
    (&["--forc=v"], usage("ambiguous option: --forc=v could match --force, --force-image-format")),
    (&["--forc", "v"], usage("ambiguous option: --forc could match --force, --force-image-format")),
    (&["--force"], run(|a| { a.force = true; })),
    (&["--force=v"], usage("argument -f/--force: ignored explicit argument 'v'")),
    (&["--force", "v"], run(|a| { a.force = true; a.image = s("v"); })),
    (&["--force-"], run(|a| { a.force_image_format = true; })),
    (&["--force-=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-i"], run(|a| { a.force_image_format = true; })),
    (&["--force-i=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-i", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-im"], run(|a| { a.force_image_format = true; })),
    (&["--force-im=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-im", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-ima"], run(|a| { a.force_image_format = true; })),
    (&["--force-ima=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-ima", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-imag"], run(|a| { a.force_image_format = true; })),
    (&["--force-imag=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-imag", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image"], run(|a| { a.force_image_format = true; })),
    (&["--force-image=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image-"], run(|a| { a.force_image_format = true; })),
    (&["--force-image-=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image-", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image-f"], run(|a| { a.force_image_format = true; })),
    (&["--force-image-f=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image-f", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image-fo"], run(|a| { a.force_image_format = true; })),
    (&["--force-image-fo=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image-fo", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image-for"], run(|a| { a.force_image_format = true; })),
    (&["--force-image-for=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image-for", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image-form"], run(|a| { a.force_image_format = true; })),
    (&["--force-image-form=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image-form", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image-forma"], run(|a| { a.force_image_format = true; })),
    (&["--force-image-forma=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image-forma", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--force-image-format"], run(|a| { a.force_image_format = true; })),
    (&["--force-image-format=v"], usage("argument --force-image-format: ignored explicit argument 'v'")),
    (&["--force-image-format", "v"], run(|a| { a.force_image_format = true; a.image = s("v"); })),
    (&["--p"], usage("ambiguous option: --p could match --pull, --project-uuid, --progress")),
    (&["--p=v"], usage("ambiguous option: --p=v could match --pull, --project-uuid, --progress")),
    (&["--p", "v"], usage("ambiguous option: --p could match --pull, --project-uuid, --progress")),
    (&["--pu"], run(|a| { a.pull = true; })),
    (&["--pu=v"], usage("argument --pull: ignored explicit argument 'v'")),
    (&["--pu", "v"], run(|a| { a.pull = true; a.image = s("v"); })),
    (&["--pul"], run(|a| { a.pull = true; })),
    (&["--pul=v"], usage("argument --pull: ignored explicit argument 'v'")),
    (&["--pul", "v"], run(|a| { a.pull = true; a.image = s("v"); })),
    (&["--pull"], run(|a| { a.pull = true; })),
    (&["--pull=v"], usage("argument --pull: ignored explicit argument 'v'")),
    (&["--pull", "v"], run(|a| { a.pull = true; a.image = s("v"); })),
    (&["--n"], usage("ambiguous option: --n could match --no-pull, --name, --no-progress, --no-resume, --no-cache")),
    (&["--n=v"], usage("ambiguous option: --n=v could match --no-pull, --name, --no-progress, --no-resume, --no-cache")),
    (&["--n", "v"], usage("ambiguous option: --n could match --no-pull, --name, --no-progress, --no-resume, --no-cache")),
    (&["--no"], usage("ambiguous option: --no could match --no-pull, --no-progress, --no-resume, --no-cache")),
    (&["--no=v"], usage("ambiguous option: --no=v could match --no-pull, --no-progress, --no-resume, --no-cache")),
    (&["--no", "v"], usage("ambiguous option: --no could match --no-pull, --no-progress, --no-resume, --no-cache")),
    (&["--no-"], usage("ambiguous option: --no- could match --no-pull, --no-progress, --no-resume, --no-cache")),
    (&["--no-=v"], usage("ambiguous option: --no-=v could match --no-pull, --no-progress, --no-resume, --no-cache")),
    (&["--no-", "v"], usage("ambiguous option: --no- could match --no-pull, --no-progress, --no-resume, --no-cache")),
    (&["--no-p"], usage("ambiguous option: --no-p could match --no-pull, --no-progress")),
    (&["--no-p=v"], usage("ambiguous option: --no-p=v could match --no-pull, --no-progress")),
    (&["--no-p", "v"], usage("ambiguous option: --no-p could match --no-pull, --no-progress")),
    (&["--no-pu"], run(|_| {})),
    (&["--no-pu=v"], usage("argument --no-pull: ignored explicit argument 'v'")),
    (&["--no-pu", "v"], run(|a| { a.image = s("v"); })),
    (&["--no-pul"], run(|_| {})),
    (&["--no-pul=v"], usage("argument --no-pull: ignored explicit argument 'v'")),
    (&["--no-pul", "v"], run(|a| { a.image = s("v"); })),
    (&["--no-pull"], run(|_| {})),
    (&["--no-pull=v"], usage("argument --no-pull: ignored explicit argument 'v'")),
    (&["--no-pull", "v"], run(|a| { a.image = s("v"); })),
    (&["--pr"], usage("ambiguous option: --pr could match --project-uuid, --progress")),
    (&["--pr=v"], usage("ambiguous option: --pr=v could match --project-uuid, --progress")),
    (&["--pr", "v"], usage("ambiguous option: --pr could match --project-uuid, --progress")),
    (&["--pro"], usage("ambiguous option: --pro could match --project-uuid, --progress")),
    (&["--pro=v"], usage("ambiguous option: --pro=v could match --project-uuid, --progress")),
    (&["--pro", "v"], usage("ambiguous option: --pro could match --project-uuid, --progress")),
    (&["--proj"], usage("argument --project-uuid: expected one argument")),
    (&["--proj=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--proj", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--proje"], usage("argument --project-uuid: expected one argument")),
    (&["--proje=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--proje", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--projec"], usage("argument --project-uuid: expected one argument")),
    (&["--projec=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--projec", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project"], usage("argument --project-uuid: expected one argument")),
    (&["--project=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-"], usage("argument --project-uuid: expected one argument")),
    (&["--project-=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-u"], usage("argument --project-uuid: expected one argument")),
    (&["--project-u=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-u", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-uu"], usage("argument --project-uuid: expected one argument")),
    (&["--project-uu=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-uu", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-uui"], usage("argument --project-uuid: expected one argument")),
    (&["--project-uui=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-uui", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-uuid"], usage("argument --project-uuid: expected one argument")),
    (&["--project-uuid=v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--project-uuid", "v"], run(|a| { a.project_uuid = s("v"); })),
    (&["--na"], usage("argument --name: expected one argument")),
    (&["--na=v"], run(|a| { a.name = s("v"); })),
    (&["--na", "v"], run(|a| { a.name = s("v"); })),
    (&["--nam"], usage("argument --name: expected one argument")),
    (&["--nam=v"], run(|a| { a.name = s("v"); })),
    (&["--nam", "v"], run(|a| { a.name = s("v"); })),
    (&["--name"], usage("argument --name: expected one argument")),
    (&["--name=v"], run(|a| { a.name = s("v"); })),
    (&["--name", "v"], run(|a| { a.name = s("v"); })),
    (&["--prog"], run(|a| { a.progress = Some(ProgressChoice::Human); })),
    (&["--prog=v"], usage("argument --progress: ignored explicit argument 'v'")),
    (&["--prog", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Human); })),
    (&["--progr"], run(|a| { a.progress = Some(ProgressChoice::Human); })),
    (&["--progr=v"], usage("argument --progress: ignored explicit argument 'v'")),
    (&["--progr", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Human); })),
    (&["--progre"], run(|a| { a.progress = Some(ProgressChoice::Human); })),
    (&["--progre=v"], usage("argument --progress: ignored explicit argument 'v'")),
    (&["--progre", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Human); })),
    (&["--progres"], run(|a| { a.progress = Some(ProgressChoice::Human); })),
    (&["--progres=v"], usage("argument --progress: ignored explicit argument 'v'")),
    (&["--progres", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Human); })),
    (&["--progress"], run(|a| { a.progress = Some(ProgressChoice::Human); })),
    (&["--progress=v"], usage("argument --progress: ignored explicit argument 'v'")),
    (&["--progress", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Human); })),
    (&["--no-pr"], run(|a| { a.progress = Some(ProgressChoice::Off); })),
    (&["--no-pr=v"], usage("argument --no-progress: ignored explicit argument 'v'")),
    (&["--no-pr", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Off); })),
    (&["--no-pro"], run(|a| { a.progress = Some(ProgressChoice::Off); })),
    (&["--no-pro=v"], usage("argument --no-progress: ignored explicit argument 'v'")),
    (&["--no-pro", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Off); })),
    (&["--no-prog"], run(|a| { a.progress = Some(ProgressChoice::Off); })),
    (&["--no-prog=v"], usage("argument --no-progress: ignored explicit argument 'v'")),
    (&["--no-prog", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progr"], run(|a| { a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progr=v"], usage("argument --no-progress: ignored explicit argument 'v'")),
    (&["--no-progr", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progre"], run(|a| { a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progre=v"], usage("argument --no-progress: ignored explicit argument 'v'")),
    (&["--no-progre", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progres"], run(|a| { a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progres=v"], usage("argument --no-progress: ignored explicit argument 'v'")),
    (&["--no-progres", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progress"], run(|a| { a.progress = Some(ProgressChoice::Off); })),
    (&["--no-progress=v"], usage("argument --no-progress: ignored explicit argument 'v'")),
    (&["--no-progress", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Off); })),
    (&["--b"], usage("ambiguous option: --b could match --batch-progress, --batch")),
    (&["--b=v"], usage("ambiguous option: --b=v could match --batch-progress, --batch")),
    (&["--b", "v"], usage("ambiguous option: --b could match --batch-progress, --batch")),
    (&["--ba"], usage("ambiguous option: --ba could match --batch-progress, --batch")),
    (&["--ba=v"], usage("ambiguous option: --ba=v could match --batch-progress, --batch")),
    (&["--ba", "v"], usage("ambiguous option: --ba could match --batch-progress, --batch")),
    (&["--bat"], usage("ambiguous option: --bat could match --batch-progress, --batch")),
    (&["--bat=v"], usage("ambiguous option: --bat=v could match --batch-progress, --batch")),
    (&["--bat", "v"], usage("ambiguous option: --bat could match --batch-progress, --batch")),
    (&["--batc"], usage("ambiguous option: --batc could match --batch-progress, --batch")),
    (&["--batc=v"], usage("ambiguous option: --batc=v could match --batch-progress, --batch")),
    (&["--batc", "v"], usage("ambiguous option: --batc could match --batch-progress, --batch")),
    (&["--batch"], run(|a| { a.batch = true; })),
    (&["--batch=v"], usage("argument --batch: ignored explicit argument 'v'")),
    (&["--batch", "v"], run(|a| { a.batch = true; a.image = s("v"); })),
    (&["--batch-"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-p"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-p=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-p", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-pr"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-pr=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-pr", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-pro"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-pro=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-pro", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-prog"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-prog=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-prog", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progr"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progr=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-progr", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progre"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progre=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-progre", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progres"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progres=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-progres", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progress"], run(|a| { a.progress = Some(ProgressChoice::Machine); })),
    (&["--batch-progress=v"], usage("argument --batch-progress: ignored explicit argument 'v'")),
    (&["--batch-progress", "v"], run(|a| { a.image = s("v"); a.progress = Some(ProgressChoice::Machine); })),
    (&["--s"], run(|a| { a.silent = true; })),
    (&["--s=v"], usage("argument --silent: ignored explicit argument 'v'")),
    (&["--s", "v"], run(|a| { a.silent = true; a.image = s("v"); })),
    (&["--si"], run(|a| { a.silent = true; })),
    (&["--si=v"], usage("argument --silent: ignored explicit argument 'v'")),
    (&["--si", "v"], run(|a| { a.silent = true; a.image = s("v"); })),
    (&["--sil"], run(|a| { a.silent = true; })),
    (&["--sil=v"], usage("argument --silent: ignored explicit argument 'v'")),
    (&["--sil", "v"], run(|a| { a.silent = true; a.image = s("v"); })),
    (&["--sile"], run(|a| { a.silent = true; })),
    (&["--sile=v"], usage("argument --silent: ignored explicit argument 'v'")),
    (&["--sile", "v"], run(|a| { a.silent = true; a.image = s("v"); })),
    (&["--silen"], run(|a| { a.silent = true; })),
    (&["--silen=v"], usage("argument --silent: ignored explicit argument 'v'")),
    (&["--silen", "v"], run(|a| { a.silent = true; a.image = s("v"); })),
    (&["--silent"], run(|a| { a.silent = true; })),
    (&["--silent=v"], usage("argument --silent: ignored explicit argument 'v'")),
    (&["--silent", "v"], run(|a| { a.silent = true; a.image = s("v"); })),
    (&["--r"], usage("ambiguous option: --r could match --resume, --retries")),
    (&["--r=v"], usage("ambiguous option: --r=v could match --resume, --retries")),
    (&["--r", "v"], usage("ambiguous option: --r could match --resume, --retries")),
    (&["--re"], usage("ambiguous option: --re could match --resume, --retries")),
    (&["--re=v"], usage("ambiguous option: --re=v could match --resume, --retries")),
    (&["--re", "v"], usage("ambiguous option: --re could match --resume, --retries")),
    (&["--res"], run(|_| {})),
    (&["--res=v"], usage("argument --resume: ignored explicit argument 'v'")),
    (&["--res", "v"], run(|a| { a.image = s("v"); })),
    (&["--resu"], run(|_| {})),
    (&["--resu=v"], usage("argument --resume: ignored explicit argument 'v'")),
    (&["--resu", "v"], run(|a| { a.image = s("v"); })),
    (&["--resum"], run(|_| {})),
    (&["--resum=v"], usage("argument --resume: ignored explicit argument 'v'")),
    (&["--resum", "v"], run(|a| { a.image = s("v"); })),
    (&["--resume"], run(|_| {})),
    (&["--resume=v"], usage("argument --resume: ignored explicit argument 'v'")),
    (&["--resume", "v"], run(|a| { a.image = s("v"); })),
    (&["--no-r"], run(|a| { a.resume = false; })),
    (&["--no-r=v"], usage("argument --no-resume: ignored explicit argument 'v'")),
    (&["--no-r", "v"], run(|a| { a.resume = false; a.image = s("v"); })),
    (&["--no-re"], run(|a| { a.resume = false; })),
    (&["--no-re=v"], usage("argument --no-resume: ignored explicit argument 'v'")),
    (&["--no-re", "v"], run(|a| { a.resume = false; a.image = s("v"); })),
    (&["--no-res"], run(|a| { a.resume = false; })),
    (&["--no-res=v"], usage("argument --no-resume: ignored explicit argument 'v'")),
    (&["--no-res", "v"], run(|a| { a.resume = false; a.image = s("v"); })),
    (&["--no-resu"], run(|a| { a.resume = false; })),
    (&["--no-resu=v"], usage("argument --no-resume: ignored explicit argument 'v'")),
    (&["--no-resu", "v"], run(|a| { a.resume = false; a.image = s("v"); })),
    (&["--no-resum"], run(|a| { a.resume = false; })),
    (&["--no-resum=v"], usage("argument --no-resume: ignored explicit argument 'v'")),
    (&["--no-resum", "v"], run(|a| { a.resume = false; a.image = s("v"); })),
    (&["--no-resume"], run(|a| { a.resume = false; })),
    (&["--no-resume=v"], usage("argument --no-resume: ignored explicit argument 'v'")),
    (&["--no-resume", "v"], run(|a| { a.resume = false; a.image = s("v"); })),
    (&["--c"], run(|_| {})),
    (&["--c=v"], usage("argument --cache: ignored explicit argument 'v'")),
    (&["--c", "v"], run(|a| { a.image = s("v"); })),
    (&["--ca"], run(|_| {})),
    (&["--ca=v"], usage("argument --cache: ignored explicit argument 'v'")),
    (&["--ca", "v"], run(|a| { a.image = s("v"); })),
    (&["--cac"], run(|_| {})),
    (&["--cac=v"], usage("argument --cache: ignored explicit argument 'v'")),
    (&["--cac", "v"], run(|a| { a.image = s("v"); })),
    (&["--cach"], run(|_| {})),
    (&["--cach=v"], usage("argument --cache: ignored explicit argument 'v'")),
    (&["--cach", "v"], run(|a| { a.image = s("v"); })),
    (&["--cache"], run(|_| {})),
    (&["--cache=v"], usage("argument --cache: ignored explicit argument 'v'")),
    (&["--cache", "v"], run(|a| { a.image = s("v"); })),
    (&["--no-c"], run(|a| { a.cache = false; })),
    (&["--no-c=v"], usage("argument --no-cache: ignored explicit argument 'v'")),
    (&["--no-c", "v"], run(|a| { a.cache = false; a.image = s("v"); })),
    (&["--no-ca"], run(|a| { a.cache = false; })),
    (&["--no-ca=v"], usage("argument --no-cache: ignored explicit argument 'v'")),
    (&["--no-ca", "v"], run(|a| { a.cache = false; a.image = s("v"); })),
    (&["--no-cac"], run(|a| { a.cache = false; })),
    (&["--no-cac=v"], usage("argument --no-cache: ignored explicit argument 'v'")),
    (&["--no-cac", "v"], run(|a| { a.cache = false; a.image = s("v"); })),
    (&["--no-cach"], run(|a| { a.cache = false; })),
    (&["--no-cach=v"], usage("argument --no-cache: ignored explicit argument 'v'")),
    (&["--no-cach", "v"], run(|a| { a.cache = false; a.image = s("v"); })),
    (&["--no-cache"], run(|a| { a.cache = false; })),
    (&["--no-cache=v"], usage("argument --no-cache: ignored explicit argument 'v'")),
    (&["--no-cache", "v"], run(|a| { a.cache = false; a.image = s("v"); })),
    (&["--ret"], usage("argument --retries: expected one argument")),
    (&["--retr"], usage("argument --retries: expected one argument")),
    (&["--retri"], usage("argument --retries: expected one argument")),
    (&["--retrie"], usage("argument --retries: expected one argument")),
    (&["--retries"], usage("argument --retries: expected one argument")),
    (&[], run(|_| {})),
    (&["images"], run(|a| { a.image = s("images"); })),
    (&["images", "x"], run(|a| { a.image = s("images"); a.tag = s("x"); })),
    (&["images", "x", "y"], usage("unrecognized arguments: y")),
    (&["img"], run(|a| { a.image = s("img"); })),
    (&["img", "tag"], run(|a| { a.image = s("img"); a.tag = s("tag"); })),
    (&["repo:tag"], run(|a| { a.image = s("repo:tag"); })),
    (&["repo:tag", "x"], run(|a| { a.image = s("repo:tag"); a.tag = s("x"); })),
    (&["-f"], run(|a| { a.force = true; })),
    (&["-h"], HELP),
    (&["-fh"], HELP),
    (&["-hf"], HELP),
    (&["-ff"], run(|a| { a.force = true; })),
    (&["-fx"], usage("argument -f/--force: ignored explicit argument 'x'")),
    (&["-f=x"], usage("argument -f/--force: ignored explicit argument 'x'")),
    (&["-f="], usage("argument -f/--force: ignored explicit argument ''")),
    (&["-F"], usage("unrecognized arguments: -F")),
    (&["-x"], usage("unrecognized arguments: -x")),
    (&["-"], run(|a| { a.image = s("-"); })),
    (&["-1"], run(|a| { a.image = s("-1"); })),
    (&["-1.5"], run(|a| { a.image = s("-1.5"); })),
    (&["-.5"], run(|a| { a.image = s("-.5"); })),
    (&["-1x"], usage("unrecognized arguments: -1x")),
    (&["-a b"], run(|a| { a.image = s("-a b"); })),
    (&["--a b"], run(|a| { a.image = s("--a b"); })),
    (&["-h1"], usage("argument -h/--help: ignored explicit argument '1'")),
    (&["-fhx"], usage("argument -h/--help: ignored explicit argument 'x'")),
    (&["-ffh"], HELP),
    (&["-f", "-h"], HELP),
    (&["-fv"], usage("argument -f/--force: ignored explicit argument 'v'")),
    (&["--"], run(|_| {})),
    (&["--", "img"], run(|a| { a.image = s("img"); })),
    (&["--", "-f"], run(|a| { a.image = s("-f"); })),
    (&["--", "--", "x"], run(|a| { a.image = s("--"); a.tag = s("x"); })),
    (&["img", "--", "--force"], run(|a| { a.image = s("img"); a.tag = s("--force"); })),
    (&["img", "--force", "--", "tag"], usage("unrecognized arguments: -- tag")),
    (&["--", "img", "tag"], run(|a| { a.image = s("img"); a.tag = s("tag"); })),
    (&["img", "tag", "--"], run(|a| { a.image = s("img"); a.tag = s("tag"); })),
    (&["--force", "--", "a", "b"], run(|a| { a.force = true; a.image = s("a"); a.tag = s("b"); })),
    (&["--", "a", "b", "c"], usage("unrecognized arguments: c")),
    (&["a", "--", "b"], run(|a| { a.image = s("a"); a.tag = s("b"); })),
    (&["img", "--force", "tag"], usage("unrecognized arguments: tag")),
    (&["img", "tag", "--force"], run(|a| { a.force = true; a.image = s("img"); a.tag = s("tag"); })),
    (&["--force", "img", "tag"], run(|a| { a.force = true; a.image = s("img"); a.tag = s("tag"); })),
    (&["img", "--name", "n", "tag"], usage("unrecognized arguments: tag")),
    (&["--name", "n", "img", "tag"], run(|a| { a.name = s("n"); a.image = s("img"); a.tag = s("tag"); })),
    (&["img", "--force"], run(|a| { a.force = true; a.image = s("img"); })),
    (&["a", "b", "c", "--bogus"], usage("unrecognized arguments: c --bogus")),
    (&["--bogus", "a", "b", "c"], usage("unrecognized arguments: --bogus c")),
    (&["a", "--bogus", "b"], usage("unrecognized arguments: --bogus b")),
    (&["--bogus", "--help"], HELP),
    (&["--help", "--pull", "--no-pull"], HELP),
    (&["--pull", "--no-pull", "--help"], usage("argument --no-pull: not allowed with argument --pull")),
    (&["--version", "--bogus"], VERSION),
    (&["--bogus", "--version"], VERSION),
    (&["--pull", "--no-pull", "--version"], usage("argument --no-pull: not allowed with argument --pull")),
    (&["--version", "--help"], VERSION),
    (&["--help", "--version"], HELP),
    (&["--pro", "--help"], usage("ambiguous option: --pro could match --project-uuid, --progress")),
    (&["--help", "--pro"], usage("ambiguous option: --pro could match --project-uuid, --progress")),
    (&["--help", "--", "--pro"], HELP),
    (&["--name", "--pro"], usage("ambiguous option: --pro could match --project-uuid, --progress")),
    (&["--progress", "--no-progress"], usage("argument --no-progress: not allowed with argument --progress")),
    (&["--no-progress", "--batch-progress"], usage("argument --batch-progress: not allowed with argument --no-progress")),
    (&["--batch-progress", "--progress"], usage("argument --progress: not allowed with argument --batch-progress")),
    (&["--progress", "--progress"], run(|a| { a.progress = Some(ProgressChoice::Human); })),
    (&["--pull", "--pull"], run(|a| { a.pull = true; })),
    (&["--no-pull", "--no-pull"], run(|_| {})),
    (&["--resume", "--no-resume"], usage("argument --no-resume: not allowed with argument --resume")),
    (&["--no-resume", "--resume"], usage("argument --resume: not allowed with argument --no-resume")),
    (&["--cache", "--no-cache"], usage("argument --no-cache: not allowed with argument --cache")),
    (&["--no-cache", "--cache"], usage("argument --cache: not allowed with argument --no-cache")),
    (&["--no-cache", "--resume"], run(|a| { a.cache = false; })),
    (&["--silent", "--progress"], run(|a| { a.silent = true; a.progress = Some(ProgressChoice::Human); })),
    (&["--batch", "--batch-progress"], run(|a| { a.batch = true; a.progress = Some(ProgressChoice::Machine); })),
    (&["--name", "a", "--name", "b"], run(|a| { a.name = s("b"); })),
    (&["--project-uuid", "a", "--project-uuid", "b"], run(|a| { a.project_uuid = s("b"); })),
    (&["--retries", "1", "--retries", "2"], run(|a| { a.retries = 2; })),
    (&["--name", ""], run(|a| { a.name = s(""); })),
    (&["--name="], run(|a| { a.name = s(""); })),
    (&["--project-uuid", ""], run(|a| { a.project_uuid = s(""); })),
    (&[""], run(|a| { a.image = s(""); })),
    (&["", ""], run(|a| { a.image = s(""); a.tag = s(""); })),
    (&["", "x"], run(|a| { a.image = s(""); a.tag = s("x"); })),
    (&["x", ""], run(|a| { a.image = s("x"); a.tag = s(""); })),
    (&["--name", "-x"], usage("argument --name: expected one argument")),
    (&["--name", "-1"], run(|a| { a.name = s("-1"); })),
    (&["--name=-x"], run(|a| { a.name = s("-x"); })),
    (&["--name", "-x y"], run(|a| { a.name = s("-x y"); })),
    (&["--name", "--"], usage("argument --name: expected one argument")),
    (&["--name", "-"], run(|a| { a.name = s("-"); })),
    (&["--name", "--x y"], run(|a| { a.name = s("--x y"); })),
    (&["--project-uuid", "--pull"], usage("argument --project-uuid: expected one argument")),
    (&["--name", "images"], run(|a| { a.name = s("images"); })),
    (&["--name", "--force"], usage("argument --name: expected one argument")),
    (&["--retries", "0"], run(|a| { a.retries = 0; })),
    (&["--retries", "3"], run(|a| { a.retries = 3; })),
    (&["--retries", " 3 "], run(|a| { a.retries = 3; })),
    (&["--retries", "+3"], run(|a| { a.retries = 3; })),
    (&["--retries", "1_0"], run(|_| {})),
    (&["--retries", "010"], run(|_| {})),
    (&["--retries", "-0"], run(|a| { a.retries = 0; })),
    (&["--retries", "9223372036854775806"], run(|a| { a.retries = 9223372036854775806; })),
    (&["--retries", "\t7\n"], run(|a| { a.retries = 7; })),
    (&["--force=", "x"], usage("argument -f/--force: ignored explicit argument ''")),
    (&["--force=x"], usage("argument -f/--force: ignored explicit argument 'x'")),
    (&["--name=a=b"], run(|a| { a.name = s("a=b"); })),
    (&["--na=a=b"], run(|a| { a.name = s("a=b"); })),
    (&["--=x"], usage("ambiguous option: --=x could match --help, --version, --force, --force-image-format, --pull, --no-pull, --project-uuid, --name, --progress, --no-progress, --batch-progress, --silent, --batch, --resume, --no-resume, --cache, --no-cache, --retries")),
    (&["---"], usage("unrecognized arguments: ---")),
    (&["---force"], usage("unrecognized arguments: ---force")),
    (&["--no-pull=", "x"], usage("argument --no-pull: ignored explicit argument ''")),
    (&["repo:tag", "extratag"], run(|a| { a.image = s("repo:tag"); a.tag = s("extratag"); })),
    (&["myrepo:mytag", "extratag"], run(|a| { a.image = s("myrepo:mytag"); a.tag = s("extratag"); })),
    (&["it's:x", "y"], run(|a| { a.image = s("it's:x"); a.tag = s("y"); })),
    (&["repo:tag", "it's"], run(|a| { a.image = s("repo:tag"); a.tag = s("it's"); })),
    (&["localhost:5000"], run(|a| { a.image = s("localhost:5000"); })),
    (&["host:443"], run(|a| { a.image = s("host:443"); })),
    (&["img:-bad"], run(|a| { a.image = s("img:-bad"); })),
    (&["img:tag/x"], run(|a| { a.image = s("img:tag/x"); })),
    (&["repo@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], run(|a| { a.image = s("repo@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); })),
    (&["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], run(|a| { a.image = s("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); })),
    (&["d2c94e258dcb"], run(|a| { a.image = s("d2c94e258dcb"); })),
    (&["x:443/a:443/b"], run(|a| { a.image = s("x:443/a:443/b"); })),
    (&["registry.hub.docker.com:443/library/debian:bullseye-slim"], run(|a| { a.image = s("registry.hub.docker.com:443/library/debian:bullseye-slim"); })),
    (&["[::1]:8888/repo/img"], run(|a| { a.image = s("[::1]:8888/repo/img"); })),
    (&["[::1]/repo/img"], run(|a| { a.image = s("[::1]/repo/img"); })),
    (&["[::1]:8888/repo/img:tag"], run(|a| { a.image = s("[::1]:8888/repo/img:tag"); })),
    (&["myreg.example:8888/repo/img"], run(|a| { a.image = s("myreg.example:8888/repo/img"); })),
    (&["myreg.example:8888/repo/img:tag"], run(|a| { a.image = s("myreg.example:8888/repo/img:tag"); })),
    (&["img:ünï"], run(|a| { a.image = s("img:ünï"); })),
    (&["img:taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], run(|a| { a.image = s("img:taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); })),
    (&["img:taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], run(|a| { a.image = s("img:taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); })),
    (&["img:é"], run(|a| { a.image = s("img:é"); })),
    (&["img:_x"], run(|a| { a.image = s("img:_x"); })),
    (&["img:.x"], run(|a| { a.image = s("img:.x"); })),
    (&["img:x.y-z_w"], run(|a| { a.image = s("img:x.y-z_w"); })),
    (&["img:"], run(|a| { a.image = s("img:"); })),
    (&["img:x y"], run(|a| { a.image = s("img:x y"); })),
    (&["img:x\n"], run(|a| { a.image = s("img:x\n"); })),
    (&["img:x\ny"], run(|a| { a.image = s("img:x\ny"); })),
    (&["img:٣"], run(|a| { a.image = s("img:٣"); })),
    (&["img:x:y"], run(|a| { a.image = s("img:x:y"); })),
    (&["host:443/x"], run(|a| { a.image = s("host:443/x"); })),
    (&["host:443/x:tag"], run(|a| { a.image = s("host:443/x:tag"); })),
    (&["host:4430/x"], run(|a| { a.image = s("host:4430/x"); })),
    (&["a/b:443/c"], run(|a| { a.image = s("a/b:443/c"); })),
    (&[":443/x"], run(|a| { a.image = s(":443/x"); })),
    (&["Images"], run(|a| { a.image = s("Images"); })),
    (&["images:latest"], run(|a| { a.image = s("images:latest"); })),
    (&["img", "latest"], run(|a| { a.image = s("img"); a.tag = s("latest"); })),
    (&["IMG:Tag"], run(|a| { a.image = s("IMG:Tag"); })),
    (&["a", "--", "--"], run(|a| { a.image = s("a"); })),
    (&["--", "a", "--"], run(|a| { a.image = s("a"); })),
    (&["a", "--", "--", "b"], usage("unrecognized arguments: b")),
    (&["a", "b", "--", "c"], usage("unrecognized arguments: c")),
    (&["a", "b", "c", "--", "d"], usage("unrecognized arguments: c -- d")),
    (&["-f x"], usage("argument -f/--force: ignored explicit argument ' x'")),
    (&["--name=a b"], run(|a| { a.name = s("a b"); })),
    (&["--bogus=a b"], run(|a| { a.image = s("--bogus=a b"); })),
    (&["--bogus=ab"], usage("unrecognized arguments: --bogus=ab")),
    (&["-x y"], run(|a| { a.image = s("-x y"); })),
    (&["-f", "--", "-x"], run(|a| { a.force = true; a.image = s("-x"); })),
    (&["-h=x"], usage("argument -h/--help: ignored explicit argument 'x'")),
    (&["-fh=x"], usage("argument -h/--help: ignored explicit argument '=x'")),
    (&["--help="], usage("argument -h/--help: ignored explicit argument ''")),
    (&["-hh"], HELP),
    (&["-f-"], usage("argument -f/--force: ignored explicit argument '-'")),
    (&["-force"], usage("argument -f/--force: ignored explicit argument 'orce'")),
    (&["-fo"], usage("argument -f/--force: ignored explicit argument 'o'")),
    (&["--progress", "--no-progress", "--progress"], usage("argument --no-progress: not allowed with argument --progress")),
    (&["--name", "x", "--name"], usage("argument --name: expected one argument")),
    (&["--retries", "5", "--retries"], usage("argument --retries: expected one argument")),
    (&["--força"], usage("unrecognized arguments: --força")),
    (&["images", "--force"], run(|a| { a.force = true; a.image = s("images"); })),
    (&["--", "images"], run(|a| { a.image = s("images"); })),
    (&["-", "x"], run(|a| { a.image = s("-"); a.tag = s("x"); })),
    (&["--name", "x", "--", "--name"], run(|a| { a.name = s("x"); a.image = s("--name"); })),
    (&["--pull", "--no-pull", "--retries", "x"], usage("argument --no-pull: not allowed with argument --pull")),
    (&["--name", "--bogus"], usage("argument --name: expected one argument")),
    (&["--bogus", "--name"], usage("argument --name: expected one argument")),
    (&["a", "b", "--name"], usage("argument --name: expected one argument")),
    (&["--name", "x", "y", "z", "w"], usage("unrecognized arguments: w")),
    (&["-f", "a", "-f", "b"], usage("unrecognized arguments: b")),
    (&["--force", "a", "--force", "b"], usage("unrecognized arguments: b")),
    (&["a", "--", "b", "--force"], usage("unrecognized arguments: --force")),
    (&["-٣"], run(|a| { a.image = s("-٣"); })),
    (&["-1", "-2"], run(|a| { a.image = s("-1"); a.tag = s("-2"); })),
    (&["-1", "-2", "-3"], usage("unrecognized arguments: -3")),
    (&["--name", "-1.5e3"], usage("argument --name: expected one argument")),
    (&["--retries", "3 "], run(|a| { a.retries = 3; })),
    (&["--retries", "\u{a0}3"], run(|a| { a.retries = 3; })),
    (&["--retries", "\u{2008}3"], run(|a| { a.retries = 3; })),
    (&["--retries", "0_0"], run(|a| { a.retries = 0; })),
    (&["--retries", "00"], run(|a| { a.retries = 0; })),
    (&["-f", "-h", "--pro"], usage("ambiguous option: --pro could match --project-uuid, --progress")),
    (&["--help", "x", "y", "z"], HELP),
    (&["x", "y", "z", "--help"], HELP),
    (&["--no-pull", "--pull", "--help"], usage("argument --pull: not allowed with argument --no-pull")),
    (&["--pull", "--help", "--no-pull"], HELP),
    (&["-e"], usage("unrecognized arguments: -e")),
    (&["--", "--"], run(|a| { a.image = s("--"); })),
    (&["--", "--", "--"], run(|a| { a.image = s("--"); })),
    (&["img:tag", "--", "x"], run(|a| { a.image = s("img:tag"); a.tag = s("x"); })),
    (&["--name", "n", "img", "--", "tag"], run(|a| { a.name = s("n"); a.image = s("img"); a.tag = s("tag"); })),
    (&["--force", "img", "--", "tag"], run(|a| { a.force = true; a.image = s("img"); a.tag = s("tag"); })),
    (&["--force", "--", "img", "tag"], run(|a| { a.force = true; a.image = s("img"); a.tag = s("tag"); })),
    (&["--name=x", "img", "tag"], run(|a| { a.name = s("x"); a.image = s("img"); a.tag = s("tag"); })),
];

/// `--retries` values the legacy parser refused, with our wording: legacy
/// printed the repr of its validator object, `argument --retries: invalid
/// RangedValue(parse_func=<class 'int'>, valid_range=range(0,
/// 9223372036854775807)) value: 'x'`. Same rows, same exit status 2.
#[rustfmt::skip]
const RETRIES_WORDING: &[(&[&str], Want)] = &[
    (&["--ret=v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--ret", "v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retr=v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retr", "v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retri=v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retri", "v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retrie=v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retrie", "v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retries=v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retries", "v"], usage("argument --retries: invalid int value: 'v'")),
    (&["--retries", ""], usage("argument --retries: invalid int value: ''")),
    (&["--retries="], usage("argument --retries: invalid int value: ''")),
    (&["--retries", "1__0"], usage("argument --retries: invalid int value: '1__0'")),
    (&["--retries", "_1"], usage("argument --retries: invalid int value: '_1'")),
    (&["--retries", "3.0"], usage("argument --retries: invalid int value: '3.0'")),
    (&["--retries", "0x10"], usage("argument --retries: invalid int value: '0x10'")),
    (&["--retries", "9223372036854775807"], usage("argument --retries: invalid int value: '9223372036854775807' (must be at most 9223372036854775806)")),
    (&["--retries", "-1"], usage("argument --retries: invalid int value: '-1' (must be 0 or more)")),
    (&["--retries=-1"], usage("argument --retries: invalid int value: '-1' (must be 0 or more)")),
    (&["--retries", "1e3"], usage("argument --retries: invalid int value: '1e3'")),
    (&["--retries", "x", "--pull", "--no-pull"], usage("argument --retries: invalid int value: 'x'")),
    (&["--retries", "x", "--bogus"], usage("argument --retries: invalid int value: 'x'")),
    (&["--bogus", "--retries", "x"], usage("argument --retries: invalid int value: 'x'")),
    (&["--retries", "\u{1c}3"], usage("argument --retries: invalid int value: '\\x1c3'")),
    (&["--retries", "+"], usage("argument --retries: invalid int value: '+'")),
    (&["--retries", "- 3"], usage("argument --retries: invalid int value: '- 3'")),
];

#[test]
fn retries_wording() {
    check(RETRIES_WORDING);
}

/// The new options, and how their abbreviations coexist with the legacy
/// ones. (Legacy: every row but the `--s`/`--f`-style ones was
/// "unrecognized arguments".)
#[rustfmt::skip]
const NEW_FORMS: &[(&[&str], Want)] = &[
    (&["--source=img.tar", "repo:tag"], run(|a| { a.source = os("img.tar"); a.image = s("repo:tag"); })),
    (&["--source", "img.tar"], run(|a| { a.source = os("img.tar"); })),
    (&["--so", "x"], run(|a| { a.source = os("x"); })),
    (&["--sou=x", "r", "t"], run(|a| { a.source = os("x"); a.image = s("r"); a.tag = s("t"); })),
    (&["--source", "-"], run(|a| { a.source = os("-"); })),
    (&["--source=-x"], run(|a| { a.source = os("-x"); })),
    (&["--source", "-x"], usage("argument --source: expected one argument")),
    (&["--source"], usage("argument --source: expected one argument")),
    (&["--so"], usage("argument --source: expected one argument")),
    (&["--source="], usage("argument --source: expected a file, '-', or a collection UUID or portable data hash")),
    (&["--source=a", "--source=b"], run(|a| { a.source = os("b"); })),
    (&["--sources=x"], usage("unrecognized arguments: --sources=x")),
    // Legacy abbreviations keep their meaning although --source and --from exist.
    (&["--s", "x"], run(|a| { a.silent = true; a.image = s("x"); })),
    (&["--so=x", "--s"], run(|a| { a.source = os("x"); a.silent = true; })),
    (&["--f"], usage("ambiguous option: --f could match --force, --force-image-format")),
    (&["--fr", "file", "--source", "x"], run(|a| { a.from = Some(SourceKind::File); a.source = os("x"); })),
    (&["--from=collection", "--source=zzzzz-4zz18-0tayximqcyb6uf8"], run(|a| {
        a.from = Some(SourceKind::Collection);
        a.source = os("zzzzz-4zz18-0tayximqcyb6uf8");
    })),
    (&["--from"], usage("argument --from: expected one argument")),
    (&["--from=file"], usage("argument --from: only valid with --source")),
    (&["--from=f", "--source=x"], usage("argument --from: invalid choice: 'f' (choose from 'file', 'collection')")),
    (&["--source=x", "--from=collection"], usage("argument --source: not a collection UUID or portable data hash: 'x'")),
    (&["--source=-", "--from=collection"], usage("argument --source: not a collection UUID or portable data hash: '-'")),
    (&["--source=x", "--pull"], usage("argument --pull: not allowed with argument --source")),
    (&["--pull", "--source=x"], usage("argument --source: not allowed with argument --pull")),
    (&["--source=x", "--no-pull"], run(|a| { a.source = os("x"); })),
    (&["--project-uuid=source", "--source=x"], run(|a| { a.project_uuid = s("source"); a.source = os("x"); })),
    (&["--proj", "source", "--so", "d41d8cd98f00b204e9800998ecf8427e+0"], run(|a| {
        a.project_uuid = s("source");
        a.source = os("d41d8cd98f00b204e9800998ecf8427e+0");
    })),
    (&["--project-uuid=source", "img"], usage(SOURCE_PROJECT)),
    (&["--project-uuid=source", "--source=-"], usage(SOURCE_PROJECT)),
    (&["--project-uuid=source", "--source=x", "--from=file"], usage(SOURCE_PROJECT)),
    // Legacy errors still come first.
    (&["--project-uuid=source", "a", "b", "c"], usage("unrecognized arguments: c")),
    (&["--from=file", "--pro"], usage("ambiguous option: --pro could match --project-uuid, --progress")),
    // Legacy refused --dry-run, --format, --replication, --storage-classes
    // and every prefix of them ("unrecognized arguments"): they are new
    // options now (`output_and_storage_options`).
];

const SOURCE_PROJECT: &str =
    "argument --project-uuid: 'source' means the project of the source collection, \
                              and needs --source=UUID or --source=PDH";

fn os(text: &str) -> Option<OsString> {
    Some(OsString::from(text))
}

#[test]
fn new_forms() {
    check(NEW_FORMS);
}

/// Where we differ from the legacy parser on purpose.
#[rustfmt::skip]
const DIFFERENCES: &[(&[&str], Want)] = &[
    // Legacy: retries = 3 (Python's int() reads any script's digits).
    (&["--retries", "٣"], usage("argument --retries: invalid int value: '٣'")),
    (&["--retries", "-٣"], usage("argument --retries: invalid int value: '-٣'")),
    // Legacy: argparse drops a value "--", leaving [] as the name, the
    // project or the retry count, and the tool crashes later.
    (&["--name=--"], run(|a| { a.name = s("--"); })),
    (&["--project-uuid=--", "x"], run(|a| { a.project_uuid = s("--"); a.image = s("x"); })),
    (&["--retries=--"], usage("argument --retries: invalid int value: '--'")),
];

#[test]
fn differences() {
    check(DIFFERENCES);
}

#[cfg(unix)]
#[test]
fn non_utf8_source_paths_survive() {
    use std::os::unix::ffi::OsStringExt;
    let path = OsString::from_vec(b"/tmp/\xffimage.tar".to_vec());
    let mut glued = OsString::from("--source=");
    glued.push(&path);
    for argv in [vec![OsString::from("--source"), path.clone()], vec![glued]] {
        let Ok(Parsed::Run(args)) = parse(argv) else {
            panic!("not parsed")
        };
        assert_eq!(args.source.as_ref(), Some(&path));
    }
    let name = OsString::from_vec(b"--name=\xff".to_vec());
    assert_eq!(
        parse([name]),
        Err(CliError::Usage(
            r#"argument --name: not valid UTF-8: "\xFF""#.into()
        ))
    );
}

// ---------------------------------------------------------------------------
// Stage 2: argv -> Request.

use crate::request::{CollectionId, ImageArg, ImageIdPrefix, Input, RepoTag, TagGivenTwice};

const NOT_A_TTY: Env = Env {
    stderr_is_tty: false,
};
const TTY: Env = Env {
    stderr_is_tty: true,
};

fn request(argv: &[&str], env: &Env) -> Result<Request, CliError> {
    match parse(argv.iter().copied())? {
        Parsed::Run(args) => args.into_request(env),
        other => panic!("{argv:?} gave {other:?}"),
    }
}

fn rt(repo: &str, tag: &str) -> RepoTag {
    RepoTag {
        repo: repo.into(),
        tag: tag.into(),
    }
}

fn upload(source: Source) -> Upload {
    Upload {
        source,
        collection_name: None,
        project: Project::Home,
        force: false,
        force_image_format: false,
        pull: false,
        progress: Progress::Off,
        silent: false,
        batch: false,
        resume: true,
        cache: true,
        retries: DEFAULT_RETRIES,
        dry_run: false,
        reuse_layers: false,
        format: OutputFormat::Text,
        storage: Storage::default(),
        pull_from: Box::default(),
    }
}

fn daemon(repo: &str, tag: &str) -> Source {
    Source::Daemon(ImageArg::Name(rt(repo, tag)))
}

fn given(input: Input, repo_tag: Option<RepoTag>) -> Source {
    Source::Given { input, repo_tag }
}

const HEX: &str = "89936e1a04a5eb0ad74e9cd4e9c2d3bc1b0ed3e1c2ad7b8bd6e66a9bb18c9f3d";

#[test]
fn listing() {
    for argv in [
        &[][..],
        &["images"],
        &["images", "x"],
        &["--", "images"],
        &["-f", "images", "--pull"],
    ] {
        assert_eq!(
            request(argv, &NOT_A_TTY),
            Ok(Request::List(List {
                retries: 10,
                format: OutputFormat::Text,
                filter: None,
            })),
            "{argv:?}"
        );
    }
    assert_eq!(
        request(&["--retries=3"], &TTY),
        Ok(Request::List(List {
            retries: 3,
            format: OutputFormat::Text,
            filter: None,
        }))
    );
}

#[test]
fn legacy_uploads() {
    let rows: Vec<(&[&str], Upload)> = vec![
        (&["img"], upload(daemon("img", "latest"))),
        (&["Images"], upload(daemon("Images", "latest"))),
        (&["images:latest"], upload(daemon("images", "latest"))),
        (&["img", "v1"], upload(daemon("img", "v1"))),
        (
            &["registry.example:443/a/b:1.0"],
            upload(daemon("registry.example/a/b", "1.0")),
        ),
        (
            &["[::1]:8888/repo/img:tag"],
            upload(daemon("[::1]:8888/repo/img", "tag")),
        ),
        (
            &["sha256", HEX],
            upload(Source::Daemon(
                ImageArg::parse("sha256", Some(HEX)).unwrap(),
            )),
        ),
        (
            &["--name", "latest", "img"],
            Upload {
                collection_name: Some("latest".into()),
                ..upload(daemon("img", "latest"))
            },
        ),
        (
            &["--project-uuid", "", "img"],
            upload(daemon("img", "latest")),
        ),
        (
            &["--proj=zzzzz-j7d0g-0123456789abcde", "img"],
            Upload {
                project: Project::Uuid("zzzzz-j7d0g-0123456789abcde".into()),
                ..upload(daemon("img", "latest"))
            },
        ),
        (
            &[
                "-f",
                "--force-image-format",
                "--pull",
                "--batch",
                "--retries",
                "0",
                "img",
            ],
            Upload {
                force: true,
                force_image_format: true,
                pull: true,
                batch: true,
                retries: 0,
                ..upload(daemon("img", "latest"))
            },
        ),
        // --no-cache implies --no-resume (arv-put parse_arguments).
        (
            &["--no-cache", "img"],
            Upload {
                cache: false,
                resume: false,
                ..upload(daemon("img", "latest"))
            },
        ),
        (
            &["--no-cache", "--resume", "img"],
            Upload {
                cache: false,
                resume: false,
                ..upload(daemon("img", "latest"))
            },
        ),
        (
            &["--no-resume", "img"],
            Upload {
                resume: false,
                ..upload(daemon("img", "latest"))
            },
        ),
        (
            &["--batch-progress", "img"],
            Upload {
                progress: Progress::Machine,
                ..upload(daemon("img", "latest"))
            },
        ),
        (
            &["--progress", "img"],
            Upload {
                progress: Progress::Human,
                ..upload(daemon("img", "latest"))
            },
        ),
    ];
    for (argv, want) in rows {
        assert_eq!(
            request(argv, &NOT_A_TTY),
            Ok(Request::Upload(want)),
            "{argv:?}"
        );
    }
    let full = format!("sha256:{HEX}");
    let Ok(Request::Upload(by_id)) = request(&[&full], &NOT_A_TTY) else {
        panic!()
    };
    assert!(
        matches!(by_id.source, Source::Daemon(ImageArg::Id(ref id)) if Some(id) == ImageIdPrefix::parse(HEX).as_ref())
    );
}

/// The progress default depends on the terminal, resolved in stage 2.
#[test]
fn progress_follows_the_terminal() {
    let progress = |argv: &[&str], env: &Env| match request(argv, env) {
        Ok(Request::Upload(u)) => u.progress,
        other => panic!("{other:?}"),
    };
    assert_eq!(progress(&["img"], &TTY), Progress::Human);
    assert_eq!(progress(&["img"], &NOT_A_TTY), Progress::Off);
    assert_eq!(progress(&["--silent", "img"], &TTY), Progress::Off);
    assert_eq!(progress(&["--no-progress", "img"], &TTY), Progress::Off);
    assert_eq!(
        progress(&["--silent", "--progress", "img"], &NOT_A_TTY),
        Progress::Human
    );
}

#[test]
fn new_form_uploads() {
    const UUID: &str = "zzzzz-4zz18-0tayximqcyb6uf8";
    let uuid = UUID;
    let rows: Vec<(&[&str], Upload)> = vec![
        (
            &["--source=img.tar"],
            upload(given(Input::Auto("img.tar".into()), None)),
        ),
        (
            &["--source=img.tar", "repo:v1"],
            upload(given(Input::Auto("img.tar".into()), Some(rt("repo", "v1")))),
        ),
        (
            &["--source=img.tar", "repo", "v1"],
            upload(given(Input::Auto("img.tar".into()), Some(rt("repo", "v1")))),
        ),
        // With --source, "images" is just a name.
        (
            &["--source=img.tar", "images"],
            upload(given(
                Input::Auto("img.tar".into()),
                Some(rt("images", "latest")),
            )),
        ),
        (
            &["--source=-", "host:443/r/x"],
            upload(given(Input::Stdin, Some(rt("host/r/x", "latest")))),
        ),
        (
            &["--source=-", "--from=file"],
            upload(given(Input::Stdin, None)),
        ),
        (
            &["--source", UUID, "--from=file"],
            upload(given(Input::File(uuid.into()), None)),
        ),
        (
            &[
                "--source",
                UUID,
                "--from",
                "collection",
                "--project-uuid=source",
                "repo:tag",
            ],
            Upload {
                project: Project::OfSource,
                ..upload(given(
                    Input::Collection(CollectionId::Uuid(uuid.into())),
                    Some(rt("repo", "tag")),
                ))
            },
        ),
        (
            &["--project-uuid=source", "--source", UUID],
            Upload {
                project: Project::OfSource,
                ..upload(given(Input::Auto(uuid.into()), None))
            },
        ),
    ];
    for (argv, want) in rows {
        assert_eq!(
            request(argv, &NOT_A_TTY),
            Ok(Request::Upload(want)),
            "{argv:?}"
        );
    }
}

#[test]
fn stage_two_errors() {
    let twice = request(&["myrepo:mytag", "extratag"], &NOT_A_TTY).unwrap_err();
    assert_eq!(
        twice,
        CliError::TagGivenTwice(TagGivenTwice {
            image: "myrepo:mytag".into(),
            tag: "extratag".into()
        })
    );
    assert_eq!(twice.exit_code(), 1);
    assert_eq!(
        twice.to_string(),
        "image 'myrepo:mytag' already includes a tag, cannot add tag argument 'extratag'"
    );
    let twice = request(&["--source=x", "r:t", "u"], &NOT_A_TTY).unwrap_err();
    assert_eq!(twice.exit_code(), 1);
    let full = format!("sha256:{HEX}");
    let by_id = request(&["--source=x", &full], &NOT_A_TTY).unwrap_err();
    assert_eq!(
        by_id,
        CliError::Usage(format!(
            "argument image: with --source, name the image with REPO[:TAG], not an image id: '{full}'"
        ))
    );
    assert_eq!(by_id.exit_code(), 2);
}

#[test]
fn prog_is_the_basename() {
    assert_eq!(
        prog_name(Some(OsStr::new("/usr/bin/arv-keepdocker"))),
        "arv-keepdocker"
    );
    assert_eq!(prog_name(Some(OsStr::new("kd"))), "kd");
    assert_eq!(prog_name(None), "arv-keepdocker");
}

/// `--dry-run`, `--format`, `--replication`, `--storage-classes`: values,
/// abbreviations (only where no legacy option matches), and errors.
#[test]
fn output_and_storage_options() {
    check(&[
        (&["--dry-run", "img"], run(|a| {
            a.dry_run = true;
            a.image = s("img");
        })),
        (&["--d", "img"], run(|a| {
            a.dry_run = true;
            a.image = s("img");
        })),
        (&["--format=json"], run(|a| a.format = OutputFormat::Json)),
        (&["--form", "text"], run(|a| a.format = OutputFormat::Text)),
        (&["--format", "yaml"], usage("argument --format: invalid choice: 'yaml' (choose from 'text', 'json')")),
        (&["--replication", "3", "img"], run(|a| {
            a.replication = Some(3);
            a.image = s("img");
        })),
        (&["--rep=1", "img"], run(|a| {
            a.replication = Some(1);
            a.image = s("img");
        })),
        (&["--replication", "0", "img"], usage("argument --replication: invalid value: '0' (a number of copies, 1 or more)")),
        (&["--replication", "x", "img"], usage("argument --replication: invalid value: 'x' (a number of copies, 1 or more)")),
        (&["--storage-classes", "default, archive,default", "img"], run(|a| {
            a.storage_classes = Some(vec!["archive".into(), "default".into()]);
            a.image = s("img");
        })),
        (&["--st=hot", "img"], run(|a| {
            a.storage_classes = Some(vec!["hot".into()]);
            a.image = s("img");
        })),
        (&["--storage-classes", "a,,b", "img"], usage("argument --storage-classes: invalid value: 'a,,b' (class names separated by commas, such as 'default,archive')")),
        // Legacy abbreviations keep their meaning and their candidates.
        (&["--s"], run(|a| a.silent = true)),
        (&["--f"], usage("ambiguous option: --f could match --force, --force-image-format")),
        (&["--r"], usage("ambiguous option: --r could match --resume, --retries")),
        (&["--re"], usage("ambiguous option: --re could match --resume, --retries")),
    ]);
}

#[test]
fn new_options_reach_the_request() {
    let got = request(
        &[
            "--dry-run",
            "--format=json",
            "--replication=2",
            "--storage-classes=b,a",
            "img",
        ],
        &NOT_A_TTY,
    );
    assert_eq!(
        got,
        Ok(Request::Upload(Upload {
            dry_run: true,
            format: OutputFormat::Json,
            storage: Storage {
                replication: Some(2),
                classes: Some(vec!["a".into(), "b".into()]),
            },
            ..upload(daemon("img", "latest"))
        }))
    );
    assert_eq!(
        request(&["--format", "json", "images"], &NOT_A_TTY),
        Ok(Request::List(List {
            retries: 10,
            format: OutputFormat::Json,
            filter: None,
        }))
    );
}

/// Every prefix of a new option that no legacy option starts with now
/// names that option (legacy: "unrecognized arguments"); the others keep
/// their legacy outcome, which `LEGACY` pins.
#[test]
fn every_free_prefix_of_a_new_option_names_it() {
    for (long, value) in [
        ("dry-run", None),
        ("format", Some("json")),
        ("replication", Some("2")),
        ("storage-classes", Some("a")),
    ] {
        for end in 1..=long.len() {
            let prefix = format!("--{}", &long[..end]);
            let legacy_match = flags::option_strings().any(|o| {
                o.flag.origin == Origin::Legacy && o.is_long() && o.to_string().starts_with(&prefix)
            });
            if legacy_match {
                continue;
            }
            let mut argv = vec![prefix.clone()];
            argv.extend(value.map(String::from));
            let Ok(Parsed::Run(args)) = parse(argv.iter().map(String::as_str)) else {
                panic!("{argv:?} did not parse");
            };
            let set = match long {
                "dry-run" => args.dry_run,
                "format" => args.format == OutputFormat::Json,
                "replication" => args.replication == Some(2),
                _ => args.storage_classes == Some(vec!["a".to_string()]),
            };
            assert!(set, "{argv:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// `--source=docker://REF` and the options of a registry source.

use crate::reference::Reference;
use crate::request::{PlatformArg, PullArgs};

/// The reference part is read by the reference parser: a good one makes a
/// registry source, a bad one is a usage error quoting the parser's words
/// (exit status 2), whatever the parser decides.
#[test]
fn a_docker_source_is_a_registry_reference() {
    for text in [
        "ubuntu",
        "ubuntu:24.04",
        "ghcr.io/org/tool:2.1",
        "localhost:5000/x@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Bad/UPPER",
        "",
        "x::y",
    ] {
        let source = format!("--source=docker://{text}");
        let got = request(&[&source, "my/name:1"], &NOT_A_TTY);
        match Reference::parse(text) {
            Ok(reference) => assert_eq!(
                got,
                Ok(Request::Upload(upload(Source::Given {
                    input: Input::Registry(Box::new(reference)),
                    repo_tag: Some(rt("my/name", "1")),
                }))),
                "{text}"
            ),
            Err(e) => {
                let err = got.unwrap_err();
                assert_eq!(err, CliError::Usage(format!("argument --source: {e}")));
                assert_eq!(err.exit_code(), 2);
            }
        }
    }
    // --from=file keeps it a path.
    assert_eq!(
        request(&["--from=file", "--source=docker://x"], &NOT_A_TTY),
        Ok(Request::Upload(upload(Source::Given {
            input: Input::File("docker://x".into()),
            repo_tag: None,
        })))
    );
}

#[test]
fn registry_options_parse_and_need_a_docker_source() {
    let Ok(Parsed::Run(args)) = parse([
        "--source=docker://x",
        "--platform=linux/arm64/v8",
        "--insecure-registry",
        "reg.example:5000",
        "--insecure-registry=other",
        "--compressed-layers",
    ]) else {
        panic!("did not parse");
    };
    assert_eq!(
        *args.pull_from,
        PullArgs {
            platform: PlatformArg::parse("linux/arm64/v8"),
            insecure_registries: vec!["reg.example:5000".into(), "other".into()],
            compressed_layers: true,
        }
    );
    let rows: &[(&[&str], &str)] = &[
        (
            &["--source=x.tar", "--platform=linux/amd64"],
            "argument --platform: only valid with --source=docker://REFERENCE",
        ),
        (
            &["--source=-", "--compressed-layers"],
            "argument --compressed-layers: only valid with --source=docker://REFERENCE",
        ),
        (
            &[
                "--from=file",
                "--source=docker://x",
                "--insecure-registry=h",
            ],
            "argument --insecure-registry: only valid with --source=docker://REFERENCE",
        ),
        (
            &["--platform=linux/amd64", "img"],
            "argument --platform: only valid with --source",
        ),
        (
            &["--source=docker://x", "--platform=linux"],
            "argument --platform: invalid value: 'linux' (OS/ARCH or OS/ARCH/VARIANT, \
             such as 'linux/amd64' or 'linux/arm64/v8')",
        ),
        (
            &["--source=docker://x", "--platform=linux/amd64/v1/x"],
            "argument --platform: invalid value: 'linux/amd64/v1/x' (OS/ARCH or \
             OS/ARCH/VARIANT, such as 'linux/amd64' or 'linux/arm64/v8')",
        ),
        (
            &["--source=docker://x", "--insecure-registry=http://h"],
            "argument --insecure-registry: invalid value: 'http://h' (a registry HOST or \
             HOST:PORT, without a scheme or a path)",
        ),
        (
            &["--source=docker://x", "--project-uuid=source"],
            "argument --project-uuid: 'source' means the project of a source collection, \
             but --source=docker://... is an image in a registry; give a project UUID, or \
             leave --project-uuid out for your home project",
        ),
    ];
    for (argv, want) in rows {
        let err = parse(argv.iter().copied()).unwrap_err();
        assert_eq!(err, CliError::Usage(want.to_string()), "{argv:?}");
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn platforms() {
    let p = |s: &str| PlatformArg::parse(s);
    let amd64 = p("linux/amd64").unwrap();
    assert_eq!((amd64.os(), amd64.architecture()), ("linux", "amd64"));
    assert_eq!(amd64.variant(), None);
    let arm = p("linux/arm/v7").unwrap();
    assert_eq!((arm.os(), arm.architecture()), ("linux", "arm"));
    assert_eq!(arm.variant(), Some("v7"));
    for bad in [
        "",
        "linux",
        "linux/",
        "/amd64",
        "Linux/amd64",
        "linux/amd 64",
        "a/b/c/d",
    ] {
        assert_eq!(p(bad), None, "{bad:?}");
    }
}
