# fish completion for nanoedge-agent (its arguments are parsed by hand, so this is written by hand)

function __nanoedge_agent_boards
    for f in /etc/nanoedge/boards/*.toml /usr/local/share/nanoedge/boards/*.toml /usr/share/nanoedge/boards/*.toml
        basename $f .toml
    end
end

set -l update_commands install stage activate boot health commit rollback status os
complete -c nanoedge-agent -f

# The agent itself
complete -c nanoedge-agent -n __fish_use_subcommand -s c -l config -r -F -d "The agent's configuration"
complete -c nanoedge-agent -n __fish_use_subcommand -l exit-when-registered -d 'Connect, register and exit 0'
complete -c nanoedge-agent -n __fish_use_subcommand -l board -x -a '(__nanoedge_agent_boards)' -d 'The board profile to check'
complete -c nanoedge-agent -n __fish_use_subcommand -l boards-dir -x -a '(__fish_complete_directories)' -d 'Board profiles searched first'
complete -c nanoedge-agent -n __fish_use_subcommand -l check -d "Probe the board's GPIO chip, lines and BLE adapter"
complete -c nanoedge-agent -n __fish_use_subcommand -l version -d 'Print the version'
complete -c nanoedge-agent -n __fish_use_subcommand -s h -l help -d 'Show the usage'
complete -c nanoedge-agent -n __fish_use_subcommand -a tuf -d 'The TUF client'
complete -c nanoedge-agent -n __fish_use_subcommand -a update -d 'Install, activate, commit or roll back a release'

# tuf
complete -c nanoedge-agent -n '__fish_seen_subcommand_from tuf' -l metadata-dir -x -a '(__fish_complete_directories)' -d 'The trusted metadata directory'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from tuf' -l metadata-url -x -d 'The repository metadata base URL'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from tuf' -l target-name -x -d 'A target to download'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from tuf' -l target-dir -x -a '(__fish_complete_directories)' -d 'Where verified targets go'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from tuf' -l target-base-url -x -d 'The targets base URL'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from tuf; and not __fish_seen_subcommand_from init refresh download' -a 'init refresh download'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from init' -F

# update
complete -c nanoedge-agent -n "__fish_seen_subcommand_from update; and not __fish_seen_subcommand_from $update_commands" -a "$update_commands"
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l config -r -F -d 'Take the board and state_dir from the config'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l state-dir -x -a '(__fish_complete_directories)' -d 'The state directory'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l board -x -a '(__nanoedge_agent_boards)' -d "This device's board"
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l runtime -x -a 'runc crun' -d 'The container runtime'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l runtime-root -x -a '(__fish_complete_directories)' -d "The runtime's state directory"
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l bind -x -d 'HOST:CONTAINER[:ro] bind mount for containers'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l host-network -d "Containers share the host's network"
complete -c nanoedge-agent -n '__fish_seen_subcommand_from update' -l container-user -x -d 'UID:GID a container runs as'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from install stage' -l target-info -r -F -d 'The signed targets entry'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from install stage' -l artifact -r -F -d 'The release file'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from install stage' -l target-name -x -d "The target's name"
complete -c nanoedge-agent -n '__fish_seen_subcommand_from health' -l ok -d 'The trial is healthy'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from health' -l failing -x -d 'The trial is failing, with a reason'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from rollback' -l reason -x -d 'Why'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from os; and not __fish_seen_subcommand_from init try' -a 'init status try commit'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from os' -l boot-dir -x -a '(__fish_complete_directories)' -d 'The boot FAT partition'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from os' -l device-tree -x -a '(__fish_complete_directories)' -d 'The device tree directory'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from os' -l reboot-command -x -d 'The command that reboots'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from init' -l committed -x -d 'The committed partition'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from init' -l trial -x -d 'The trial partition'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from try' -l partition -x -d 'The partition to try'
complete -c nanoedge-agent -n '__fish_seen_subcommand_from try' -l no-reboot -d 'Do not reboot into the trial'
