# `nanoedge-agent --board NAME --check` against the emulated chips: label lookup, line names, requests.
. /hil/lib.sh
gpio_up && bt_up || { fail board-check "rig not up"; exit 0; }
ok=1
for b in hil-rpi4b hil-rpi3b; do
    nanoedge-agent --board $b --boards-dir $BOARDS --check > /tmp/check-$b.txt 2>&1 || ok=0
    cat /tmp/check-$b.txt
done
note=""
# Without hci_vhci there is no hci0: hil-rpi4b's one expected problem is its adapter.
if [ -n "$BT_LACKS" ] && [ $ok = 0 ] && ! grep '^FAIL' /tmp/check-hil-rpi4b.txt | grep -qv '^FAIL  ble hci0:' \
    && grep -q '^result: ok' /tmp/check-hil-rpi3b.txt; then
    ok=1 note="; ble hci0 absent ($BT_LACKS)"
fi
grep -q "gpio chip \"$CORRIDOR_LABEL\": /dev/$CORRIDOR_CHIP" /tmp/check-hil-rpi3b.txt || ok=0
grep -q "gpio chip \"$ENTRANCE_LABEL\": /dev/$ENTRANCE_CHIP" /tmp/check-hil-rpi4b.txt || ok=0
[ $ok = 1 ] && pass board-check "both rig profiles resolve to their chips by label$note" || fail board-check
