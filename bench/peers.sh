#!/bin/bash
# bench/peers.sh: runs the reference "peer" systems from shared/peers on troupe's
# workload (1 sender -> 3 receivers, 100-byte messages, 5 s) and prints, per peer:
#   peer=<name> msgs_per_sec=<n> rtt_p50_us=<n>
# msgs_per_sec = mean over the 3 receivers of messages delivered per second;
# rtt_p50_us   = median of sequential, unloaded PING -> receiver 1 -> PONG.
#
# Usage: bench/peers.sh [--json FILE] [--peers LIST] [--secs N] [--size N]
#                       [--timeout SECS] [--keep-logs]
#   --peers   comma list of nats,corosync,zeromq,dgram,redis  (default: nats,corosync;
#             "all" = nats,corosync,zeromq,dgram,redis). Each takes ~10 s and both cores.
#   --json    also write the results (and more fields) as JSON to FILE.
#
# Needs root (corosync, network namespaces, apt). shared/ is found at
# $(dirname "$0")/../../shared, else $TROUPE_SHARED. shared/ is never written:
# the peers are copied to $TROUPE_PEERS_WORK (default /tmp/troupe-peers), where
# their npm modules and the compiled CPG client live. shared/peers/setup.sh (apt
# + npm) is run only when something it provides is missing.
# Exit status: 0 if every peer produced numbers, 1 otherwise, 2 on usage errors.
set -uo pipefail

PEERS=nats,corosync SECS=5 SIZE=100 JSON="" TMO=150 KEEP=0
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --json) JSON=${2:?--json needs a file}; shift 2 ;;
    --json=*) JSON=${1#*=}; shift ;;
    --peers) PEERS=${2:?}; shift 2 ;;
    --peers=*) PEERS=${1#*=}; shift ;;
    --secs) SECS=${2:?}; shift 2 ;;
    --size) SIZE=${2:?}; shift 2 ;;
    --timeout) TMO=${2:?}; shift 2 ;;
    --keep-logs) KEEP=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "peers.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done
[ "$PEERS" = all ] && PEERS=nats,corosync,zeromq,dgram,redis
IFS=, read -r -a PEER_LIST <<<"$PEERS"
for p in "${PEER_LIST[@]}"; do
  case "$p" in nats|corosync|zeromq|dgram|redis) ;; *) echo "peers.sh: unknown peer '$p'" >&2; exit 2 ;; esac
done
[[ "$SECS" =~ ^[0-9]+(\.[0-9]+)?$ && "$SIZE" =~ ^[0-9]+$ && "$TMO" =~ ^[0-9]+$ ]] || { echo "peers.sh: bad --secs/--size/--timeout" >&2; exit 2; }
log() { echo "peers.sh: $*" >&2; }

# --- locate shared/peers -------------------------------------------------------------
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=""
for c in "$HERE/../../shared" "${TROUPE_SHARED:-}"; do
  [ -n "$c" ] && [ -f "$c/peers/setup.sh" ] && { SHARED=$(cd "$c" && pwd); break; }
done
[ -n "$SHARED" ] || { log "cannot find shared/peers (looked in $HERE/../../shared and \$TROUPE_SHARED)"; exit 1; }
[ "$(id -u)" = 0 ] || { log "must run as root (corosync, network namespaces, apt)"; exit 1; }

# --- writable copy of shared/peers (shared/ itself stays untouched) --------------------
WORK=${TROUPE_PEERS_WORK:-/tmp/troupe-peers}
srcsum() { (cd "$SHARED/peers" && find . -type f ! -path '*/node_modules/*' ! -name cpgbench \
            ! -name '*.class' ! -name '*.xml' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
SUM=$(srcsum)
if [ "$(cat "$WORK/.troupe-src" 2>/dev/null)" != "$SUM" ]; then
  log "copying $SHARED/peers -> $WORK"
  rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
  tar -C "$SHARED/peers" --exclude=node_modules --exclude=corosync/cpgbench -cf - . | tar -C "$WORK" -xf - || exit 1
  chmod -R u+w "$WORK"
  echo "$SUM" >"$WORK/.troupe-src"
fi

# --- install only if something is missing --------------------------------------------
missing=()
command -v nats-server >/dev/null || missing+=(nats-server)
command -v corosync >/dev/null || [ -x /usr/sbin/corosync ] || missing+=(corosync)
[ -f /usr/include/corosync/cpg.h ] || missing+=(libcpg-dev)
command -v redis-server >/dev/null || missing+=(redis-server)
for d in nats zeromq redis; do [ -d "$WORK/$d/node_modules" ] || missing+=("$d/node_modules"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "missing: ${missing[*]} -> running setup.sh (apt + npm, ~20 s)"
  "$WORK/setup.sh" >&2 || { log "setup.sh failed"; exit 1; }
fi
export PATH="$PATH:/usr/sbin:/sbin"

# --- run the peers, never leaving processes or namespaces behind ----------------------
OUTDIR=$(mktemp -d /tmp/troupe-peers-out.XXXX)
CHILD=""   # pid (= process group id) of the running `timeout` and everything under it
kill_child() {
  [ -n "$CHILD" ] || return 0
  kill -TERM -- -"$CHILD" 2>/dev/null
  for _ in $(seq 30); do pgrep -g "$CHILD" >/dev/null || break; sleep 0.1; done
  kill -KILL -- -"$CHILD" 2>/dev/null
  wait "$CHILD" 2>/dev/null
  CHILD=""
}
NS_BEFORE=$(ip netns list 2>/dev/null | awk '{print $1}')
clean_netns() {  # namespaces the peer scripts create (pbdg<pid>, pbjg<pid>, pbc_*) that were not there before
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "$ns" =~ ^(pbdg|pbjg|pbc_) ]] || continue
    grep -qx -- "$ns" <<<"$NS_BEFORE" && continue
    log "removing leftover netns $ns"; ip netns del "$ns" 2>/dev/null
  done
}
on_exit() { kill_child; clean_netns; [ "$KEEP" = 1 ] || rm -rf "$OUTDIR"; }
trap on_exit EXIT
trap 'log interrupted; exit 130' INT TERM HUP

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
field() { sed -n "s/.* $1=\([0-9][0-9.]*\).*/\1/p" <<<" $2" | head -1; }

RESULTS=()  # JSON objects
FAILED=0
for p in "${PEER_LIST[@]}"; do
  args=("$SECS" "$SIZE"); why=""
  case "$p" in
    corosync) args+=(agreed); pgrep -x corosync >/dev/null && why="a corosync is already running" ;;
    nats)   port_busy "${NPORT:-24222}" && why="port ${NPORT:-24222} busy" ;;
    zeromq) args+=(1); port_busy "${ZPORT:-25555}" && why="port ${ZPORT:-25555} busy" ;;
    redis)  port_busy "${RPORT:-26379}" && why="port ${RPORT:-26379} busy" ;;
  esac
  out="$OUTDIR/$p.out"; line=""; t0=$(date +%s.%N)
  logs_before=$(ls -d /tmp/*bench.* 2>/dev/null)
  if [ -z "$why" ]; then
    log "running $p (${SECS}s, ${SIZE} B) ..."
    # timeout puts itself and the peer (servers included) in a new process group.
    timeout -k 5 "$TMO" "$WORK/$p/run.sh" "${args[@]}" >"$out" 2>&1 </dev/null &
    CHILD=$!
    wait "$CHILD"; rc=$?
    kill_child    # the peer has exited: sweep its process group in case anything outlived it
    clean_netns
    line=$(grep '^PEER=' "$out" | tail -1)
    [ -n "$line" ] || why="no PEER line (exit $rc$([ "$rc" = 124 ] && echo ", timed out after ${TMO}s"))"
  fi
  wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  mps=$(field msgs_per_sec "$line"); p50=$(field rtt_p50_us "$line")
  if [ -z "$mps" ] || [ -z "$p50" ]; then
    [ -n "$why" ] || why="unparsable PEER line"
    log "$p failed: $why"; [ -s "$out" ] && tail -5 "$out" | sed 's/^/  | /' >&2
    new_logs=$(comm -13 <(sort <<<"$logs_before") <(ls -d /tmp/*bench.* 2>/dev/null | sort) | tr '\n' ' ')
    [ -n "$new_logs" ] && log "$p logs kept: $new_logs"
    echo "peer=$p msgs_per_sec=NA rtt_p50_us=NA"
    RESULTS+=("{\"peer\":\"$p\",\"ok\":false,\"error\":\"${why//\"/}\",\"wall_secs\":$wall}")
    FAILED=1
  else
    echo "peer=$p msgs_per_sec=$mps rtt_p50_us=$p50"
    impl=$(sed -n 's/^PEER=\([^ ]*\).*/\1/p' <<<"$line")
    extra=""
    for f in min_receiver_msgs_per_sec rtt_p99_us rtt_max_us ping_timeouts loaded_deliv_lat_p50_us loaded_deliv_lat_p99_us sent gaps out_of_order; do
      v=$(field "$f" "$line"); [ -n "$v" ] && extra+=",\"$f\":$v"
    done
    RESULTS+=("{\"peer\":\"$p\",\"ok\":true,\"impl\":\"$impl\",\"msgs_per_sec\":$mps,\"rtt_p50_us\":$p50$extra,\"wall_secs\":$wall}")
    logs=$(sed -n 's/.* logs=\(\/tmp\/[a-z0-9]*bench\.[A-Za-z0-9]*\).*/\1/p' <<<"$line")
    [ "$KEEP" = 1 ] || { [ -n "$logs" ] && [ -d "$logs" ] && rm -rf "$logs"; }
  fi
done

if [ -n "$JSON" ]; then
  {
    printf '{"workload":{"senders":1,"receivers":3,"msg_bytes":%s,"secs":%s},' "$SIZE" "$SECS"
    printf '"host":{"nproc":%s,"loadavg":"%s","date":"%s"},' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)"
    printf '"peers":['; (IFS=,; printf '%s' "${RESULTS[*]}"); printf ']}\n'
  } >"$JSON" || { log "cannot write $JSON"; FAILED=1; }
fi
[ "$KEEP" = 1 ] && log "outputs kept in $OUTDIR"
exit $FAILED
