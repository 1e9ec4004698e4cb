#!/usr/bin/env bash
# The browser tests (tests/e2e/console/) drive Debian's Chromium through Playwright; install it,
# its Chinese strings (chromium-l10n: the browser's own words, such as a form's validation
# bubble, in zh-CN) and a CJK font when missing. Never `playwright install`: its browser download cannot work on a
# closed network, while Debian's package comes through apt like every other system package.
set -u
BROWSER=/usr/bin/chromium
PACKAGES="chromium chromium-l10n fonts-noto-cjk"
ZH_CN=/usr/lib/chromium/locales/zh-CN.pak

have_browser() { [ -x "$BROWSER" ] && [ -f "$ZH_CN" ]; }
# Without a CJK font Chromium draws Chinese as boxes: the pages "render" but nobody can read them.
have_cjk_font() { dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed"; }

if have_browser && have_cjk_font; then
  exit 0
fi

fail() {
  echo "error: the browser tests need Debian's $PACKAGES ($1)." >&2
  echo "       Install them (apt-get install $PACKAGES) or run as root with apt reachable." >&2
  exit 1
}

command -v apt-get >/dev/null || fail "apt-get is not available on this machine"
[ "$(id -u)" -eq 0 ] || fail "installing them needs root"

echo "installing $PACKAGES for the browser tests (once)"
export DEBIAN_FRONTEND=noninteractive
# Another apt may hold the lock for a while (a shared machine): wait for it rather than fail.
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 -qq)
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
apt-get "${APT_OPTS[@]}" update >"$LOG" 2>&1 || { cat "$LOG" >&2; fail "apt-get update failed"; }
apt-get "${APT_OPTS[@]}" install -y --no-install-recommends $PACKAGES >"$LOG" 2>&1 \
  || { cat "$LOG" >&2; fail "apt-get install failed"; }
have_browser || fail "$BROWSER or $ZH_CN is still missing after the install"
have_cjk_font || fail "fonts-noto-cjk is still missing after the install"
echo "browser: $("$BROWSER" --version 2>/dev/null || echo "$BROWSER")"
