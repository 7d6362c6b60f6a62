#!/usr/bin/env bash
# Background work on a release build:
#   events/s — per transport, side by side in one run: the database's outbox, the
#              machine's RabbitMQ (a vhost of its own) and its Redis (a key prefix of its
#              own), each deleted at the end. N sign-ups queued with no worker running,
#              then one `mercado worker` writing the welcome mails as .eml files, timed
#              until the last one lands (through a broker: relayed from the outbox, then
#              consumed from it);
#   import   — a ROWS-row CSV through POST /api/v1/products/import, timed from 202 to
#              `succeeded`, with the server's peak RSS (the upload is never held whole).
# Usage: bench/background.sh [database-url=sqlite] [sign-ups=2000] [rows=100000]
# (with a database URL, its database is shared by the three runs: give a fresh one.)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
given_url=${1:-}
signups=${2:-2000}
rows=${3:-100000}
cargo build --release --locked -q -p mercado-server
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
export MERCADO_BIND="127.0.0.1:$port" RUST_LOG=warn MERCADO_PASSWORD_ROUNDS=1000 \
  MERCADO_JWT_SECRET=bench-secret-bench-secret-bench-secret \
  MERCADO_FIRST_SUPERUSER_EMAIL=admin@example.com MERCADO_FIRST_SUPERUSER_PASSWORD=admin-password \
  MERCADO_WORKER_POLL_MS=50
vhost=mercado-bench-$$
prefix=mercado-bench-$$
server=
worker=
cleanup() {
  kill $server $worker 2>/dev/null || true
  rm -rf "$dir"
  rabbitmqctl -q delete_vhost "$vhost" 2>/dev/null || true
  redis-cli DEL "$prefix:events" "$prefix:events:dead" >/dev/null 2>&1 || true
}
trap cleanup EXIT
rabbitmqctl -q add_vhost "$vhost"
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*'

wait_up() { for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done; }

# events <transport>: sign-ups on a fresh database, then one worker mails them.
events() {
  local transport=$1 run="$dir/$1"
  mkdir -p "$run"
  export DATABASE_URL=${given_url:-"sqlite://$run/bench.db?mode=rwc"} MERCADO_MAIL_DIR="$run/mail"
  unset MERCADO_AMQP_URL MERCADO_REDIS_URL MERCADO_REDIS_PREFIX
  case $transport in
    rabbitmq) export MERCADO_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$vhost" ;;
    redis) export MERCADO_REDIS_URL="redis://127.0.0.1:6379/0" MERCADO_REDIS_PREFIX=$prefix ;;
  esac
  MERCADO_RUN_WORKER=false target/release/mercado serve &
  server=$!
  wait_up
  python3 - "$base" "$signups" "$transport" <<'PY'
import concurrent.futures, json, sys, urllib.request
base, n, run = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def signup(i):
    body = json.dumps({"email": f"bench-{run}-{i}@example.com", "password": "bench-password"}).encode()
    req = urllib.request.Request(base + "/api/v1/users", body, {"content-type": "application/json"})
    urllib.request.urlopen(req).read()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(signup, range(n)))
PY
  expected=$signups   # (the first run mails the first superuser too; it is not counted)
  start=$(date +%s.%N)
  target/release/mercado worker &
  worker=$!
  while [[ $(find "$run/mail" -name '*.eml' 2>/dev/null | wc -l) -lt $expected ]]; do sleep 0.05; done
  end=$(date +%s.%N)
  kill $worker; wait $worker 2>/dev/null || true; worker=
  python3 -c "print(f'events ($transport): $expected welcome mails in {$end - $start:.2f} s = {$expected / ($end - $start):.0f} events/s')"
  kill $server; wait $server 2>/dev/null || true; server=
}

for transport in database rabbitmq redis; do events $transport; done

export DATABASE_URL=${given_url:-"sqlite://$dir/import.db?mode=rwc"} MERCADO_MAIL_DIR="$dir/mail"
unset MERCADO_AMQP_URL MERCADO_REDIS_URL
target/release/mercado serve &
server=$!
wait_up
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
