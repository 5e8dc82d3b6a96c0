# The emulated hardware itself, checked with the distribution's tools before the agent uses it.
. /hil/lib.sh
if gpio_up; then
    gpiodetect
    gpio_info "$ENTRANCE_CHIP" | sed -n '1p;19p'
    ok=1
    gpiodetect | grep -q "^$CORRIDOR_CHIP \[$CORRIDOR_LABEL\] (28 lines)" || ok=0
    gpiodetect | grep -q "^$ENTRANCE_CHIP \[$ENTRANCE_LABEL\] (28 lines)" || ok=0
    gpio_info "$ENTRANCE_CHIP" | grep -q 'line  17:[[:space:]]*"GPIO17"' || ok=0
    # An edge raised through the simulated pull reaches a reader of the chip.
    pir down
    gpio_rising "$ENTRANCE_CHIP" $PIR_LINE > /tmp/mon.txt 2>&1 &
    mon=$!
    sleep 0.5; pir up
    wait_until 5 sh -c "! kill -0 $mon" || { kill $mon; ok=0; }
    pir down
    grep -q 'RISING EDGE offset: 17' /tmp/mon.txt || ok=0
    cat /tmp/mon.txt
    [ $ok = 1 ] && pass gpio-sim "$ENTRANCE_CHIP [$ENTRANCE_LABEL] and $CORRIDOR_CHIP [$CORRIDOR_LABEL], lines GPIO0..GPIO27, edges" \
        || fail gpio-sim "labels, line names or edges not as configured"
else
    fail gpio-sim "configfs setup failed"
fi
if [ -n "$BT_LACKS" ]; then
    skip btvirt "$BT_LACKS"
elif bt_up && advertise; then
    hciconfig | grep -E '^hci|BD Address'
    # One report per enable (see lib.sh): keep re-advertising while lescan runs, so a report that
    # arrives before hcitool reads its socket is not the only one.
    timeout -s INT 4 hcitool -i hci0 lescan --duplicates > /tmp/lescan.txt 2>&1 &
    scan=$!
    while kill -0 $scan 2>/dev/null && ! grep -q "$TAG_ADDRESS HIL-BADGE" /tmp/lescan.txt; do
        sleep 0.3; readvertise
    done
    kill -INT $scan 2>/dev/null; wait $scan
    grep -q "$TAG_ADDRESS HIL-BADGE" /tmp/lescan.txt \
        && pass btvirt "hci0 $SCANNER_ADDRESS sees hci1 $TAG_ADDRESS advertising HIL-BADGE" \
        || { cat /tmp/lescan.txt; fail btvirt "hcitool lescan on hci0 did not see hci1"; }
else
    cat /var/log/btvirt.log
    fail btvirt "controllers not up"
fi
