#!/usr/bin/env bash
# `make run`: serve siyu with the sandbox WeChat, replay a simulated week, then keep simulated
# users arriving so that the console shows pushes landing live. Ctrl-C stops everything, with
# exit status 0 (a stop asked for is no failure: make prints no "Error").
set -euo pipefail
BIN=.venv/bin
HOST=${SIYU_HOST:-127.0.0.1}
PORT=${SIYU_PORT:-8000}
URL="http://$HOST:$PORT"

server=""
signin=$(mktemp)
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -f "$signin"
}
trap cleanup EXIT
trap 'echo; echo "stopping siyu…"; exit 0' INT TERM

# The console's address and the owner's sign-in, where a person will see them: at the end of
# the output, after the server's start-up and the simulated week's log lines.
banner() {
  echo
  echo "=================================================================="
  echo "  siyu console: $URL/"
  sed 's/^/  /' "$signin"
  echo "  Ctrl-C stops siyu."
  echo "=================================================================="
  echo
}

"$BIN/siyu" migrate
# --signin-file: the owner's sign-in for the banner; a one-time password nobody used yet is
# replaced by a fresh one (the first run's scrolled away), one that was changed is left alone.
"$BIN/siyu" bootstrap --demo --signin-file "$signin"
# A world the sandbox saved on an earlier run is loaded by `serve`, with its users, their
# enrollments and the merchant's ledger: the simulated week is not replayed into it.
restored=false
if [ "${SIYU_SANDBOX:-true}" = "true" ] && "$BIN/siyu" sandbox saved-world; then
  restored=true
fi
"$BIN/siyu" serve --host "$HOST" --port "$PORT" &
server=$!

for _ in $(seq 1 60); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "siyu serve exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$URL/healthz" >/dev/null || { echo "siyu did not start on $URL" >&2; exit 1; }

if [ "${SIYU_SANDBOX:-true}" = "true" ] && [ "${SIYU_SIMULATE:-true}" = "true" ]; then
  if [ "$restored" = "false" ]; then
    echo "simulating a week of 40 users through the sandbox WeChat…"
    # --campaign: logged-in users enroll in the demo activity, pay its deposit through the
    # sandbox's Pay, and check in today; `siyu demo community` replays the earlier days.
    "$BIN/siyu" sandbox simulate --users 40 --days 7 --campaign --siyu "$URL" || true
    "$BIN/siyu" demo community || true
  fi
  banner
  echo "(new simulated users keep arriving every 30 s)"
  seed=100
  while kill -0 "$server" 2>/dev/null; do
    sleep 30
    seed=$((seed + 1))
    "$BIN/siyu" sandbox simulate --users 3 --days 1 --live --seed "$seed" --siyu "$URL" \
      >/dev/null 2>&1 || true
  done
else
  banner
  wait "$server"
fi
