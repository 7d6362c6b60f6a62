#!/usr/bin/env bash
# Background work on a release build, through the database transport, or through the
# machine's RabbitMQ with BENCH_AMQP=1 (in a vhost of its own, deleted at the end):
#   events/s — N sign-ups queued with no worker running, then one `mercado worker`
#              writing the welcome mails as .eml files, timed until the last one lands
#              (with the broker: relayed from the outbox, then consumed from the queue);
#   import   — a ROWS-row CSV through POST /api/v1/products/import, timed from 202 to
#              `succeeded`, with the server's peak RSS (the upload is never held whole).
# Usage: bench/background.sh [database-url=sqlite] [sign-ups=2000] [rows=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
url=${1:-"sqlite://$dir/bench.db?mode=rwc"}
signups=${2:-2000}
rows=${3:-100000}
cargo build --release --locked -q -p mercado-server
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
export DATABASE_URL=$url MERCADO_BIND="127.0.0.1:$port" RUST_LOG=warn MERCADO_PASSWORD_ROUNDS=1000 \
  MERCADO_JWT_SECRET=bench-secret-bench-secret-bench-secret MERCADO_MAIL_DIR="$dir/mail" \
  MERCADO_FIRST_SUPERUSER_EMAIL=admin@example.com MERCADO_FIRST_SUPERUSER_PASSWORD=admin-password \
  MERCADO_WORKER_POLL_MS=50
transport=database
vhost=
if [[ ${BENCH_AMQP:-0} == 1 ]]; then
  transport=broker
  vhost=mercado-bench-$$
  rabbitmqctl -q add_vhost "$vhost"
  rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*'
  export MERCADO_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$vhost"
fi
MERCADO_RUN_WORKER=false target/release/mercado serve &
server=$!
worker=
trap 'kill $server $worker 2>/dev/null; rm -rf "$dir"; [[ -z $vhost ]] || rabbitmqctl -q delete_vhost "$vhost"' EXIT
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

python3 - "$base" "$signups" <<'PY'
import concurrent.futures, json, sys, urllib.request
base, n = sys.argv[1], int(sys.argv[2])
def signup(i):
    body = json.dumps({"email": f"bench-{i}@example.com", "password": "bench-password"}).encode()
    req = urllib.request.Request(base + "/api/v1/users", body, {"content-type": "application/json"})
    urllib.request.urlopen(req).read()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(signup, range(n)))
PY
expected=$((signups + 1))   # and the first superuser's welcome
start=$(date +%s.%N)
target/release/mercado worker &
worker=$!
while [[ $(find "$dir/mail" -name '*.eml' 2>/dev/null | wc -l) -lt $expected ]]; do sleep 0.05; done
end=$(date +%s.%N)
kill $worker; wait $worker 2>/dev/null || true; worker=
python3 -c "print(f'events ($transport transport): $expected welcome mails in {$end - $start:.2f} s = {$expected / ($end - $start):.0f} events/s')"

kill $server; wait $server 2>/dev/null || true
target/release/mercado serve &
server=$!
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
python3 - "$dir/import.csv" "$rows" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("name,description,price,stock\n")
    for i in range(int(sys.argv[2])):
        f.write(f"Product {i},Imported for the benchmark,{i % 1000}.{i % 100:02d},{i % 50}\n")
PY
token=$(curl -sf -X POST "$base/api/v1/login/token" -d 'username=admin@example.com&password=admin-password' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
start=$(date +%s.%N)
location=$(curl -sf -D - -o /dev/null -X POST "$base/api/v1/products/import" -H "Authorization: Bearer $token" \
  -H 'content-type: text/csv' --data-binary "@$dir/import.csv" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
peak=0
while :; do
  job=$(curl -sf "$base$location" -H "Authorization: Bearer $token")
  rss=$(awk '/VmRSS/ {print $2}' /proc/$server/status); (( rss > peak )) && peak=$rss
  status=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["status"])' "$job")
  [[ $status == queued || $status == running ]] || break
  sleep 0.2
done
end=$(date +%s.%N)
python3 -c "
import json; j = json.loads('''$job''')
print(f'import: {j[\"progress\"][\"done\"]} rows, {j[\"status\"]}, {len(j[\"errors\"])} errors, in {$end - $start:.2f} s = {j[\"progress\"][\"done\"] / ($end - $start):.0f} rows/s; server peak RSS {$peak / 1024:.0f} MiB')"
