#!/usr/bin/env bash
# Provisions the rig's site with the CLI, on the host, as an installer would at the gateway before
# copying each Pi's key to it: the site key, three devices, the rooms, a person and today's meeting.
# The badge's tag is added inside the VM, because only there is the emulated controller's address
# known. (The debug CLI takes over a second per call under TCG; ten calls here take one second.)
# usage: [EMULATOR=qemu-aarch64-static] provision.sh NANOEDGE_BINARY DIR
set -euo pipefail
NANOEDGE=$1 DIR=$2
mkdir -p "$DIR"
cd "$DIR"
# Another architecture's CLI runs under QEMU's user mode, named here so binfmt_misc is not needed.
cli() { ${EMULATOR:+"$EMULATOR"} "$NANOEDGE" "$@"; }
db=(--db site.db)
{
    cli keys site-key --out keys/site.key
    cli registry room add entrance --name Entrance --kind entrance "${db[@]}"
    cli registry room add corridor --name Corridor --kind corridor "${db[@]}"
    cli registry room add room-1 --name "Meeting room 1" --kind meeting --guidance forward "${db[@]}"
    cli keys device entrance-1 --location entrance --role presence --role scanner --out keys/entrance-1.psk "${db[@]}"
    # The entrance's scanner on the simulated board, for agent builds without the HCI backend.
    cli keys device entrance-scan --location entrance --role scanner --out keys/entrance-scan.psk "${db[@]}"
    cli keys device corridor-1 --location corridor --role guidance --out keys/corridor-1.psk "${db[@]}"
    cli registry person add alice --name "Alice Example" "${db[@]}"
    cli registry event add weekly-sync --title "Weekly sync" --room room-1 --invite alice \
        --starts -10m --ends +3h --content "Agenda: the rig" "${db[@]}"
} > provision.log 2>&1 || { cat provision.log >&2; exit 1; }
# Hand over a settled database: no WAL or shared-memory file beside it.
sqlite3 site.db 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
rm -f site.db-wal site.db-shm
