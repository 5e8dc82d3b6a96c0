# The project's binaries start inside the VM with the libraries the initramfs carries.
. /hil/lib.sh
v=$(nanoedge-agent --version 2>&1) && pass agent-binary "$v" || fail agent-binary "$v"
h=$(nanoedge gateway --help 2>&1) && echo "$h" | grep -q -- '--listen' \
    && pass gateway-binary || fail gateway-binary "$(echo "$h" | head -3)"
