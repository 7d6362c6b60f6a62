#!/usr/bin/env bash
# The load run behind README's Performance table: `mercado serve` (release build) on
# SQLite, PostgreSQL or MariaDB, seeded through the API (1 000 products, a buyer), driven
# by wrk over loopback, beside the machine's own ceilings measured in the same run.
#
# Usage: bench/load.sh [sqlite|postgres|mariadb|all=all] [seconds=15] [connections=64]
# Needs wrk (and sysbench for MariaDB's ceiling): `apt-get install wrk sysbench`;
# pgbench comes with PostgreSQL. PostgreSQL and MariaDB as tests/databases.env names them.
# Each scenario gets a 3 s warm-up that is discarded. CPU per request is the server
# process's own (user + system), not the database's or wrk's.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
secs=${2:-15}
conns=${3:-64}
pg_admin=postgres://postgres@127.0.0.1:5432/postgres
my_host=(-h 127.0.0.1 -P 3306 -u root)
for tool in wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench/load.sh needs $tool (apt-get install wrk sysbench)"; exit 1; }
done

echo "building (release)..." >&2
cargo build --release --locked -q -p mercado-server
cargo bench --locked -q -p mercado-core --bench pbkdf2_ceiling --no-run 2>/dev/null
cargo bench --locked -q -p mercado-sqlx --features postgres,mysql --bench ceiling --no-run 2>/dev/null

work=$(mktemp -d)
server=
database=
cleanup() {
    if [[ -n $server ]]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi
    drop_database
    rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
cores=$(nproc)

# The scratch database of one run, made here and dropped at exit.
make_database() {
    local kind=$1 name
    name="mercado_bench_$$_$RANDOM"
    case $kind in
        sqlite) database="sqlite://$work/$name.db?mode=rwc" ;;
        postgres)
            psql -q "$pg_admin" -c "CREATE DATABASE $name"
            database="postgres://postgres@127.0.0.1:5432/$name" ;;
        mariadb)
            mysql "${my_host[@]}" -e "CREATE DATABASE $name"
            database="mysql://root@127.0.0.1:3306/$name" ;;
    esac
}
drop_database() {
    case $database in
        postgres://*) psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS ${database##*/} WITH (FORCE)" ;;
        mysql://*) mysql "${my_host[@]}" -e "DROP DATABASE IF EXISTS ${database##*/}" ;;
    esac
    database=
}

start_server() {
    port=$((20000 + RANDOM % 20000))
    base="http://127.0.0.1:$port"
    DATABASE_URL=$database MERCADO_BIND="127.0.0.1:$port" RUST_LOG=warn \
        MERCADO_JWT_SECRET=bench-secret-bench-secret-bench-secret \
        MERCADO_FIRST_SUPERUSER_EMAIL=admin@example.com MERCADO_FIRST_SUPERUSER_PASSWORD=admin-password \
        MERCADO_MAIL_DIR="$work/mail" target/release/mercado serve &
    server=$!
    for _ in $(seq 100); do curl -sf "$base/health/ready" >/dev/null && return; sleep 0.1; done
    echo "the server did not become ready"; exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }

# 1 000 products (stock enough for every order of the run) and a buyer, through the API.
seed() {
    python3 - "$port" "$work" <<'PY'
import http.client, json, sys
port, work = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body=None, token=None, form=False):
    headers = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
    if token: headers["Authorization"] = "Bearer " + token
    c.request(method, path, body if form else json.dumps(body), headers)
    r = c.getresponse(); data = json.loads(r.read() or b"null")
    assert r.status < 300, (path, r.status, data)
    return data
admin = call("POST", "/api/v1/login/token", "username=admin@example.com&password=admin-password", form=True)["access_token"]
ids = [call("POST", "/api/v1/products", {"name": f"Product {i:04}", "price": f"{1 + i % 97}.{i % 100:02}",
                                          "stock": 1_000_000_000}, admin)["id"] for i in range(1000)]
open(f"{work}/ids", "w").write("\n".join(ids) + "\n")
call("POST", "/api/v1/users", {"email": "buyer@example.com", "password": "buyer-password"})
buyer = call("POST", "/api/v1/login/token", "username=buyer@example.com&password=buyer-password", form=True)
open(f"{work}/token", "w").write(buyer["access_token"])
PY
}

cat > "$work/product.lua" <<'LUA'
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function() return wrk.format("GET", "/api/v1/products/" .. ids[math.random(#ids)]) end
LUA
cat > "$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=buyer@example.com&password=buyer-password"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
cat > "$work/order.lua" <<'LUA'
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
request = function()
    return wrk.format(nil, "/api/v1/orders", nil,
        '{"items": [{"product_id": "' .. ids[math.random(#ids)] .. '", "quantity": 1}]}')
end
LUA
export BENCH_IDS="$work/ids"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
# wrk's report → "rps p50 p99 requests non2xx"
parse() {
    awk '/Requests\/sec/ { rps = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
         / requests in / { n = $1 } /Non-2xx/ { bad = $5 }
         END { printf "%s %s %s %s %d\n", rps, p50, p99, n, bad }'
}
# row <label> <parsed wrk report> <cpu before> <cpu after>: one table row, kept for the ratios.
row() {
    local label=$1 rps p50 p99 n bad before after
    read -r rps p50 p99 n bad <<<"$2"
    before=$3 after=$4
    printf '| %s | %.0f | %s | %s | %s µs | %s |\n' "$label" "$rps" "$p50" "$p99" \
        "$(python3 -c "print(round(($after - $before) / $tick / $n * 1e6))")" "$bad"
    echo "${label// /-} $rps $p99" >>"$work/results"
}
# scenario <label> <wrk args...>: a discarded warm-up, then the measured run.
scenario() {
    local label=$1 before after out
    shift
    wrk -t2 -c"$conns" -d3s "$@" >/dev/null
    before=$(cpu_ticks)
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" | parse)
    after=$(cpu_ticks)
    row "$label" "$out" "$before" "$after"
}

ms() { # "1.23ms" / "456.00us" / "1.2s" → milliseconds
    python3 -c "import re,sys; v,u=re.match(r'([\d.]+)(\w+)','$1').groups(); print(float(v)*{'us':1e-3,'ms':1,'s':1e3}[u])"
}
value() { awk -v k="$1" '$1 == k { print $'"$2"' }' "$work/results"; }

echo "# Mercado load run: $(date -u +%F), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), ${conns} connections, ${secs} s"
hashes=$(cargo bench --locked -q -p mercado-core --bench pbkdf2_ceiling -- 5 2>/dev/null | cut -d' ' -f1)
echo "pbkdf2-sha256 ceiling (29 000 rounds, $cores threads): $hashes hashes/s"

run_one() {
    local kind=$1
    : >"$work/results"
    make_database "$kind"
    start_server
    seed
    export BENCH_TOKEN
    BENCH_TOKEN=$(cat "$work/token")
    echo
    echo "## $kind"
    echo
    echo "| scenario | rps | p50 | p99 | server CPU/request | non-2xx |"
    echo "|---|---|---|---|---|---|"
    scenario health "$base/health"
    scenario product -s "$work/product.lua" "$base/"
    scenario list "$base/api/v1/products?limit=20"
    scenario login -s "$work/login.lua" "$base/api/v1/login/token"
    scenario order -s "$work/order.lua" "$base/"
    # Product reads while logins saturate the CPU: one wrk each, half the connections each.
    local half=$((conns / 2)) before after out
    wrk -t1 -c"$half" -d"$((secs + 5))s" --latency -s "$work/login.lua" "$base/api/v1/login/token" >"$work/bg" &
    local logins=$!
    sleep 2
    before=$(cpu_ticks)
    out=$(wrk -t1 -c"$half" -d"${secs}s" --latency -s "$work/product.lua" "$base/" | parse)
    after=$(cpu_ticks)
    wait "$logins"
    row "product during logins" "$out" "$before" "$after"
    printf '| logins meanwhile | %.0f | %s | %s | | %s |\n' $(parse <"$work/bg" | awk '{ print $1, $2, $3, $5 }')
    stop_server

    echo
    local select update pk
    select=$(cargo bench --locked -q -p mercado-sqlx --features postgres,mysql --bench ceiling -- "$database" select "$conns" 10 2>/dev/null)
    update=$(cargo bench --locked -q -p mercado-sqlx --features postgres,mysql --bench ceiling -- "$database" update "$conns" 10 2>/dev/null)
    case $kind in
        postgres)
            pgbench -q -i -s 1 "${database}" >/dev/null 2>&1
            pk=$(pgbench -n -S -c "$conns" -j "$cores" -T 10 "$database" 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }')
            echo "pgbench -S (primary-key selects), $conns clients: $pk tps" ;;
        mariadb)
            if command -v sysbench >/dev/null; then
                local sb=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-port=3306 --mysql-user=root
                    --mysql-db="${database##*/}" --tables=1 --table-size=100000)
                sysbench oltp_point_select "${sb[@]}" prepare >/dev/null
                pk=$(sysbench oltp_point_select "${sb[@]}" --threads="$conns" --time=10 run \
                    | awk '/queries:/ { gsub(/\(/, "", $3); printf "%.0f", $3 }')
                echo "sysbench oltp_point_select, $conns threads: $pk selects/s"
            fi ;;
    esac
    pk=${pk:-$select}
    echo "executor on sqlx, $conns tasks: $select primary-key selects/s, $update bare stock updates/s"
    local product_rps login_rps order_rps p99_alone p99_mixed
    product_rps=$(value product 2) login_rps=$(value login 2) order_rps=$(value order 2)
    p99_alone=$(ms "$(value product 3)") p99_mixed=$(ms "$(value product-during-logins 3)")
    python3 - <<PY
print(f"ratios: product/PK select {$product_rps / $pk:.2f} (target >= 0.5); "
      f"login/pbkdf2 {$login_rps / $hashes:.2f} (>= 0.9); "
      f"product p99 during logins / alone {$p99_mixed / $p99_alone:.2f} (<= 2); "
      f"order/bare update {$order_rps / $update:.2f} (>= 0.5)")
PY
    drop_database
}

case $which in
    all) for kind in sqlite postgres mariadb; do run_one "$kind"; done ;;
    sqlite | postgres | mariadb) run_one "$which" ;;
    *) echo "usage: bench/load.sh [sqlite|postgres|mariadb|all] [seconds] [connections]"; exit 2 ;;
esac

# Start to ready and idle memory, on an existing SQLite database of 1 000 products.
echo
make_database sqlite
start_server
seed
stop_server
python3 - "$database" <<'PY'
import os, socket, subprocess, sys, time
port = 20000 + int.from_bytes(os.urandom(2), "big") % 20000
env = dict(os.environ, DATABASE_URL=sys.argv[1], MERCADO_BIND=f"127.0.0.1:{port}", RUST_LOG="warn",
           MERCADO_JWT_SECRET="bench-secret-bench-secret-bench-secret")
started = time.monotonic()
p = subprocess.Popen(["target/release/mercado", "serve"], env=env)
while True:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /health/ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                break
    except OSError:
        time.sleep(0.001)
ready = (time.monotonic() - started) * 1000
time.sleep(3)
rss = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS"))
p.terminate(); p.wait()
print(f"start to ready on an existing SQLite database: {ready:.0f} ms (target <= 150); idle RSS {rss / 1024:.1f} MiB (<= 30)")
PY
