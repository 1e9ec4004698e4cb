"""Run a command as the terminal's foreground process group: `make run`'s recipe.

Ctrl-C in a terminal sends SIGINT to the terminal's foreground process group. Under `make run`
that group is make's own, and GNU make, on SIGINT, waits for its recipe and then kills itself
with the same signal (GNU make's commands.c, `fatal_error_signal`: "Signal the same code; this
time it will really be fatal"): the shell sees status 130, and make prints
`make: *** [Makefile:…: run] Interrupt` or `Error 130`, however cleanly the recipe stopped.
So the command gets a process group of its own and the terminal with it: Ctrl-C reaches the
command only (scripts/run.sh stops siyu and exits 0), and make just sees it exit, with 0.
When it ends, the terminal goes back to make's group.

Without a terminal (CI, output piped, `make run &`) the command simply runs in make's group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType


def _terminal() -> int | None:
    """The controlling terminal, if this process's group is in its foreground."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(tty) == os.getpgrp():
            return tty
    except OSError:
        pass
    os.close(tty)
    return None


def run_in_foreground(argv: list[str]) -> int:
    tty = _terminal()
    if tty is None:
        os.execvp(argv[0], argv)  # noqa: S606 (the recipe's own command)
    # A background group that hands the terminal over (and takes it back) is sent SIGTTOU.
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            os.tcsetpgrp(tty, os.getpgrp())
            os.close(tty)
            signal.signal(signal.SIGTTOU, signal.SIG_DFL)
            os.execvp(argv[0], argv)  # noqa: S606
        except BaseException as exc:
            print(f"foreground.py: {argv[0]}: {exc}", file=sys.stderr)
        os._exit(127)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # on both sides: whichever runs first

    def forward(signum: int, _frame: FrameType | None) -> None:
        # make passes SIGTERM to its recipe, a closing terminal sends SIGHUP: to the command too
        with contextlib.suppress(OSError):
            os.killpg(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    # A Ctrl-C pressed before the command held the terminal is the command's to answer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            break
        # Ctrl-Z stopped the command: the terminal goes back to make's group, which stops too,
        # so that the shell sees its job stopped; `fg` continues make's group, and with it us,
        # and the command gets the terminal back and goes on.
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, os.getpgrp())
        os.killpg(os.getpgrp(), signal.SIGSTOP)
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, pid)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGCONT)
    with contextlib.suppress(OSError):
        os.tcsetpgrp(tty, os.getpgrp())
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: foreground.py COMMAND [ARG…]")
    sys.exit(run_in_foreground(sys.argv[1:]))
