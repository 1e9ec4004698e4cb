"""The WeChat border: push inbox, outbound gateway, Mini Program login; Pay in `pay`.

Other domains use it through `service`, `schemas` and `errors` (and the protocol crypto)."""
