#!/usr/bin/env bash
# A quick load run on SQLite: login throughput against the pbkdf2 ceiling, and product
# reads alone and while logins saturate the CPU. Needs wrk (Debian package `wrk`).
# Usage: bench/login-load.sh [seconds=15] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
conns=${2:-64}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
cargo build --release --locked -q -p mercado-server
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
DATABASE_URL="sqlite://$dir/bench.db?mode=rwc" MERCADO_BIND="127.0.0.1:$port" RUST_LOG=warn \
  MERCADO_JWT_SECRET=bench-secret-bench-secret-bench-secret \
  MERCADO_FIRST_SUPERUSER_EMAIL=admin@example.com MERCADO_FIRST_SUPERUSER_PASSWORD=admin-password \
  target/release/mercado serve &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

token=$(curl -sf -X POST "$base/api/v1/login/token" -d 'username=admin@example.com&password=admin-password' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
product=$(curl -sf -X POST "$base/api/v1/products" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name": "Bench", "price": "1.00", "stock": 1000}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -X POST "$base/api/v1/users" -H 'content-type: application/json' -d '{"email": "bench@example.com", "password": "bench-password"}' >/dev/null

cat > "$dir/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=bench@example.com&password=bench-password"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

summary() { awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {printf "%s rps, p50 %s, p99 %s\n", rps, p50, p99}'; }

wrk -t2 -c"$conns" -d3s "$base/api/v1/products/$product" >/dev/null   # warm-up, discarded
echo "GET product alone:         $(wrk -t2 -c"$conns" -d"${secs}s" --latency "$base/api/v1/products/$product" | summary)"
echo "login alone:               $(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$dir/login.lua" "$base/api/v1/login/token" | summary)"
wrk -t1 -c"$conns" -d"$((secs + 4))s" --latency -s "$dir/login.lua" "$base/api/v1/login/token" >"$dir/bg.txt" &
logins=$!
sleep 2
echo "GET product during logins: $(wrk -t1 -c"$conns" -d"${secs}s" --latency "$base/api/v1/products/$product" | summary)"
wait "$logins"
echo "logins meanwhile:          $(summary <"$dir/bg.txt")"
echo "pbkdf2 ceiling: cargo bench -p mercado-core (one hash at 29000 rounds; x cores = hashes/s)"
