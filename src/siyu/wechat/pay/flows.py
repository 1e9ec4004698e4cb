"""Where `flows` used to be: it is `siyu.wechat.pay.service.flows` now, re-exported by
`siyu.wechat.pay.service`. Kept until community and the CLI import it from there."""

from siyu.wechat.pay.service.flows import (
    Sweep,
    clients,
    configure_pay,
    payment_params,
    reconcile_day,
    submit_refund,
    sweep,
    upstream,
)

__all__ = [
    "Sweep",
    "clients",
    "configure_pay",
    "payment_params",
    "reconcile_day",
    "submit_refund",
    "sweep",
    "upstream",
]
