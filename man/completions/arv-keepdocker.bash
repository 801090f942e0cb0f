# bash completion for arv-keepdocker
# Generated from the flag table by src/cli/complete.rs: do not edit.
# Refresh with: ARV_KEEPDOCKER_BLESS=1 cargo test --lib committed_

# Files, and - for standard input.
_arv_keepdocker_files()
{
    compopt -o filenames 2>/dev/null
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$cur"))
    [[ -z $cur || $cur == - ]] && COMPREPLY+=(-)
}

_arv_keepdocker_words()
{
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

_arv_keepdocker()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev= opt= prefix= word i
    local positionals=0 source= ended=
    COMPREPLY=()
    (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
    # After `--` every argument is positional.
    for (( i = 1; i < COMP_CWORD; i++ )); do
        [[ ${COMP_WORDS[i]} == -- ]] && ended=1
    done

    # The value of an option: --opt VALUE, --opt=VALUE as one word, or as
    # the three words bash makes of it when '=' is in COMP_WORDBREAKS.
    if [[ -n $ended ]]; then
        opt=
    elif [[ $cur == --*=* ]]; then
        opt=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}
    elif [[ $cur == = && $prev == --* ]]; then
        opt=$prev cur=
    elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then
        opt=${COMP_WORDS[COMP_CWORD-2]}
    else
        opt=$prev
    fi
    case $opt in
        --project-uuid|--proj|--proje|--projec|--project|--project-|--project-u|--project-uu|--project-uui)
            _arv_keepdocker_words 'source'
            ;;
        --name|--na|--nam)
            :
            ;;
        --retries|--ret|--retr|--retri|--retrie)
            :
            ;;
        --source|--so|--sou|--sour|--sourc)
            _arv_keepdocker_files
            ;;
        --from|--fr|--fro)
            _arv_keepdocker_words 'file collection'
            ;;
        --format|--form|--forma)
            _arv_keepdocker_words 'text json'
            ;;
        --replication|--rep|--repl|--repli|--replic|--replica|--replicat|--replicati|--replicatio)
            :
            ;;
        --storage-classes|--st|--sto|--stor|--stora|--storag|--storage|--storage-|--storage-c|--storage-cl|--storage-cla|--storage-clas|--storage-class|--storage-classe)
            :
            ;;
        --platform|--pl|--pla|--plat|--platf|--platfo|--platfor)
            _arv_keepdocker_words 'linux/amd64 linux/arm64/v8 linux/arm/v7 linux/ppc64le linux/s390x'
            ;;
        --insecure-registry|--i|--in|--ins|--inse|--insec|--insecu|--insecur|--insecure|--insecure-|--insecure-r|--insecure-re|--insecure-reg|--insecure-regi|--insecure-regis|--insecure-regist|--insecure-registr)
            :
            ;;
        *)
            opt= cur=${COMP_WORDS[COMP_CWORD]}
            ;;
    esac
    if [[ -n $opt ]]; then
        if [[ -n $prefix ]]; then
            COMPREPLY=("${COMPREPLY[@]/#/$prefix}")
        fi
        return 0
    fi

    if [[ $cur == -* && -z $ended ]]; then
        _arv_keepdocker_words '-h --help --version -f --force --force-image-format --pull --no-pull --project-uuid --name --progress --no-progress --batch-progress --silent --batch --resume --no-resume --cache --no-cache --retries --source --from --dry-run --reuse-layers --format --replication --storage-classes --platform --insecure-registry --compressed-layers'
        return 0
    fi

    # The arguments before this one, skipping option values.
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word=${COMP_WORDS[i]}
        if [[ $word == -- ]]; then
            ended=after
            continue
        elif [[ $ended == after ]]; then
            (( positionals++ ))
            continue
        fi
        case $word in
            --source|--so|--sou|--sour|--sourc|--source=*|--so=*|--sou=*|--sour=*|--sourc=*)
                source=1
                ;;
        esac
        case $word in
            --project-uuid|--proj|--proje|--projec|--project|--project-|--project-u|--project-uu|--project-uui|--name|--na|--nam|--retries|--ret|--retr|--retri|--retrie|--source|--so|--sou|--sour|--sourc|--from|--fr|--fro|--format|--form|--forma|--replication|--rep|--repl|--repli|--replic|--replica|--replicat|--replicati|--replicatio|--storage-classes|--st|--sto|--stor|--stora|--storag|--storage|--storage-|--storage-c|--storage-cl|--storage-cla|--storage-clas|--storage-class|--storage-classe|--platform|--pl|--pla|--plat|--platf|--platfo|--platfor|--insecure-registry|--i|--in|--ins|--inse|--insec|--insecu|--insecur|--insecure|--insecure-|--insecure-r|--insecure-re|--insecure-reg|--insecure-regi|--insecure-regis|--insecure-regist|--insecure-registr)
                (( i++ ))
                [[ ${COMP_WORDS[i]} == = ]] && (( i++ ))
                ;;
            -*)
                ;;
            *)
                (( positionals++ ))
                ;;
        esac
    done
    # The legacy form's IMAGE: `images` (the listing) or a local image.
    if (( positionals == 0 )) && [[ -z $source ]]; then
        local IFS=$'\n' images=images
        if type -P docker >/dev/null 2>&1; then
            images+=$'\n'$(timeout 3 docker image ls --filter dangling=false --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)
        fi
        COMPREPLY=($(compgen -W "$images" -- "$cur"))
    fi
    return 0
}

complete -F _arv_keepdocker arv-keepdocker
