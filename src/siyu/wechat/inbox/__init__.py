"""The push inbox: verify, open, deduplicate and answer WeChat's pushes (`receive`), store them
in batches (`writer`), and process them in a job (`process`)."""

from siyu.wechat.inbox.handlers import (
    DEFAULT_REPLY_PRIORITY,
    ReplyHandler,
    register_reply_handler,
    reply_handlers_for,
    unregister_reply_handler,
)
from siyu.wechat.inbox.process import (
    BATCH_SIZE,
    STALE_AFTER,
    Claimed,
    LateReplySender,
    claim,
    customer_service_message,
    mark_failed,
    process,
    process_claimed,
    queue_customer_service_reply,
    requeue_stale,
    set_late_reply_sender,
    timeline_entries,
)
from siyu.wechat.inbox.receive import MAX_PUSH_BYTES, PUSHES, REPLY_THREADS, Answer, Inbox
from siyu.wechat.inbox.setaside import describe, process_one_by_one, requeue, set_aside
from siyu.wechat.inbox.writer import SUCCESS, store_pushes

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_REPLY_PRIORITY",
    "MAX_PUSH_BYTES",
    "PUSHES",
    "REPLY_THREADS",
    "STALE_AFTER",
    "SUCCESS",
    "Answer",
    "Claimed",
    "Inbox",
    "LateReplySender",
    "ReplyHandler",
    "claim",
    "customer_service_message",
    "describe",
    "mark_failed",
    "process",
    "process_claimed",
    "process_one_by_one",
    "queue_customer_service_reply",
    "register_reply_handler",
    "reply_handlers_for",
    "requeue",
    "requeue_stale",
    "set_aside",
    "set_late_reply_sender",
    "store_pushes",
    "timeline_entries",
    "unregister_reply_handler",
]
