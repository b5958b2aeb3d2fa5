# Shared by deploy/local/up, down and status; sourced, not run.
# Everything lives under one run directory:
#   $RUN/env            secrets and credentials (generated once, kept)
#   $RUN/conf/*.yaml    generated refract configs
#   $RUN/pids/*.pid     one per process started
#   $RUN/logs/*.log     their output
#   $RUN/<name>/        each process's data
# Every server binds 127.0.0.1 only.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN=${REFRACT_LOCAL_DIR:-/tmp/refract-local}
REFRACT=${REFRACT_BIN:-$REPO/bin/refract}
MINIO_VERSION=$(sed -n 's/^MINIO_VERSION *:= *//p' "$REPO/Makefile")
MINIO=${REFRACT_MINIO:-${XDG_CACHE_HOME:-$HOME/.cache}/refract/bin/minio-$MINIO_VERSION}
NATS_SERVER=${REFRACT_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
CLOUD=demo
BUCKET=refract-local

# Ports: REFRACT_LOCAL_PORT (default 18000) and fixed offsets from it, away
# from refract dev's 8080/8081.
BASE=${REFRACT_LOCAL_PORT:-18000}
MINIO_PORT=$((BASE + 0))
MINIO_CONSOLE_PORT=$((BASE + 1))
NATS_PORT=$((BASE + 2))
NATS_MONITOR_PORT=$((BASE + 3))
ORIGINS=(origin-1 origin-2)
EDGES=(edge-1 edge-2 edge-3)
# origin-N: API BASE+10+N, ops BASE+20+N; edge-N: delivery BASE+30+N, ops BASE+40+N.
api_port() { echo $((BASE + 10 + ${1#origin-})); }
origin_ops_port() { echo $((BASE + 20 + ${1#origin-})); }
edge_port() { echo $((BASE + 30 + ${1#edge-})); }
edge_ops_port() { echo $((BASE + 40 + ${1#edge-})); }

# Start and stop order: dependencies first, edges last (down reverses it).
ALL=(minio nats "${ORIGINS[@]}" "${EDGES[@]}")

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# pid_of NAME prints the pid recorded for NAME when that process still
# runs and is ours (its command line names the run directory), so a
# recycled pid is never signalled.
pid_of() {
	local f="$RUN/pids/$1.pid" pid
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$RUN" || return 1
	echo "$pid"
}

# port_busy PORT: something accepts connections on 127.0.0.1:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# http_ok URL: a 2xx answer within 2 s.
http_ok() {
	curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
}

# ready_url NAME: the URL that answers 200 once NAME is ready.
ready_url() {
	case $1 in
	minio) echo "http://127.0.0.1:$MINIO_PORT/minio/health/ready" ;;
	nats) echo "http://127.0.0.1:$NATS_MONITOR_PORT/healthz" ;;
	origin-*) echo "http://127.0.0.1:$(origin_ops_port "$1")/readyz" ;;
	edge-*) echo "http://127.0.0.1:$(edge_ops_port "$1")/readyz" ;;
	esac
}

# ports_of NAME: every port NAME listens on.
ports_of() {
	case $1 in
	minio) echo "$MINIO_PORT $MINIO_CONSOLE_PORT" ;;
	nats) echo "$NATS_PORT $NATS_MONITOR_PORT" ;;
	origin-*) echo "$(api_port "$1") $(origin_ops_port "$1")" ;;
	edge-*) echo "$(edge_port "$1") $(edge_ops_port "$1")" ;;
	esac
}

# bus_enabled: whether the refract configs get the bus section (and the
# edges a state_dir). REFRACT_LOCAL_NATS=1 forces it, 0 leaves it out, and
# auto (the default) asks the binary: Go keeps struct tags in the binary
# for reflection, so a refract whose config knows the key contains it.
bus_enabled() {
	case ${REFRACT_LOCAL_NATS:-auto} in
	1 | yes | true) return 0 ;;
	0 | no | false) return 1 ;;
	auto) grep -aqF 'yaml:"state_dir"' "$REFRACT" ;;
	*) die "REFRACT_LOCAL_NATS must be 1, 0 or auto" ;;
	esac
}

cloudinary_url() {
	# shellcheck disable=SC1091
	(source "$RUN/env" && echo "cloudinary://$DEMO_API_KEY:$DEMO_API_SECRET@$CLOUD?upload_prefix=http://127.0.0.1:$(api_port origin-1)")
}
