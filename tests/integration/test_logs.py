"""Log lines carry the request they belong to, and JSON logs are one object a line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from rackcard import logs


async def test_every_response_carries_a_request_id_and_keeps_a_sane_given_one(api):
    first = await api.get("/api/v1/me")
    second = await api.get("/api/v1/me")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    kept = await api.get("/api/v1/me", headers={"X-Request-ID": "lb-42.abc"})
    assert kept.headers["x-request-id"] == "lb-42.abc"
    replaced = await api.get("/api/v1/me", headers={"X-Request-ID": "x" * 200})
    assert replaced.headers["x-request-id"] != "x" * 200


async def test_lines_logged_while_handling_a_request_carry_its_id(api, capsys):
    logs.configure("INFO", "json")
    try:
        response = await api.get("/api/v1/incidents/99999")  # a 404: the handler path logs nothing itself
        assert response.status_code == 404
        logging.getLogger("rackcard.test").info("outside any request")
        token = logs.request_id.set(response.headers["x-request-id"])
        logging.getLogger("rackcard.test").warning("inside %s", "a request")
        logs.request_id.reset(token)
    finally:
        logging.getLogger().handlers[:] = []
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    outside = next(line for line in lines if line["message"] == "outside any request")
    inside = next(line for line in lines if line["message"] == "inside a request")
    assert outside["request_id"] == "-" and outside["level"] == "INFO" and outside["logger"] == "rackcard.test"
    assert inside["request_id"] == response.headers["x-request-id"]
    assert inside["ts"].endswith("+00:00")


def test_the_cli_writes_json_lines_and_refuses_an_unknown_format(tmp_path):
    env = {**os.environ, "RACKCARD_VAR_DIR": str(tmp_path / "var"), "RACKCARD_LOG_FORMAT": "json",
           "RACKCARD_DATABASE_URL": f"sqlite:///{tmp_path}/r.sqlite"}
    done = subprocess.run([sys.executable, "-m", "rackcard.cli", "migrate"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    bad = subprocess.run([sys.executable, "-m", "rackcard.cli", "migrate"], env={**env, "RACKCARD_LOG_FORMAT": "xml"},
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "RACKCARD_LOG_FORMAT" in bad.stderr
