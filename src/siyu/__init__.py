"""siyu (私域): self-hosted private-domain operations for the WeChat ecosystem."""
