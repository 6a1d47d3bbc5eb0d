"""Endpoints that need both inventory and incidents (the client card), composed
here so that cmdb never imports incidents."""

api_routes: list = []
