#!/bin/bash
# One run, one machine state: troupe bench (default workload: 1 sender -> 3
# receivers, 100 B, 5 s) and the peers on the same workload, back to back.
# Usage: bench/compare.sh [--peers nats,corosync]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
node "$here/../dist/cli.js" bench --json > /tmp/troupe-compare-troupe.json
status=$?
"$here/peers.sh" --json /tmp/troupe-compare-peers.json "$@" >/dev/null
node -e '
const t = require("/tmp/troupe-compare-troupe.json"), p = require("/tmp/troupe-compare-peers.json")
const rows = [["troupe (fifo)", t.minMsgsPerSec, t.rttP50Us, t.lost]]
for (const x of p.peers ?? p) rows.push([x.peer, x.msgs_per_sec ?? x.msgsPerSec, x.rtt_p50_us ?? x.rttP50Us, ""])
console.log("system           msgs/s at each receiver   RTT p50 us   lost")
for (const r of rows) console.log(String(r[0]).padEnd(16), String(Math.round(r[1])).padStart(24), String(r[2]).padStart(12), String(r[3]).padStart(6))
'
exit $status
