"""The sandbox world saved to a JSON file and loaded back, so that it survives a restart.

WeChat's servers do not forget users, tokens or a merchant's ledger when siyu restarts; the
sandbox plays them, so its world (accounts, users and their follows, tokens, one-time codes,
Pay's merchants with their orders, refunds and pending notifications, the platform key, the
simulated clock) is written to one file atomically (a temporary file, then `os.replace`) while
it runs and at shutdown, and read at start. Faults, outages and bill downloads are transient
and not kept. Fields are encoded by their type hints, so a field added later is saved too, and
a snapshot lacking it loads with the field's default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import types
import typing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from siyu.sandbox.pay import Merchant, Notification, PayWorld
from siyu.sandbox.world import Account, IssuedToken, OneTimeCode, SandboxWorld, SimUser
from siyu.wechat import paycrypto

VERSION = 1
# The world between runs of `siyu serve`, in its data directory (`siyu sandbox saved-world`).
FILE_NAME = "sandbox-world.json"
MICRO = timedelta(microseconds=1)


class SnapshotError(Exception):
    """The file is not a sandbox snapshot this version can read."""


# -- encoding by type hint --------------------------------------------------------------------


def _args(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def encode(value: Any, hint: Any) -> Any:
    """`value` as JSON, guided by its type hint (dicts with non-string keys become pairs)."""
    if value is None:
        return None
    if _is_union(hint):
        options = [a for a in _args(hint) if a is not type(None)]
        return encode(value, options[0] if len(options) == 1 else Any)
    origin = typing.get_origin(hint)
    if origin is dict:
        key_hint, value_hint = _args(hint)
        if key_hint is str:
            return {k: encode(v, value_hint) for k, v in value.items()}
        return [[encode(k, key_hint), encode(v, value_hint)] for k, v in value.items()]
    if origin in (list, set):
        (item_hint,) = _args(hint)
        items = sorted(value) if origin is set else value
        return [encode(v, item_hint) for v in items]
    if origin is tuple:
        return [encode(v, h) for v, h in zip(value, _args(hint), strict=True)]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value // MICRO
    return value  # str, int, bool, float, Literal, or Any (already JSON: menus, resources)


def _encode_dataclass(value: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(type(value))
    return {
        f.name: encode(getattr(value, f.name), hints[f.name])
        for f in dataclasses.fields(value)
        if f.name not in _SKIPPED.get(type(value), ())
    }


def decode(data: Any, hint: Any) -> Any:
    """The inverse of `encode` for the same hint."""
    if data is None:
        return None
    if _is_union(hint):
        options = [a for a in _args(hint) if a is not type(None)]
        return decode(data, options[0] if len(options) == 1 else Any)
    origin = typing.get_origin(hint)
    if origin is dict:
        key_hint, value_hint = _args(hint)
        if key_hint is str:
            return {k: decode(v, value_hint) for k, v in data.items()}
        return {decode(k, key_hint): decode(v, value_hint) for k, v in data}
    if origin is list:
        return [decode(v, _args(hint)[0]) for v in data]
    if origin is set:
        return {decode(v, _args(hint)[0]) for v in data}
    if origin is tuple:
        return tuple(decode(v, h) for v, h in zip(data, _args(hint), strict=True))
    if isinstance(hint, type):
        return _decode_class(data, hint)
    return data


def _decode_class(data: Any, hint: type[Any]) -> Any:
    if issubclass(hint, BaseModel):
        return hint.model_validate(data)
    if dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, data)
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint is date:
        return date.fromisoformat(data)
    if hint is timedelta:
        return int(data) * MICRO
    return data


def _decode_dataclass(cls: type[Any], data: dict[str, Any], **extra: Any) -> Any:
    hints = typing.get_type_hints(cls)
    # A field the file lacks (saved before it existed) takes its default.
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    values = {k: decode(v, hints[k]) for k, v in data.items() if k in known}
    return cls(**values, **extra)


# Fields rebuilt on load rather than saved: the merchant's public key comes from its spec.
_SKIPPED: dict[type[Any], tuple[str, ...]] = {Merchant: ("public_key",)}


# -- the world and Pay ------------------------------------------------------------------------


def dump(world: SandboxWorld, pay: PayWorld) -> dict[str, Any]:
    """Everything that survives a restart, as JSON (Pay's lock first, as Pay's calls take it)."""
    with pay.lock, world.lock:
        rng = world._rng.getstate()
        return {
            "version": VERSION,
            "world": {
                "offset": encode(world.offset, timedelta),
                "token_serial": world._token_serial,
                "rng": [rng[0], list(rng[1]), rng[2]],
                "accounts": encode(world.accounts, dict[str, Account]),
                "users": encode(world.users, dict[str, SimUser]),
                "tokens": encode(world.tokens, dict[str, IssuedToken]),
                "codes": encode(world.codes, dict[str, OneTimeCode]),
            },
            "pay": {
                # siyu verifies notifications with the platform key it was given: keep it.
                "platform_key": paycrypto.private_pem(pay.platform_key),
                "merchants": encode(pay.merchants, dict[str, Merchant]),
                "prepays": encode(pay.prepays, dict[str, tuple[str, str]]),
                "transactions": encode(pay.transactions, dict[str, tuple[str, str]]),
                "outbox": encode(pay.outbox, dict[str, Notification]),
            },
        }


def restore(world: SandboxWorld, pay: PayWorld, data: dict[str, Any]) -> None:
    """Replace the state of `world` and `pay` with a dump's."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise SnapshotError(f"not a version-{VERSION} sandbox snapshot")
    saved, saved_pay = data["world"], data["pay"]
    merchants = {
        mchid: _merchant(raw) for mchid, raw in dict(saved_pay.get("merchants", {})).items()
    }
    with pay.lock, world.lock:
        world.offset = decode(saved["offset"], timedelta)
        world._token_serial = int(saved["token_serial"])
        version, state, gauss = saved["rng"]
        # Message ids continue where they stopped: the same MsgId twice would be a duplicate.
        world._rng.setstate((version, tuple(state), gauss))
        world.accounts = decode(saved["accounts"], dict[str, Account])
        world.users = decode(saved["users"], dict[str, SimUser])
        world.tokens = decode(saved["tokens"], dict[str, IssuedToken])
        world.codes = decode(saved["codes"], dict[str, OneTimeCode])
        world._openids = {
            openid: (user.uid, appid)
            for user in world.users.values()
            for appid, openid in user.openids.items()
        }
        pay._platform_key = paycrypto.load_private_key(saved_pay["platform_key"])
        pay.merchants = merchants
        pay.prepays = decode(saved_pay["prepays"], dict[str, tuple[str, str]])
        pay.transactions = decode(saved_pay["transactions"], dict[str, tuple[str, str]])
        pay.outbox = decode(saved_pay["outbox"], dict[str, Notification])


def _merchant(raw: dict[str, Any]) -> Merchant:
    hints = typing.get_type_hints(Merchant)
    spec = decode(raw["spec"], hints["spec"])
    fields = {k: v for k, v in raw.items() if k != "spec"}
    merchant: Merchant = _decode_dataclass(
        Merchant, fields, spec=spec, public_key=paycrypto.load_public_key(spec.merchant_public_key)
    )
    return merchant


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never half.

    The file holds app secrets and Pay keys: it is readable by its owner only.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save(world: SandboxWorld, pay: PayWorld, path: Path) -> str:
    """Write the world to `path` atomically; the text written."""
    text = json.dumps(dump(world, pay), ensure_ascii=False, sort_keys=True)
    write_atomically(path, text)
    return text


def load(world: SandboxWorld, pay: PayWorld, path: Path) -> bool:
    """Load `path` into `world` and `pay` if it exists; whether it did."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: not JSON ({exc})") from None
    restore(world, pay, data)
    return True


def saved_users(path: Path) -> int | None:
    """How many users the world saved at `path` holds; None when there is none to load."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    return len(data["world"]["users"])


class Keeper:
    """Saves the world to its file every `every` seconds when it changed, and at `stop`."""

    def __init__(self, world: SandboxWorld, pay: PayWorld, path: Path, every: float = 5.0):
        self.world, self.pay, self.path, self.every = world, pay, path, every
        self._last = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> bool:
        loaded = load(self.world, self.pay, self.path)
        if loaded:
            self._last = json.dumps(dump(self.world, self.pay), ensure_ascii=False, sort_keys=True)
        return loaded

    def save(self) -> bool:
        """Write the file if the world changed since the last write; whether it wrote."""
        with self._lock:
            text = json.dumps(dump(self.world, self.pay), ensure_ascii=False, sort_keys=True)
            if text == self._last:
                return False
            write_atomically(self.path, text)
            self._last = text
            return True

    def start(self) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.every):
                try:
                    self.save()
                except OSError:
                    continue

        self._thread = threading.Thread(target=loop, name="sandbox-snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the periodic saves and write the last state."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 5)
            self._thread = None
        self.save()
