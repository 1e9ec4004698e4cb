"""Members' jobs, registered by name."""

from __future__ import annotations

from typing import Any

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
from siyu.workspaces import service as workspaces

log = get_logger(__name__)


@job("members.send_reply", retries=3, retry_delay=10)
def send_reply(app_id: int, message: dict[str, Any]) -> None:
    """A keyword claim's outcome, through the Official Account's customer-service API."""
    db = get_database()
    with db.session_scope() as session:
        appid = workspaces.get_apps_by_id(session, [app_id])[app_id].appid
    outbound = CustomMessage.model_validate(message)
    try:
        shared_gateway(current_settings(), db).send_custom_message(appid, outbound)
    except (SystemBusy, QuotaExceeded, ConnectFailed):
        raise  # WeChat did not take it: Huey's retries try again
    except (WeChatError, SiyuError) as exc:
        log.warning("members_reply_failed", appid=appid, error=str(exc)[:200])
