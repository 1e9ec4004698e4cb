"""WeChat's HTTP surface: the push endpoint (`push`) and the Mini Program's API (`mp`)."""

from siyu.wechat.routes.mp import router as mp_router
from siyu.wechat.routes.push import (
    PUSH_PATH,
    add_routes,
    push_appid,
    push_route,
    receive_push,
    verify_url,
)

__all__ = [
    "PUSH_PATH",
    "add_routes",
    "mp_router",
    "push_appid",
    "push_route",
    "receive_push",
    "verify_url",
]
