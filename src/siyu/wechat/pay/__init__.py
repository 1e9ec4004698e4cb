"""WeChat Pay v3: merchants, JSAPI orders, notifications, refunds and reconciliation."""
