"""Auto-reply jobs: answer through the customer-service API (Mini Programs, MP cards on an OA)."""

from __future__ import annotations

from typing import Any

from siyu.autoreply import service
from siyu.core.config import current_settings
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import job
from siyu.core.logging import get_logger
from siyu.wechat.schemas import CustomMessage
from siyu.wechat.service import (
    ConnectFailed,
    QuotaExceeded,
    SystemBusy,
    WeChatError,
    shared_gateway,
)

log = get_logger(__name__)


@job("autoreply.send_rule_reply", retries=3, retry_delay=10)
def send_rule_reply(app_id: int, message: dict[str, Any]) -> None:
    """An auto-reply through the customer-service API (Mini Programs, MP cards on an OA)."""
    db = get_database()
    with db.session_scope() as session:
        appid = service.appid_of(session, app_id)
    outbound = CustomMessage.model_validate(message)
    try:
        shared_gateway(current_settings(), db).send_custom_message(appid, outbound)
    except (SystemBusy, QuotaExceeded, ConnectFailed):
        raise  # WeChat did not take it: Huey's retries try again
    except (WeChatError, SiyuError) as exc:
        log.warning("autoreply_send_failed", appid=appid, error=str(exc)[:200])
