# `nanoedge-agent --board NAME --check` against the emulated chips: label lookup, line names, requests.
. /hil/lib.sh
gpio_up && bt_up || { fail board-check "rig not up"; exit 0; }
ok=1
for b in hil-rpi4b hil-rpi3b; do
    nanoedge-agent --board $b --boards-dir $BOARDS --check > /tmp/check.txt 2>&1 || ok=0
    cat /tmp/check.txt
done
grep -q "gpio chip \"$CORRIDOR_LABEL\": /dev/$CORRIDOR_CHIP" /tmp/check.txt || ok=0
nanoedge-agent --board hil-rpi4b --boards-dir $BOARDS --check | grep -q "gpio chip \"$ENTRANCE_LABEL\": /dev/$ENTRANCE_CHIP" || ok=0
[ $ok = 1 ] && pass board-check "both rig profiles resolve to their chips by label" || fail board-check
