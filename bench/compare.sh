#!/bin/bash
# One run, one machine state, back to back:
#   1. throughput: troupe bench (1 sender -> 3 receivers, 100 B, 5 s) and the
#      peers on the same workload (bench/peers.sh: NATS, Corosync by default);
#   2. Cyclone DDS (../shared/peers/cyclonedds/run.sh: ddsperf, reliable,
#      multicast): throughput to 3 subscribers and a 2-process ping-pong,
#      beside troupe's 2-member ping-pong (troupe bench --members 2);
#   3. fixed rates: troupe bench --rates (one-way percentiles, round trips
#      under load) and bench/floor.mjs, plain Node dgram on the same schedule:
#      this host's floor.
# Usage: bench/compare.sh [--peers nats,corosync] [--rates 10k,100k] [--no-cyclone]
# Needs root for the peers (network namespaces, apt); troupe's parts need nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${TROUPE_SHARED:-$here/../../shared}
cli="$here/../dist/cli.js"
out=$(mktemp -d /tmp/troupe-compare.XXXX)
rates=10k,100k cyclone=1 peers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rates) rates=${2:?}; shift 2 ;;
    --no-cyclone) cyclone=0; shift ;;
    *) peers+=("$1"); shift ;;
  esac
done
status=0

echo "== throughput: troupe, then the peers" >&2
node "$cli" bench --json > "$out/troupe.json" || status=1
"$here/peers.sh" --json "$out/peers.json" "${peers[@]}" > /dev/null || status=1

if [ $cyclone = 1 ]; then
  echo "== Cyclone DDS (ddsperf), then troupe's 2-member ping-pong" >&2
  if [ -x "$shared/peers/cyclonedds/run.sh" ] && command -v ddsperf > /dev/null; then
    "$shared/peers/cyclonedds/run.sh" 3 3 > "$out/cyclone.txt" 2>&1 || status=1
  else
    echo "ddsperf not installed (apt-get install cyclonedds-tools, or ../shared/peers/setup.sh): Cyclone DDS skipped" > "$out/cyclone.txt"
  fi
fi
node "$cli" bench --members 2 --seconds 0.5 --pings 20000 --no-view-changes --json > "$out/troupe-pp.json" || status=1

echo "== fixed rates: troupe, then plain Node dgram on the same schedule" >&2
node "$cli" bench --rates "$rates" --seconds 5 --no-view-changes --json > "$out/troupe-rates.json" || status=1
node "$here/floor.mjs" "$rates" 5 3 1 > "$out/floor.txt" || status=1

OUT="$out" node -e '
const fs = require("fs"), dir = process.env.OUT
const read = (f) => { try { return fs.readFileSync(`${dir}/${f}`, "utf8") } catch { return "" } }
const t = JSON.parse(read("troupe.json") || "{}"), p = JSON.parse(read("peers.json") || "[]")
const pad = (x, n) => String(x).padStart(n)
console.log("throughput, 1 sender -> 3 receivers, 100 B (msgs/s at the slowest receiver)")
console.log(`  ${"troupe (fifo)".padEnd(22)}${pad(t.minMsgsPerSec ?? "-", 12)}   RTT p50 ${t.rttP50Us ?? "-"} us (4 members)`)
for (const x of p.peers ?? p) console.log(`  ${String(x.peer).padEnd(22)}${pad(Math.round(x.msgs_per_sec ?? x.msgsPerSec), 12)}   RTT p50 ${x.rtt_p50_us ?? x.rttP50Us} us`)
const c = /PEER=cyclonedds msgs_per_sec=(\d+) rtt_p50_us=(\d+) rtt_p99_us=(\d+)/.exec(read("cyclone.txt"))
if (c) console.log(`  ${"Cyclone DDS ddsperf".padEnd(22)}${pad(c[1], 12)}`)
const pp = JSON.parse(read("troupe-pp.json") || "{}")
console.log("\nround trip, 2 processes, one ping at a time (us)")
console.log(`  troupe, 2 members      p50 ${pp.rttP50Us}  p99 ${pp.rttP99Us}`)
if (c) console.log(`  Cyclone DDS ddsperf    p50 ${c[2]}  p99 ${c[3]}`)
else console.log("  " + read("cyclone.txt").trim().split("\n").pop())
const r = JSON.parse(read("troupe-rates.json") || "{}")
console.log("\nfixed rates, 1 -> 3, 100 B: one-way from intended send time, worst receiver (us)")
console.log("  system                    rate      p50      p90      p99    p99.9   p99.99      max")
for (const x of r.rates ?? []) console.log(`  ${"troupe".padEnd(20)}${pad(x.rate, 10)}${[x.worst.p50, x.worst.p90, x.worst.p99, x.worst.p999, x.worst.p9999, x.worst.max].map((v) => pad(v, 9)).join("")}`)
for (const line of read("floor.txt").split("\n").filter((l) => /^\d/.test(l))) {
  const [rate, ...v] = line.trim().split(/\s+/)
  console.log(`  ${"plain Node dgram".padEnd(20)}${pad(rate, 10)}${v.map((x) => pad(x, 9)).join("")}`)
}
'
echo "(raw results in $out)" >&2
exit $status
