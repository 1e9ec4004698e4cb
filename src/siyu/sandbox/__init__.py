"""The sandbox WeChat: WeChat's OA/MP APIs, limits and pushes, served locally for dev and tests."""
