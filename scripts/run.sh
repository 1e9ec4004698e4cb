#!/usr/bin/env bash
# `make run`: serve siyu with the sandbox WeChat, replay a simulated week, then keep simulated
# users arriving so that the console shows pushes landing live. Ctrl-C stops everything.
set -euo pipefail
BIN=.venv/bin
HOST=${SIYU_HOST:-127.0.0.1}
PORT=${SIYU_PORT:-8000}
URL="http://$HOST:$PORT"

"$BIN/siyu" migrate
"$BIN/siyu" bootstrap --demo
"$BIN/siyu" serve --host "$HOST" --port "$PORT" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 60); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "siyu serve exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$URL/healthz" >/dev/null || { echo "siyu did not start on $URL" >&2; exit 1; }

if [ "${SIYU_SANDBOX:-true}" = "true" ] && [ "${SIYU_SIMULATE:-true}" = "true" ]; then
  echo "simulating a week of 40 users through the sandbox WeChat…"
  # --campaign: logged-in users enroll in the demo activity, pay its deposit through the
  # sandbox's Pay, and check in today; `siyu demo community` replays the earlier days.
  "$BIN/siyu" sandbox simulate --users 40 --days 7 --campaign --siyu "$URL" || true
  "$BIN/siyu" demo community || true
  echo "console: $URL/  (new simulated users keep arriving every 30 s; Ctrl-C to stop)"
  seed=100
  while kill -0 "$server" 2>/dev/null; do
    sleep 30
    seed=$((seed + 1))
    "$BIN/siyu" sandbox simulate --users 3 --days 1 --live --seed "$seed" --siyu "$URL" \
      >/dev/null 2>&1 || true
  done
else
  echo "console: $URL/"
  wait "$server"
fi
