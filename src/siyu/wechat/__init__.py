"""The WeChat border: push inbox, outbound gateway, Mini Program login."""
