"""CMDB REST API (/api/v1): thin handlers over cmdb.services."""

api_routes: list = []
