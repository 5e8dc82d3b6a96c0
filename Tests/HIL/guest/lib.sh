# Shared by the rig's test scripts inside the VM (busybox sh).
#
# The host reads only lines that start with "HIL: ":
#   HIL: RESULT <check> PASS|FAIL|SKIP [why]   one per check; SKIP only for a backend this build lacks
#   HIL: BENCH <name> key=value ...            benchmark figures
# Everything else on the console is context for a person reading the log.

BOARDS=/hil/boards
SITE=/var/lib/hil
DB=$SITE/site.db
PORT=5684

pass() { echo "HIL: RESULT $1 PASS${2:+ $2}"; }
fail() { echo "HIL: RESULT $1 FAIL${2:+ $2}"; }
skip() { echo "HIL: RESULT $1 SKIP${2:+ $2}"; }
say() { echo "hil: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# hil.NAME=VALUE on the kernel command line, else $2.
param() {
    v=$(tr ' ' '\n' < /proc/cmdline | sed -n "s/^hil\.$1=//p")
    echo "${v:-$2}"
}

# wait_until SECONDS COMMAND...: polls every 0.1 s; status 1 on timeout.
wait_until() {
    _limit=$(($1 * 10)); shift
    _n=0
    until "$@" >/dev/null 2>&1; do
        _n=$((_n + 1))
        [ $_n -ge $_limit ] && return 1
        sleep 0.1
    done
}

# ---- GPIO: gpio-sim through configfs, shaped like two Raspberry Pis ----
# bank0 is a Pi 3's header chip (label pinctrl-bcm2835, the corridor Pi), bank1 a Pi 4's
# (pinctrl-bcm2711, the entrance Pi). Both have 28 lines named GPIO0..GPIO27, like the real
# chips, so the agent must pick the chip by label and the line by name within that chip.
CFS=/sys/kernel/config/gpio-sim/rig
CORRIDOR_LABEL=pinctrl-bcm2835
ENTRANCE_LABEL=pinctrl-bcm2711
PIR_LINE=17
LED_LINES="22 23 24 25"

gpio_bank() {  # gpio_bank DIR LABEL
    mkdir "$CFS/$1" || return 1
    echo 28 > "$CFS/$1/num_lines"
    echo "$2" > "$CFS/$1/label"
    i=0
    while [ $i -lt 28 ]; do
        mkdir "$CFS/$1/line$i" && echo "GPIO$i" > "$CFS/$1/line$i/name" || return 1
        i=$((i + 1))
    done
}

gpio_paths() {
    dev=$(cat $CFS/dev_name)
    CORRIDOR_CHIP=$(cat $CFS/bank0/chip_name)
    ENTRANCE_CHIP=$(cat $CFS/bank1/chip_name)
    CORRIDOR_SYS=/sys/devices/platform/$dev/$CORRIDOR_CHIP
    ENTRANCE_SYS=/sys/devices/platform/$dev/$ENTRANCE_CHIP
}

gpio_up() {
    if [ "$(cat $CFS/live 2>/dev/null)" = 1 ]; then gpio_paths; return 0; fi
    modprobe configfs || return 1
    grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs none /sys/kernel/config || return 1
    modprobe gpio-sim || return 1
    mkdir -p $CFS
    gpio_bank bank0 $CORRIDOR_LABEL && gpio_bank bank1 $ENTRANCE_LABEL || return 1
    echo 1 > $CFS/live || return 1
    gpio_paths
}

# libgpiod's tools are v1 (Debian 12) or v2 (the arm64 rig's userland), whose arguments and output
# differ; the scripts use these three instead, with v1's output.
gpiod_v2() {
    [ -n "${GPIOD_V:-}" ] || GPIOD_V=$(gpiodetect --version 2>&1 | sed -n 's/.* v\([0-9]\)\..*/\1/p;q')
    [ "$GPIOD_V" = 2 ]
}
gpio_info() {  # gpio_info CHIP: one "line  N: ..." per line
    if gpiod_v2; then gpioinfo -c "$1"; else gpioinfo "$1"; fi
}
gpio_held() {  # gpio_held CHIP LINE...: how many of the lines are outputs held by consumer "nanoedge"
    _info=$(gpio_info "$1"); shift
    _held=0
    for _n in "$@"; do
        # v1: line  22:     "GPIO22"   "nanoedge"  output ...   v2: line  22: "GPIO22" output consumer="nanoedge"
        echo "$_info" | grep -E "line +$_n:" | grep -qE '"nanoedge" +output|output.* consumer="?nanoedge' \
            && _held=$((_held + 1))
    done
    echo $_held
}
gpio_rising() {  # gpio_rising CHIP LINE: waits for one rising edge, prints "RISING EDGE offset: LINE"
    if gpiod_v2; then gpiomon -c "$1" --num-events=1 -e rising -F 'RISING EDGE offset: %o' "$2"
    else gpiomon --num-events=1 --rising-edge "$1" "$2"; fi
}

# pir up|down: the entrance PIR's level, through gpio-sim's simulated pull (raises a real edge).
pir() { echo "pull-$1" > "$ENTRANCE_SYS/sim_gpio$PIR_LINE/pull"; }

# The corridor LEDs as the chip drives them, e.g. "0100" (shell built-ins only: fast enough to
# catch a 150 ms chase step under TCG).
leds() {
    s=""
    for n in $LED_LINES; do read -r v < "$CORRIDOR_SYS/sim_gpio$n/value"; s="$s$v"; done
    echo "$s"
}

# ---- Bluetooth: btvirt gives two LE controllers on hci_vhci ----
# hci0 is the entrance Pi's adapter; hci1 is a visitor's badge that advertises.
# A kernel without hci_vhci (kernel.sh notes it in /hil/lacks, e.g. Debian's arm64 kernel) has no
# controllers at all: BT_LACKS says why, and the badge gets a fixed address for the simulated scanner.
BT_LACKS=$(sed -n 's/^hci_vhci: /no hci_vhci in this kernel: /p' /hil/lacks 2>/dev/null)
bt_up() {
    if [ -n "$BT_LACKS" ]; then TAG_ADDRESS=00:AA:01:01:00:01; return 0; fi
    if [ -e /sys/class/bluetooth/hci1 ]; then bt_address; return 0; fi
    # btvirt's emulated controllers use the kernel's AES and CMAC through AF_ALG; Bluetooth's LE
    # pairing code asks for the stdrng (drbg) at init.
    for m in sha3_generic jitterentropy_rng sha512_generic ctr drbg ecb cmac af_alg algif_hash algif_skcipher; do
        modprobe $m || say "modprobe $m failed"
    done
    modprobe hci_vhci || return 1
    btvirt -L -l2 > /var/log/btvirt.log 2>&1 &
    echo $! > /run/btvirt.pid
    wait_until 10 test -e /sys/class/bluetooth/hci1 || { cat /var/log/btvirt.log; return 1; }
    hciconfig hci0 up && hciconfig hci1 up || return 1
    bt_address
}

bt_address() {
    TAG_ADDRESS=$(hciconfig hci1 | sed -n 's/.*BD Address: \([0-9A-F:]*\).*/\1/p')
    SCANNER_ADDRESS=$(hciconfig hci0 | sed -n 's/.*BD Address: \([0-9A-F:]*\).*/\1/p')
}

# hci1 advertises (ADV_NONCONN_IND every 100 ms) with flags and the local name "HIL-BADGE".
advertise() {
    hcitool -i hci1 cmd 0x08 0x0006 a0 00 a0 00 03 00 00 00 00 00 00 00 00 07 00 >/dev/null || return 1
    # 14 significant bytes: 02 01 06 (flags) + 0a 09 "HIL-BADGE" (complete local name), padded to 31
    hcitool -i hci1 cmd 0x08 0x0008 0e 02 01 06 0a 09 48 49 4c 2d 42 41 44 47 45 \
        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 >/dev/null || return 1
    hcitool -i hci1 cmd 0x08 0x000a 01 >/dev/null
}

# BlueZ's emulator sends one advertising report per enable of advertising or scanning; turning
# advertising off and on again makes the badge "seen" again by a scan that is already running.
readvertise() {
    hcitool -i hci1 cmd 0x08 0x000a 00 >/dev/null
    hcitool -i hci1 cmd 0x08 0x000a 01 >/dev/null
}

# ---- The site: a gateway and two Pis (entrance, corridor), all inside this VM over loopback ----
# provision.sh made the database and the keys on the host; this VM is the site's gateway and its Pis.
sql() { sqlite3 -cmd '.timeout 5000' $DB "$1"; }
nanoedge_() { nanoedge "$@" --db $DB; }

# Reads go to the database with sqlite3 (the gateway keeps it in WAL mode): a call to the debug
# CLI costs over a second under TCG, too slow to poll a visit with.
registered() { [ -n "$(sql "SELECT registered_at FROM devices WHERE id = '$1' AND registered_at IS NOT NULL")" ]; }
# visits_of N: "STATUS|detail" lines of visit N, oldest first.
visits_of() { sql "SELECT status || '|' || detail FROM visit_log WHERE visit = $1 ORDER BY id"; }
has_status() { visits_of "$1" | grep -q "^$2|"; }
last_visit() { sql "SELECT coalesce(max(id), 0) FROM visits"; }

agent_config() {  # agent_config ID LOCATION BOARD ROLES(toml list)
    cat > $SITE/$1.toml <<TOML
[device]
id = "$1"
psk_file = "keys/$1.psk"
location = "$2"
roles = [$4]
board = "$3"
boards_dir = "$BOARDS"
state_dir = "state/$1"

[gateway]
uri = "coaps://127.0.0.1:$PORT"
heartbeat_ms = 2000

[scanner]
site_key_file = "keys/site.key"

[simulator]
socket = "/run/hil/$1.sock"
TOML
}

start_agent() {  # start_agent ID
    nanoedge-agent --config $SITE/$1.toml >> /var/log/$1.log 2>&1 &
    echo $! > /run/hil/$1.pid
}

alive() { kill -0 "$(cat /run/hil/$1.pid 2>/dev/null)" 2>/dev/null; }

# Waits until the agent registered, or died; status 0 when registered.
agent_ready() {  # agent_ready ID SECONDS
    _n=0
    while [ $_n -lt $(($2 * 10)) ]; do
        registered "$1" && return 0
        alive "$1" || return 1
        sleep 0.1; _n=$((_n + 1))
    done
    return 1
}

stop_pid() {  # SIGTERM, then SIGKILL after 5 s
    [ -f "$1" ] || return 0
    p=$(cat "$1"); rm -f "$1"
    kill "$p" 2>/dev/null || return 0
    _n=0
    while kill -0 "$p" 2>/dev/null && [ $_n -lt 50 ]; do sleep 0.1; _n=$((_n + 1)); done
    kill -9 "$p" 2>/dev/null
    return 0
}

# BLE_MODE is "hci" when the entrance agent scans hci0 itself, or "sim" when this agent build has
# no HCI scanner backend or the kernel no hci_vhci: then a second entrance agent on the simulated
# board does the scanning, so the rest of the visit (and the corridor's guidance) still runs on the
# real GPIO backend.
site_up() {
    [ -f /run/hil/site ] && { BLE_MODE=$(cat /run/hil/site); gpio_paths; bt_up; return 0; }
    gpio_up || { say "gpio-sim setup failed"; return 1; }
    bt_up || { say "btvirt setup failed"; return 1; }
    mkdir -p /run/hil
    cp -a /hil/site $SITE && cd $SITE || return 1
    nanoedge_ registry tag add --person alice --address "$TAG_ADDRESS" --site-key keys/site.key --label hci1 \
        || return 1
    # A short scan window and arrival time keep the run short; TCG is slow, so CoAP keeps its defaults.
    nanoedge gateway --db $DB --listen 127.0.0.1:$PORT --scan-window-ms "$(param scan_ms 2500)" \
        --arrival-timeout-s "$(param arrival_s 10)" > /var/log/gateway.log 2>&1 &
    echo $! > /run/hil/gateway.pid
    wait_until 30 grep -q 'listening' /var/log/gateway.log || { site_logs; return 1; }
    agent_config corridor-1 corridor hil-rpi3b '"guidance"'
    agent_config entrance-1 entrance hil-rpi4b '"presence", "scanner"'
    start_agent corridor-1
    BLE_MODE=hci
    if [ -n "$BT_LACKS" ]; then
        say "$BT_LACKS: entrance-scan on board sim does the scanning"
        BLE_MODE=sim
        agent_config entrance-1 entrance hil-rpi4b '"presence"'
        agent_config entrance-scan entrance sim '"scanner"'
        start_agent entrance-scan
    fi
    start_agent entrance-1
    if [ $BLE_MODE = sim ]; then
        agent_ready entrance-1 40 && agent_ready entrance-scan 40 || { site_logs; return 1; }
    elif ! agent_ready entrance-1 40; then
        if ! alive entrance-1 && grep -q 'no HCI scanner backend' /var/log/entrance-1.log; then
            say "this agent build has no HCI scanner backend: entrance-scan on board sim does the scanning"
            BLE_MODE=sim
            agent_config entrance-1 entrance hil-rpi4b '"presence"'
            agent_config entrance-scan entrance sim '"scanner"'
            start_agent entrance-1
            start_agent entrance-scan
            agent_ready entrance-1 40 && agent_ready entrance-scan 40 || { site_logs; return 1; }
        else
            site_logs; return 1
        fi
    fi
    agent_ready corridor-1 40 || { site_logs; return 1; }
    echo $BLE_MODE > /run/hil/site
    say "site up (scanner: $BLE_MODE) at $(uptime_s) s"
}

site_logs() {
    for f in gateway entrance-1 entrance-scan corridor-1; do
        [ -s /var/log/$f.log ] && { echo "--- $f.log"; tail -n 25 /var/log/$f.log; }
    done
    return 0
}

site_down() {
    for a in entrance-1 entrance-scan corridor-1; do stop_pid /run/hil/$a.pid; done
    stop_pid /run/hil/gateway.pid
    stop_pid /run/btvirt.pid
    rm -f /run/hil/site
}
