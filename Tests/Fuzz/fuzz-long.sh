#!/bin/bash
# make fuzz-long: each target to RUNS executions, two targets at a time (one per core).
#   bash Tests/Fuzz/fuzz-long.sh RUNS "NAME,NAME" TARGET:CORPUS:MAX_LEN...
# An empty name list runs every target given, in that order; otherwise the named ones, in the
# names' order. NAME*K runs a slow target as K processes of RUNS/K executions each, sharing one
# corpus, so that it spreads over both cores. Prints one line per process and a total per target,
# and keeps them in .build-fuzz/fuzz-long.txt.
set -uo pipefail
runs=$1; only=$2; shift 2
declare -A specs
order=()
for spec in "$@"; do specs[${spec%%:*}]=$spec; order+=("${spec%%:*}"); done
[ -n "$only" ] && IFS=, read -ra order <<<"$only"

one() {
    local spec=$1 runs=$2 part=$3
    local target=${spec%%:*} rest=${spec#*:}
    local seeds=${rest%%:*} maxlen=${rest#*:}
    local label=${part:+ ($part)}
    local dict=Tests/Fuzz/dicts/$seeds.dict log=.build-fuzz/$target-long${part:+-${part%%/*}}.log
    mkdir -p .build-fuzz/corpus/$seeds-found .build-fuzz/artifacts
    local start=$SECONDS status=0
    # Allocation stacks and a large quarantine only slow a Swift target down: its memory errors
    # are in the C it calls, which ASan still checks.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=malloc_context_size=0:quarantine_size_mb=16 \
        nice .build-fuzz/release/$target -runs=$runs -max_len=$maxlen -print_final_stats=1 \
        -artifact_prefix=.build-fuzz/artifacts/$target- $([ -f $dict ] && echo -dict=$dict) \
        .build-fuzz/corpus/$seeds-found .build-fuzz/corpus/$seeds 2>$log || status=$?
    local executed corpus crashes=0
    executed=$(sed -n 's/^stat::number_of_executed_units: *//p' $log | tail -1)
    corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' $log | tail -1 | cut -d' ' -f2)
    [ $status -ne 0 ] && crashes=1
    printf '%-28s %12s executions %6d s  corpus %-12s crashes %d\n' \
        "$target$label" "${executed:-?}" $((SECONDS - start)) "${corpus:-?}" $crashes | tee -a .build-fuzz/fuzz-long.txt
    [ $status -eq 0 ] || { grep -E "SUMMARY|Test unit written" $log; return 1; }
}
export -f one

echo "fuzz-long: $runs executions per target, $(date -u +%FT%TZ)" | tee -a .build-fuzz/fuzz-long.txt
failed=0
first=$(($(wc -l < .build-fuzz/fuzz-long.txt) + 1))
for item in "${order[@]}"; do
    name=${item%%\**}; parts=1
    [ "$name" != "$item" ] && parts=${item#*\*}
    [ -n "${specs[$name]:-}" ] || { echo "fuzz-long: no target $name"; exit 2; }
    for ((k = 1; k <= parts; k++)); do
        label=; [ $parts -gt 1 ] && label="$k/$parts"
        printf '%s\t%s\t%s\n' "${specs[$name]}" $(((runs + parts - 1) / parts)) "$label"
    done
done | xargs -P 2 -d '\n' -I{} bash -c 'IFS=$'"'"'\t'"'"' read -r spec n part <<<"$1"; one "$spec" "$n" "$part"' _ {} || failed=1
# Totals of the targets that ran as several processes.
awk '/ \([0-9]+\/[0-9]+\) / {
        split($0, f, " "); runs[f[1]] += f[3]; if ($0 !~ /crashes 0/) bad[f[1]] = 1 }
    END { for (t in runs) printf "%-28s %12d executions in all%s\n", t, runs[t], (t in bad ? ", with a crash" : "") }' \
    <(tail -n +"$first" .build-fuzz/fuzz-long.txt) | tee -a .build-fuzz/fuzz-long.txt
exit $failed
