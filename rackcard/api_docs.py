"""The API docs page at /schema: Swagger UI served from static/vendor/ (copied
from the npm package swagger-ui-dist), so it opens on a network without the
internet. Litestar's own viewers load their scripts from a CDN; this one loads
nothing but our own files, and its start-up code is a static file too
(static/api-docs.js), so a `script-src 'self'` policy holds."""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

VENDOR = "/static/vendor/swagger-ui"


class VendoredSwagger(OpenAPIRenderPlugin):
    def __init__(self, *, path: str | list[str] = ("/", "/swagger"), title: str = "rackcard API") -> None:  # type: ignore[assignment]
        super().__init__(path=list(path))
        self.title = title

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        spec = html.escape(self.get_openapi_json_route(request), quote=True)
        title = html.escape(self.title)
        return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{VENDOR}/swagger-ui.css">
<link rel="stylesheet" href="/static/api-docs.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<noscript>{title}: <a href="{spec}">{spec}</a></noscript>
<script src="{VENDOR}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>""".encode()
