"""The operator console: server-rendered pages (Jinja2 + htmx + ECharts), zh-CN first."""
