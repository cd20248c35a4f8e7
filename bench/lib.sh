# Shared by bench/run, bench/seed, bench/crash and bench/attack (sourced, not run).
# Builds the release binary, starts and stops servers on temporary databases, creates the
# realistic setup through the API, and reads CPU and memory figures from /proc.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/target-bench}"
# The Cargo profile the binary is built with: `release` (what ships), or `profiling` (release
# with line tables, for perf), which bench/profile sets before sourcing this file.
BENCH_PROFILE="${BENCH_PROFILE:-release}"
BIN="$CARGO_TARGET_DIR/$BENCH_PROFILE/affiliated"
EXAMPLES="$CARGO_TARGET_DIR/$BENCH_PROFILE/examples"
# The same key as bench/support.rs uses.
KEY="bench-key-0123456789abcdefghijklmnopqrstuvwxyz"
CLK_TCK="$(getconf CLK_TCK)"

# Every process this script starts, so the exit trap can stop exactly those.
STARTED_PIDS=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    sleep 0.5
    for pid in "${STARTED_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

build_release() {
    log "building the $BENCH_PROFILE binary and the bench examples (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    local build_log="${TMPDIR:-/tmp}/affiliated-bench-build.$$.log"
    if ! (cd "$ROOT" && cargo build --profile "$BENCH_PROFILE" && cargo build --profile "$BENCH_PROFILE" --examples) \
        >"$build_log" 2>&1; then
        tail -40 "$build_log" >&2
        die "cargo build failed (full log: $build_log)"
    fi
    rm -f "$build_log"
}

need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ||
        die "$1 is missing; install it with: apt-get install -y $2"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# utime + stime of a process in seconds (fields 14 and 15 of /proc/PID/stat).
cpu_seconds() {
    local rest
    rest="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
    # After the command name, field 1 is the state, so utime and stime are fields 12 and 13.
    awk -v tck="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / tck }' <<<"$rest"
}

# The whole box's CPU time so far, from the first line of /proc/stat: "BUSY STEAL" in seconds,
# where busy is user + nice + system + irq + softirq over all cores.
box_cpu() {
    awk -v tck="$CLK_TCK" '$1 == "cpu" { printf "%.2f %.2f\n", ($2 + $3 + $4 + $7 + $8) / tck, $9 / tck }' /proc/stat
}

# CPU seconds of this shell's children that have been waited for (cutime + cstime).
children_cpu() {
    sed 's/^.*) //' "/proc/$$/stat" | awk -v tck="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / tck }'
}

# Times the kernel dropped a connection because a listener's accept queue was full (whole box,
# absolute). A starved connection with no overflow was accepted and then left waiting.
listen_overflows() {
    nstat -asz TcpExtListenOverflows 2>/dev/null | awk '$1 == "TcpExtListenOverflows" { print $2; f = 1 } END { if (!f) print 0 }'
}

# utime + stime in seconds of the threads of PID named NAME (e.g. affiliated's "writer").
thread_cpu() {
    local pid="$1" name="$2" task total=0
    for task in /proc/"$pid"/task/*; do
        [ "$(cat "$task/comm" 2>/dev/null)" = "$name" ] || continue
        total="$(sed 's/^.*) //' "$task/stat" | awk -v t="$total" -v tck="$CLK_TCK" '{ printf "%.2f", t + ($12 + $13) / tck }')"
    done
    echo "$total"
}

# A /proc/PID/status field in kB (VmRSS, VmHWM).
mem_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Resets VmHWM to the current RSS, so the next reading is the peak of one run.
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# A TCP port no socket uses (other servers may be running on this machine), below the
# ephemeral range so that client connections cannot be holding it.
# copy_db SRC DST: a copy of a template database with the files the server keeps beside it (the
# statement signing key, the device-cookie key), so that each copy starts as the template's own
# server would, without a new key and its warning.
copy_db() {
    local src="$1" dst="$2" f
    cp "$src" "$dst"
    for f in statement-key device-key; do
        [ ! -f "$src.$f" ] || cp -p "$src.$f" "$dst.$f"
    done
}

free_port() {
    local port low
    low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
    while :; do
        port=$((10000 + RANDOM % (low - 10000)))
        if [ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then
            echo "$port"
            return
        fi
    done
}

# One GET /healthz over bash's /dev/tcp (no fork, so it can poll every few milliseconds).
healthz_once() {
    local line
    { exec 9<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&9
    IFS= read -r -t 2 line <&9 || line=""
    exec 9<&- 9>&-
    [[ $line == "HTTP/1.1 200"* ]]
}

# start_server DB PORT LOG [extra serve flags...]: starts affiliated in the background and waits
# until /healthz answers 200. Sets SERVER_PID, SERVER_PORT and START_MS (spawn to healthy).
start_server() {
    local db="$1" port="$2" logfile="$3"
    shift 3
    local t0 t1
    t0="$EPOCHREALTIME"
    AFFILIATED_API_KEY="$KEY" RUST_LOG="${SERVER_RUST_LOG:-warn}" "$BIN" serve --db "$db" --listen "127.0.0.1:$port" "$@" \
        >>"$logfile" 2>&1 </dev/null &
    SERVER_PID=$!
    SERVER_PORT="$port"
    STARTED_PIDS+=("$SERVER_PID")
    local tries=0
    until healthz_once "$port"; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "affiliated exited during startup; see $logfile"
        tries=$((tries + 1))
        [ "$tries" -lt 20000 ] || die "affiliated was not healthy within ~20 s; see $logfile"
        sleep 0.001
    done
    t1="$EPOCHREALTIME"
    START_MS="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')"
}

# Stops a server with SIGTERM (SIGKILL after 10 s); sets STOP_STATUS to its exit status.
# Not in a subshell: only this shell can wait for its own children.
stop_server() {
    local pid="$1" i
    STOP_STATUS=""
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    STOP_STATUS=0
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
}

# api METHOD PATH JSON: one API call; prints the body, fails unless 2xx.
api() {
    local out status
    out="$(curl -sS -X "$1" "http://127.0.0.1:$SERVER_PORT$2" -H "X-Api-Key: $KEY" \
        -H 'Content-Type: application/json' --data "$3" -w '\n%{http_code}')" || return 1
    status="${out##*$'\n'}"
    out="${out%$'\n'*}"
    if [[ $status != 2* ]]; then
        log "POST $2 -> $status $out"
        return 1
    fi
    printf '%s\n' "$out"
}

# The realistic setup, through the API of the running server: 3 offers (the first is the
# default), 50 affiliates, one coupon per affiliate, and CLICKS clicks whose IDs conversions can
# reference. Writes a Lua table for bench/wrk/load.lua to SETUP_LUA and the codes to CODES_TXT.
AFFILIATES=50
create_setup() {
    local setup_lua="$1" codes_txt="$2" clicks="${3:-200}" i code id
    api POST /api/v1/offers '{"id":"main","name":"Trail Runner Shoes","landing_url":"https://shop.example/landing?aff={affiliate_id}","commission":{"type":"percent","value":"10"}}' >/dev/null
    api POST /api/v1/offers '{"id":"trial","name":"Free Trial","landing_url":"https://shop.example/trial?offer={offer_id}&aff={affiliate_id}","commission":{"type":"flat","value":"5.00"}}' >/dev/null
    api POST /api/v1/offers '{"id":"annual","name":"Annual Plan","landing_url":"https://shop.example/pricing/annual","commission":{"type":"percent","value":"25"}}' >/dev/null
    : >"$codes_txt"
    for i in $(seq -f '%03g' 1 "$AFFILIATES"); do
        api POST /api/v1/affiliates "{\"referral_code\":\"aff-$i\",\"name\":\"Affiliate $i\"}" >/dev/null
        api POST /api/v1/coupons "{\"code\":\"SAVE-$i\",\"referral_code\":\"aff-$i\"}" >/dev/null
        echo "aff-$i" >>"$codes_txt"
    done
    {
        echo "-- Written by bench/lib.sh create_setup; read by bench/wrk/load.lua."
        echo "return {"
        echo "  key = \"$KEY\","
        printf '  codes = {'
        sed 's/.*/"&",/' "$codes_txt" | tr -d '\n'
        echo '},'
        echo '  offers = {"main", "trial", "annual"},'
        printf '  coupons = {'
        for i in $(seq -f '%03g' 1 "$AFFILIATES"); do printf '"SAVE-%s",' "$i"; done
        echo '},'
        printf '  clicks = {'
        for i in $(seq 1 "$clicks"); do
            code="$(sed -n "$(((i - 1) % AFFILIATES + 1))p" "$codes_txt")"
            id="$(api POST /api/v1/clicks "{\"referral_code\":\"$code\",\"session_id\":\"setup-$i\",\"user_agent\":\"Mozilla/5.0 (setup)\",\"ip\":\"198.51.100.$((i % 250 + 1))\"}" |
                sed -n 's/^{"id":"\([^"]*\)".*/\1/p')"
            [ -n "$id" ] || die "setup: creating a click returned no id"
            printf '"%s",' "$id"
        done
        echo '},'
        echo "}"
    } >"$setup_lua"
}

# Server-side TCP connections on PORT: prints "ESTABLISHED STARVED", where starved connections
# have received at most one data segment (one request) so far. ss omits data_segs_in when 0.
ss_starved() {
    ss -tniH state established "( sport = :$1 )" 2>/dev/null | awk '
        /^[0-9]/ { n++; next }
        { segs = 0
          if (match($0, /data_segs_in:[0-9]+/)) segs = substr($0, RSTART + 13, RLENGTH - 13) + 0
          if (segs <= 1) starved++ }
        END { printf "%d %d\n", n, starved }'
}

# nginx on loopback as the box's HTTP ceiling: its own prefix and config, a static 302.
# Sets NGINX_PID (the master) and NGINX_PORT.
start_nginx() {
    local prefix="$1"
    NGINX_PORT="$(free_port)"
    mkdir -p "$prefix/logs"
    cat >"$prefix/nginx.conf" <<EOF
# Written by bench/lib.sh: the box's HTTP ceiling for bench/run.
worker_processes auto;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { return 302 https://shop.example/landing?click_id=x; }
    }
}
EOF
    local nginx_bin
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
    "$nginx_bin" -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" </dev/null \
        >>"$prefix/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    STARTED_PIDS+=("$NGINX_PID")
    local tries=0
    until curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/"; do
        kill -0 "$NGINX_PID" 2>/dev/null || die "nginx did not start; see $prefix/logs/error.log"
        tries=$((tries + 1))
        [ "$tries" -lt 500 ] || die "nginx did not answer; see $prefix/logs/error.log"
        sleep 0.02
    done
}

# The master and its workers.
nginx_pids() { echo "$1" $(pgrep -P "$1"); }

# Sums cpu_seconds or mem_kb over several PIDs.
sum_cpu() { local t=0 p; for p in "$@"; do t="$(awk -v a="$t" -v b="$(cpu_seconds "$p")" 'BEGIN { print a + b }')"; done; echo "$t"; }
sum_mem() { local t=0 p; for p in "${@:2}"; do t=$((t + $(mem_kb "$p" "$1"))); done; echo "$t"; }

# seed_clicks_sql N END_MS SPAN_MS: prints SQL that inserts N clicks shaped like the server's own
# (time-ordered 30-character IDs spread over the SPAN_MS before END_MS, valid affiliate and offer
# IDs, user agents, referrers, truncated IPs, a session ID on a third of them) and rebuilds the
# daily_clicks totals. For sqlite3, on a database that has the realistic setup.
seed_clicks_sql() {
    local n="$1" end_ms="$2" span_ms="$3" k alphabet time_chars="" random_chars=""
    alphabet='-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz'
    for k in 6 5 4 3 2 1 0; do
        time_chars+="substr('$alphabet', 1 + ((t >> $((6 * k))) & 63), 1) || "
    done
    for _ in $(seq 1 23); do random_chars+="substr('$alphabet', 1 + (abs(random()) % 64), 1) || "; done
    random_chars="${random_chars% || }"
    cat <<EOF
-- $n clicks over the $span_ms ms before $end_ms.
PRAGMA journal_mode = WAL;
BEGIN;
CREATE TEMP TABLE ids AS
    SELECT (SELECT min(id) FROM affiliates) AS a0, (SELECT count(*) FROM affiliates) AS an,
           (SELECT min(id) FROM offers) AS o0, (SELECT count(*) FROM offers) AS onum;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n),
     c(i, t) AS (SELECT i, $end_ms - $span_ms + (i * $span_ms / $n) - 60000 FROM n)
INSERT INTO clicks (id, affiliate_id, offer_id, created_at, session_id, landing_url, referrer, user_agent, ip,
                    source, sub1, sub2)
SELECT $time_chars $random_chars,
       ids.a0 + (i * 7919) % ids.an,
       ids.o0 + CASE WHEN i % 10 < 8 THEN 0 ELSE 1 + i % (ids.onum - 1) END,
       t,
       CASE WHEN i % 3 = 0 THEN 'sess-' || (i / 3) END,
       NULL,
       CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'https://www.google.com/'
            WHEN 2 THEN 'https://www.reddit.com/r/running/comments/1c9x2k/which_shoes_for_a_first_marathon/'
            WHEN 3 THEN 'https://t.co/x8Kq2LmZpR' ELSE 'https://blog.trailnotes.example/reviews/2026/lightweight-trail-shoes' END,
       CASE i % 4 WHEN 0 THEN 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'
            WHEN 1 THEN 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1'
            WHEN 2 THEN 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36'
            ELSE 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15' END,
       (i % 223 + 1) || '.' || (i * 31 % 256) || '.' || (i * 17 % 256) || '.0',
       'link',
       CASE i % 7 WHEN 0 THEN 'spring_sale' WHEN 1 THEN 'newsletter' WHEN 2 THEN 'yt_review' ELSE NULL END,
       CASE WHEN i % 2 = 0 THEN CAST(i % 400 AS TEXT) END
FROM c, ids;
DELETE FROM daily_clicks;
INSERT INTO daily_clicks (day, affiliate_id, offer_id, clicks)
    SELECT created_at / 86400000, affiliate_id, offer_id, count(*) FROM clicks GROUP BY 1, 2, 3;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
EOF
}

# --- Open-loop load with oha (bench/latency, bench/profile --rate) -------------------------

# The inbound postback token (20+ characters) the servers of these scripts are started with.
export AFFILIATED_POSTBACK_TOKEN="bench-postback-token-0123456789"
BROWSER="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
CONNS="${CONNS:-64}"

# Sets OHA to the oha binary, installing it with cargo when it is missing.
find_oha() {
    OHA="$(command -v oha || true)"
    [ -n "$OHA" ] || [ ! -x "$HOME/.cargo/bin/oha" ] || OHA="$HOME/.cargo/bin/oha"
    if [ -z "$OHA" ]; then
        log "oha is missing; installing it with cargo install oha --locked"
        cargo install oha --locked >&2 || die "could not install oha"
        OHA="$HOME/.cargo/bin/oha"
    fi
}

# click_ids_re SETUP_LUA: 20 of the setup's click IDs as a regex alternation (awk, not head:
# with pipefail, head closing the pipe early would fail the whole pipeline).
click_ids_re() {
    sed -n 's/^  clicks = {//p' "$1" | tr ',' '\n' | tr -d '"' |
        awk 'length($0) >= 20 && n < 20 { printf "%s%s", (n++ ? "|" : ""), $0 }'
}

# url_pattern KIND PORT: the URLs of a case as an oha --rand-regex-url pattern (`\?` a literal
# question mark, `[.]` a literal dot); nginx answers every path with its 302. Conversions need
# CLICKS_RE (click_ids_re).
url_pattern() {
    local kind="$1" port="$2"
    case "$kind" in
    redirect | bare | notfound)
        local prefix=""
        [ "$kind" = notfound ] && prefix="/nothing"
        echo "http://127.0.0.1:$port$prefix/r/aff-0(0[1-9]|[1-4][0-9]|50)(|\\?sub1=(spring_sale|newsletter|yt_review|ig_story|brand)&sub2=[1-9][0-9]{0,2}|\\?offer=(main|trial|annual)&sub1=(blog_sidebar|retarget_7d))"
        ;;
    conversion)
        echo "http://127.0.0.1:$port/postback\\?token=$AFFILIATED_POSTBACK_TOKEN&order_id=lat-[a-z0-9]{20}&amount=[1-9][0-9]{0,2}[.][0-9]{2}&(coupon=SAVE-0(0[1-9]|[1-4][0-9]|50)|click_id=($CLICKS_RE))"
        ;;
    *) die "unknown case kind $kind (redirect, conversion, notfound or bare)" ;;
    esac
}

# oha_run RATE SECONDS PATTERN OUT [oha options...]: requests at a fixed rate over CONNS
# connections, latency measured from when each request was due; oha's JSON goes to OUT.
oha_run() {
    local rate="$1" seconds="$2" pattern="$3" out="$4"
    shift 4
    # -w: requests still in flight at the deadline are waited for and counted, not aborted.
    "$OHA" --no-tui --rand-regex-url -q "$rate" --latency-correction -c "$CONNS" -z "${seconds}s" -w \
        -H "User-Agent: $BROWSER" -H "Referer: https://www.google.com/" -H "Accept-Language: en-US,en;q=0.9" \
        --output-format json "$@" "$pattern" >"$out" 2>"$out.err"
}
