"""The console in a real browser: siyu served as `make run` serves it (migrate, bootstrap with
the demo, `siyu serve` with the sandbox mounted, a simulated population), Debian's Chromium
driven by Playwright, and what a person's eye would catch on a page (a JavaScript error, a
failed request, English in the chrome).

The server is a process of the test's own, started and stopped by its pid; waiting is on
conditions with deadlines, never on sleeps for timing.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Request,
    Response,
    ViewportSize,
)

from siyu.core.crypto import generate_data_key
from tests.support.processes import SIYU, Process, free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
# What works on a closed network: without the background-networking flags Chromium's own
# connections (updates, sync, safe browsing) are refused in bulk and it stalls. Playwright
# gives every launch a fresh profile directory of its own (a --user-data-dir of ours would be
# refused: launch_persistent_context is its way to keep one).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The browser's own words (a form's validation bubble: "请填写此字段。") in Chinese, as an
    # operator's Chromium shows them. On Linux Chromium takes its UI language from the
    # environment (LANGUAGE, LC_ALL, LANG) and ignores --lang (tried with Chromium 156; also
    # github.com/chrome-php/chrome/pull/414), and needs Debian's chromium-l10n for the zh-CN
    # strings: both are set, --lang for other systems.
    "--lang=zh-CN",
]
CHROMIUM_ENV: dict[str, str | float | bool] = {**os.environ, "LANGUAGE": "zh_CN:zh"}
CHROMIUM_ZH_CN = Path("/usr/lib/chromium/locales/zh-CN.pak")  # from chromium-l10n
OWNER_EMAIL = "owner@siyu.test"
OWNER_PASSWORD = "浏览器里选的-2026-春"  # what the owner chooses at the first sign-in
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "e2e-screenshots"


@dataclass
class ConsoleServer:
    """`siyu serve` with the sandbox mounted, on a fresh SQLite database in `root`."""

    root: Path
    port: int = field(default_factory=free_port)
    process: Process | None = None
    one_time_password: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
        env.update(
            SIYU_ENV="development",
            SIYU_SANDBOX="true",
            SIYU_DATABASE_URL=f"sqlite:///{self.root / 'siyu.db'}",
            SIYU_DATA_DIR=str(self.root / "data"),
            SIYU_QUEUE_PATH=str(self.root / "queue.db"),
            SIYU_SECRET_KEY=secrets.token_urlsafe(32),
            SIYU_DATA_KEYS=f"e2e:{generate_data_key()}",
            SIYU_LOOKUP_KEY=secrets.token_urlsafe(32),
            SIYU_ADMIN_EMAIL=OWNER_EMAIL,
            SIYU_PORT=str(self.port),
            SIYU_LOG_JSON="true",
        )
        return env

    def _run(self, env: dict[str, str], *args: str) -> str:
        done = subprocess.run(
            [*SIYU, *args],
            env=env,
            cwd=self.root,  # no developer's .env is read
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"siyu {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self) -> ConsoleServer:
        """What `make run` does, with a smaller simulated population."""
        self.root.mkdir(parents=True, exist_ok=True)
        env = self.env
        signin = self.root / "signin.txt"
        self._run(env, "migrate")
        self._run(env, "bootstrap", "--demo", "--signin-file", str(signin))
        found = re.search(r"one-time password (\S+)", signin.read_text(encoding="utf-8"))
        assert found, signin.read_text(encoding="utf-8")
        self.one_time_password = found.group(1)
        self.process = Process(
            "web",
            [*SIYU, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env,
            self.root / "serve.log",
        )
        self.process.start()
        # 120 s, as for `make run` (tests/cli/test_run_script.py): on a shared 2-core machine
        # under load, start-up was seen to take more than 60 s and fail all 43 browser tests
        wait_until(self._healthy, 120, f"siyu serve answers on {self.url} ({self.root})")
        # Sandbox users follow, log in to the Mini Program, share their phones, enroll in the
        # demo activity and pay its deposit: members, payments and check-ins to look at.
        self._run(
            env,
            *("sandbox", "simulate", "--users", "16", "--days", "2", "--campaign"),
            *("--seed", "17", "--siyu", self.url),
        )
        self._run(env, "demo", "community")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        assert self.process.alive, self.log_tail()
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def log_tail(self, lines: int = 40) -> str:
        return self.process.tail(lines) if self.process else ""


@dataclass
class Watch:
    """What went wrong on a page that a person would see or the console would show: a
    JavaScript error, an uncaught exception, a request that failed or was answered 5xx."""

    problems: list[str] = field(default_factory=list)
    # The confirmations the page asked for (window.confirm, htmx's hx-confirm): accepted, kept.
    dialogs: list[str] = field(default_factory=list)
    # Answers a test provokes on purpose (an inline 4xx); any other 4xx is a problem too.
    expected_statuses: set[int] = field(default_factory=set)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        # Chromium logs every 4xx as a console error, and htmx one it swapped in as its own:
        # one provoked on purpose is none.
        refused = re.match(
            r"(?:Failed to load resource: .* status of|Response Status Error Code) (\d{3})",
            message.text,
        )
        if refused and int(refused.group(1)) in self.expected_statuses:
            return
        self.problems.append(f"console error: {message.text} ({message.location})")

    def _failed(self, request: Request) -> None:
        failure = request.failure or ""
        # A download handed to the browser, or a navigation that replaced the page, aborts
        # the request it came from: neither is a failure a person sees.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url} {failure}")

    def _response(self, response: Response) -> None:
        status = response.status
        if status >= 500 or (status >= 400 and status not in self.expected_statuses):
            self.problems.append(f"HTTP {status}: {response.request.method} {response.url}")

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        return found


@dataclass
class Person:
    """A browser context of one operator and the page they look at."""

    context: BrowserContext
    page: Page
    watch: Watch
    base: str

    def go(self, path: str) -> Response:
        response = self.page.goto(self.base + path)
        assert response is not None, path
        self.page.wait_for_load_state("load")
        return response

    def clean(self) -> None:
        """No JavaScript error and no failed request since the last check."""
        assert self.watch.take() == [], self.page.url

    def close(self) -> None:
        self.context.close()


def open_person(browser: Browser, base: str, viewport: ViewportSize = DESKTOP) -> Person:
    context = browser.new_context(
        base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", viewport=viewport
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    return Person(context, page, watch, base)


def sign_in(person: Person, email: str, password: str) -> None:
    page = person.page
    person.go("/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("load")


def change_password(person: Person, current: str, new: str) -> None:
    """On 我的账号, as a person: the current password, the new one twice."""
    page = person.page
    form = page.locator("#password form")
    form.get_by_label("当前密码").fill(current)
    form.get_by_label("新密码", exact=True).fill(new)
    form.get_by_label("再次输入新密码").fill(new)
    form.get_by_role("button", name="修改密码").click()
    page.wait_for_load_state("load")


def sign_out(person: Person) -> None:
    person.page.get_by_role("button", name="退出登录").click()
    person.page.wait_for_url("**/login**")


# An English sentence in the chrome: three or more Latin words in a row. Product names
# (WeChat's own terms, OpenID, CSV, JSON) are single words and stay.
ENGLISH_SENTENCE = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){2,}\b")
CJK = re.compile(r"[\u4e00-\u9fff]")


def english_sentences(text: str) -> list[str]:
    return ENGLISH_SENTENCE.findall(text)


def chrome_text(page: Page) -> str:
    """The page's own words: headings, labels, buttons, hints, navigation; not the data
    (table cells, code, inputs' values), which may be English because someone typed it."""
    text: str = page.evaluate(
        """() => {
          const root = document.body.cloneNode(true);
          root.querySelectorAll('td, code, pre, .mono, script, style, option, textarea, '
            + '.chart, [data-chart], [data-bar-chart], .lang-switch, .break, .props')
            .forEach(e => e.remove());
          return root.innerText;
        }"""
    )
    return text


def page_scrolls_sideways(page: Page) -> bool:
    width: bool = page.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
    )
    return width


def screenshot_all(browser: Browser, name: str) -> list[Path]:
    """A full-page screenshot of every page open in the browser; the files written."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-120:]
    written: list[Path] = []
    for c, context in enumerate(browser.contexts):
        for p, page in enumerate(context.pages):
            path = SCREENSHOTS / f"{safe}-{c}{p}.png"
            try:
                page.screenshot(path=str(path), full_page=True, timeout=5_000)
            except Exception:
                continue
            written.append(path)
    return written


def nav_links(page: Page) -> Iterator[tuple[str, str]]:
    for link in page.locator("nav.nav a").all():
        yield (link.inner_text().strip(), link.get_attribute("href") or "")


class SandboxUser:
    """A WeChat user of the sandbox, acting through its admin API (their phone, in effect)."""

    def __init__(self, server: ConsoleServer, seed: int) -> None:
        self.admin = f"{server.url}/sandbox/sandbox-admin"
        self.siyu = server.url
        accounts = httpx.get(f"{self.admin}/accounts", timeout=10).json()
        self.oa = next(a["appid"] for a in accounts if a["kind"] == "oa_service")
        self.mp = next(a["appid"] for a in accounts if a["kind"] == "mp")
        [user] = httpx.post(f"{self.admin}/users", json={"count": 1, "seed": seed}).json()
        self.uid: str = user["uid"]
        self.phone: str = user["phone"]

    def act(self, kind: str, appid: str) -> None:
        action = {"kind": kind, "uid": self.uid, "appid": appid, "siyu_url": self.siyu}
        outcome = httpx.post(f"{self.admin}/actions", json=action, timeout=30).json()
        assert outcome["ok"], outcome

    def inbox(self) -> list[dict[str, Any]]:
        got = httpx.get(f"{self.admin}/users/{self.uid}/inbox", params={"appid": self.oa})
        return list(got.json())
