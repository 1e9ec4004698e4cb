"""Write samples/events.jsonl: a month of a small education brand's OA and MP, deterministically."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

MP = "wx5f3c9a1e7b2d4c60"  # 打卡小程序
OA = "wx8e1d2c3b4a596870"  # 示例服务号
PAGES = ["pages/index/index", "pages/activity/detail", "pages/checkin/today", "pages/me/index"]
CHANNELS = ["poster-2026-11", "menu-activity", "article-vocab21", "group-card"]


def ident(rng: random.Random, prefix: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return prefix + "".join(rng.choice(alphabet) for _ in range(28 - len(prefix)))


def main() -> None:
    rng = random.Random(20261123)  # noqa: S311 - reproducible sample data, not secrets
    start = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
    end = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a sample must not lie in the future
    lines: list[dict[str, object]] = []
    for n in range(40):
        unionid = ident(rng, "oU") if n % 4 else None  # a quarter never authorised UnionID
        oa_openid, mp_openid = ident(rng, "oOA"), ident(rng, "oMP")
        phone = f"139{n:04d}{rng.randint(1000, 9999)}" if n % 5 == 0 else None
        t = start + timedelta(hours=rng.randint(0, 24 * 30))
        # Followed the OA from a poster or menu first, often before any UnionID was known.
        lines.append(
            {
                "event": "oa.subscribe",
                "ts": t,
                "appid": OA,
                "openid": oa_openid,
                "channel": rng.choice(CHANNELS),
            }
        )
        for _ in range(rng.randint(1, 4)):
            t += timedelta(hours=rng.randint(1, 30))
            lines.append(
                {
                    "event": "mp.page_view",
                    "ts": t,
                    "appid": MP,
                    "openid": mp_openid,
                    "props": {"page": rng.choice(PAGES), "duration_s": rng.randint(3, 240)},
                }
            )
        t += timedelta(minutes=5)
        lines.append(
            {
                "event": "mp.login",
                "ts": t,
                "appid": MP,
                "openid": mp_openid,
                "unionid": unionid,
                "phone": phone,
            }
        )
        if unionid and n % 3 != 1:  # the OA later reports the same UnionID: one member
            t += timedelta(hours=2)
            lines.append(
                {
                    "event": "oa.message",
                    "ts": t,
                    "appid": OA,
                    "openid": oa_openid,
                    "unionid": unionid,
                    "props": {"text": "打卡"},
                }
            )
        if n % 6 == 0:
            t += timedelta(days=1)
            lines.append(
                {
                    "event": "activity.enroll",
                    "ts": t,
                    "appid": MP,
                    "openid": mp_openid,
                    "props": {"activity": "VOCAB21-2026-11", "deposit_fen": 9900},
                }
            )
            for day in range(rng.randint(3, 21)):
                lines.append(
                    {
                        "event": "activity.checkin",
                        "ts": t + timedelta(days=day + 1),
                        "appid": MP,
                        "openid": mp_openid,
                        "props": {"day": day + 1},
                    }
                )
    lines = [line for line in lines if line["ts"] <= end]  # type: ignore[operator]
    lines.sort(key=lambda line: line["ts"])  # type: ignore[arg-type, return-value]
    out = Path(__file__).with_name("events.jsonl")
    with out.open("w", encoding="utf-8") as fh:
        for line in lines:
            record = {k: v for k, v in line.items() if v is not None}
            record["ts"] = line["ts"].isoformat()  # type: ignore[union-attr]
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(lines)} events to {out}")


if __name__ == "__main__":
    main()
