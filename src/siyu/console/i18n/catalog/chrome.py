"""The console's chrome: the app's name, navigation, roles, shared words and generic refusals."""

from __future__ import annotations

from siyu.console.i18n.plural import Message

MESSAGES: dict[str, Message] = {
    "app.name": ("私域", "Siyu"),
    "app.tagline": ("私域运营平台", "Private-domain operations"),
    "nav.overview": ("概览", "Overview"),
    "nav.members": ("会员", "Members"),
    "nav.review": ("待审合并", "Review"),
    "nav.imports": ("导入", "Imports"),
    "nav.apps": ("应用", "Apps"),
    "nav.logout": ("退出登录", "Sign out"),
    "nav.language": ("语言", "Language"),
    "nav.menu": ("菜单", "Menu"),
    # The phone's navigation button: not 菜单, which is the custom-menu page's name.
    "nav.toggle": ("导航", "Navigation"),
    "nav.operators": ("操作员", "Operators"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.leads": ("线索", "Leads"),
    "nav.set_aside": ("搁置的任务", "Set aside"),
    "role.customer_service": ("客服", "Customer service"),
    "role.analyst": ("数据分析", "Analyst"),
    "role.sales": ("销售", "Sales"),
    "role.owner": ("所有者", "Owner"),
    "role.admin": ("管理员", "Admin"),
    "role.operator": ("运营", "Operator"),
    "common.none": ("无", "None"),
    "common.yes": ("已设置", "Set"),
    "common.no": ("未设置", "Not set"),
    "common.code": ("错误码", "Code"),
    "pager.previous": ("上一页", "Previous"),
    "pager.next": ("下一页", "Next"),
    "pager.page": ("第 {n} 页", "Page {n}"),
    "common.back_home": ("返回概览", "Back to overview"),
    "common.loading": ("加载中…", "Loading…"),
    "common.network_error": (
        "网络异常，请检查连接后重试",
        "Network error; check the connection and try again",
    ),
    "common.reload": ("刷新页面", "Reload the page"),
    "error.title": ("出错了", "Something went wrong"),
    "error.not_found_title": ("找不到页面", "Not found"),
    "error.generic": ("操作未完成：{message}", "Not done: {message}"),
    "nav.simulator": ("模拟微信", "Simulated WeChat"),
    "nav.payments": ("支付", "Payments"),
}
