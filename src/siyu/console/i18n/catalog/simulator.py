"""The sandbox WeChat's page (simulated users, what they received, the ledger)."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "simulator.title": ("模拟微信", "Simulated WeChat"),
    "simulator.intro": (
        "沙箱里的模拟用户：他们关注、发消息、扫码、登录小程序，并真正收到我们发出的每一条消息。",
        (
            "The sandbox's simulated users: they follow, write, scan and log in to the Mini "
            "Program, and really receive every message we send."
        ),
    ),
    "simulator.off": (
        "未启用沙箱：siyu 正连接真实的微信。设置 SIYU_SANDBOX=true 后可在此查看模拟用户。",
        (
            "The sandbox is off: siyu talks to the real WeChat. Set SIYU_SANDBOX=true to see "
            "simulated users here."
        ),
    ),
    "simulator.unreachable": (
        "连不上沙箱微信（{base}）：{reason}",
        "Cannot reach the sandbox WeChat ({base}): {reason}",
    ),
    "simulator.search": ("按 openid 查找", "Find by openid"),
    "simulator.users": ("模拟用户", "Simulated users"),
    "simulator.accounts": ("沙箱中的公众号与小程序", "Accounts in the sandbox"),
    "simulator.nickname": ("昵称", "Nickname"),
    "simulator.follows": ("关注", "Follows"),
    "simulator.following": ("已关注", "following"),
    "simulator.unfollowed": ("已取关", "unfollowed"),
    "simulator.received": ("收到的消息", "Received"),
    "simulator.empty": (
        "还没有模拟用户。运行 siyu sandbox simulate 生成一批。",
        "No simulated users yet. Run siyu sandbox simulate to make some.",
    ),
    "simulator.inbox": ("{name} 收到的消息", "What {name} received"),
    "simulator.inbox_empty": (
        "这位用户还没有收到任何消息。",
        "This user has received nothing yet.",
    ),
    "simulator.member": ("在会员中查看", "Open the member"),
    "simulator.via": ("渠道", "Via"),
    "simulator.at": ("时间", "Time"),
    "simulator.content": ("内容", "Content"),
    "simulator.by_via": ("按渠道统计", "By channel"),
    "simulator.credits": ("订阅消息额度", "Subscribe-message credits"),
    "simulator.more": ("下一页", "Next page"),
    "simulator.back": ("返回模拟用户", "Back to simulated users"),
    "simulator.ledger": ("沙箱微信支付 · 商户 {mchid}", "Sandbox WeChat Pay · merchant {mchid}"),
    "simulator.ledger_intro": (
        "沙箱商户账上的收款与退款，即用户实际收到的钱；与结算页核对。",
        (
            "Payments and refunds on the sandbox merchant's account: the money users actually "
            "received. Compare with the settlement."
        ),
    ),
    "simulator.ledger_paid": ("收款（{n} 笔）", "Payments ({n})"),
    "simulator.ledger_refunded": ("退款（{n} 笔）", "Refunds ({n})"),
    "simulator.ledger_balance": ("商户余额", "Merchant balance"),
    "simulator.ledger_amount": ("退款金额", "Refund"),
    "simulator.ledger_status": ("状态", "Status"),
    "simulator.ledger_no_refunds": ("还没有退款。", "No refund yet."),
    "via.custom": ("客服消息", "Customer service"),
    "via.template": ("模板消息", "Template message"),
    "via.subscribe": ("订阅消息", "Subscribe message"),
    "via.passive_reply": ("被动回复", "Passive reply"),
    "via.system": ("系统提示", "System notice"),
}
