# bash completion for arv-docker
# Generated from the arv-docker table by src/cli/docker/complete.rs: do not edit.
# Refresh with: ARV_KEEPDOCKER_BLESS=1 cargo test --lib committed_

_arv_docker_files()
{
    compopt -o filenames 2>/dev/null
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$cur"))
}

_arv_docker_words()
{
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

# The local Docker daemon's images (added to COMPREPLY with "add").
_arv_docker_images()
{
    type -P docker >/dev/null 2>&1 || return 0
    local IFS=$'\n' images
    images=$(timeout 3 docker image ls --filter dangling=false --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)
    if [[ $1 == add ]]; then
        COMPREPLY+=($(compgen -W "$images" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$images" -- "$cur"))
    fi
}

_arv_docker()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev= command= options= with_value= prefix= i word
    local positionals=0 ended=
    COMPREPLY=()
    (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
    for (( i = 1; i < COMP_CWORD; i++ )); do
        case ${COMP_WORDS[i]} in
            images|load|push|pull)
                command=${COMP_WORDS[i]}
                break
                ;;
        esac
    done
    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            _arv_docker_words '--help --version -h'
        else
            _arv_docker_words 'images load push pull'
        fi
        return 0
    fi
    case $command in
        images)
            options='--help --format --retries -h'
            with_value='--format --retries'
            ;;
        load)
            options='--help --input --from --project-uuid --name --force --force-image-format --dry-run --reuse-layers --format --replication --storage-classes --progress --no-progress --batch-progress --silent --resume --no-resume --cache --no-cache --retries -h -i -f'
            with_value='--input --from --project-uuid --name --format --replication --storage-classes --retries -i'
            ;;
        push)
            options='--help --source --project-uuid --name --force --force-image-format --dry-run --reuse-layers --format --replication --storage-classes --progress --no-progress --batch-progress --silent --resume --no-resume --cache --no-cache --retries -h -f'
            with_value='--source --project-uuid --name --format --replication --storage-classes --retries'
            ;;
        pull)
            options='--help --platform --insecure-registry --compressed-layers --project-uuid --name --force --force-image-format --dry-run --format --replication --storage-classes --progress --no-progress --batch-progress --silent --resume --no-resume --cache --no-cache --retries -h -f'
            with_value='--platform --insecure-registry --project-uuid --name --format --replication --storage-classes --retries'
            ;;
    esac

    # The value of an option: --opt VALUE, --opt=VALUE, or the three words
    # bash makes of the latter when '=' is in COMP_WORDBREAKS.
    local opt=$prev
    if [[ $cur == --*=* ]]; then
        opt=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}
    elif [[ $cur == = && $prev == --* ]]; then
        opt=$prev cur=
    elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then
        opt=${COMP_WORDS[COMP_CWORD-2]}
    fi
    case $command:$opt in
        images:--format)
            _arv_docker_words 'text json'
            return 0
            ;;
        images:--retries)
            :
            return 0
            ;;
        load:--input)
            _arv_docker_files; _arv_docker_images add
            return 0
            ;;
        load:--from)
            _arv_docker_words 'file collection daemon'
            return 0
            ;;
        load:--project-uuid)
            :
            return 0
            ;;
        load:--name)
            :
            return 0
            ;;
        load:--format)
            _arv_docker_words 'text json'
            return 0
            ;;
        load:--replication)
            :
            return 0
            ;;
        load:--storage-classes)
            :
            return 0
            ;;
        load:--retries)
            :
            return 0
            ;;
        load:-i)
            _arv_docker_files; _arv_docker_images add
            return 0
            ;;
        push:--source)
            :
            return 0
            ;;
        push:--project-uuid)
            :
            return 0
            ;;
        push:--name)
            :
            return 0
            ;;
        push:--format)
            _arv_docker_words 'text json'
            return 0
            ;;
        push:--replication)
            :
            return 0
            ;;
        push:--storage-classes)
            :
            return 0
            ;;
        push:--retries)
            :
            return 0
            ;;
        pull:--platform)
            :
            return 0
            ;;
        pull:--insecure-registry)
            :
            return 0
            ;;
        pull:--project-uuid)
            :
            return 0
            ;;
        pull:--name)
            :
            return 0
            ;;
        pull:--format)
            _arv_docker_words 'text json'
            return 0
            ;;
        pull:--replication)
            :
            return 0
            ;;
        pull:--storage-classes)
            :
            return 0
            ;;
        pull:--retries)
            :
            return 0
            ;;
    esac
    if [[ -n $prefix ]]; then
        return 0
    fi

    if [[ $cur == -* ]]; then
        _arv_docker_words "$options"
        return 0
    fi
    # The positional: the daemon's images where a command takes an image name.
    for (( i = i + 1; i < COMP_CWORD; i++ )); do
        word=${COMP_WORDS[i]}
        if [[ $word == -- ]]; then
            ended=1
        elif [[ -z $ended && " $with_value " == *" $word "* ]]; then
            (( i++ ))
        elif [[ -n $ended || $word != -* ]]; then
            (( positionals++ ))
        fi
    done
    case $command in
        push)
            (( positionals == 0 )) && _arv_docker_images
            ;;
    esac
    return 0
}

complete -F _arv_docker arv-docker
