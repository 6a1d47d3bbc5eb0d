"""The compose file, Dockerfile and .dockerignore read as an operator would run
them: no local state baked into the image, a non-root service, replicas that
can scale, workers that come back and keep their spool. (No Docker engine runs
here, so the files are checked for these rules, not started.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfile() -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for needed in (".git", ".venv", "var", "*.sqlite"):
        assert needed in ignored, needed


def test_dockerfile_is_slim_non_root_and_checks_health():
    lines = _dockerfile()
    assert lines[0].startswith("FROM python:3.11-slim")
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the service must not run as root"
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in lines)
    # The state directory is the one the compose volumes mount.
    assert any("RACKCARD_VAR_DIR=/var/lib/rackcard" in line for line in lines)


def test_compose_has_the_production_services():
    services = _compose()["services"]
    assert {"postgres", "migrate", "web", "proxy", "probe", "demo"} <= set(services)
    assert services["migrate"]["command"] == ["rackcard", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert any("pgdata:/var/lib/postgresql/data" in v for v in services["postgres"]["volumes"])


def test_postgresql_in_compose_has_room_for_the_web_pools():
    """Two replicas of `serve` on a four-core host are 8 processes pooling up
    to POOL_SIZE connections each; PostgreSQL's default of 100 would refuse
    some of them under load."""
    import re

    from rackcard.db import POOL_SIZE

    command = " ".join(_compose()["services"]["postgres"]["command"])
    limit = int(re.search(r"max_connections=\$\{RACKCARD_PG_MAX_CONNECTIONS:-(\d+)\}", command).group(1))
    assert limit >= 2 * 4 * POOL_SIZE + 10


def test_web_replicas_can_scale_behind_the_proxy():
    services = _compose()["services"]
    web = services["web"]
    assert "ports" not in web, "a fixed host port clashes with --scale web=N"
    assert "/readyz" in " ".join(web["healthcheck"]["test"])
    assert web["restart"] == "unless-stopped"
    assert web["environment"]["RACKCARD_EMBEDDED_PROBE"] == "false"
    proxy = services["proxy"]
    assert len(proxy["ports"]) == 1
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"proxy_pass\s+\$upstream", conf) and "http://web:8000" in conf


def test_probe_workers_restart_keep_their_spool_and_can_scale():
    services = _compose()["services"]
    for name in ("probe", "probe-traps"):
        probe = services[name]
        assert probe["restart"] == "unless-stopped"
        assert any(v.endswith(":/var/lib/rackcard") for v in probe["volumes"])
        assert probe["environment"]["RACKCARD_VAR_DIR"] == "/var/lib/rackcard"
        assert probe["command"][:2] == ["rackcard", "probe"]
    assert "probe-spool" in _compose()["volumes"]
    # --scale probe=N: no host port on the scalable one; traps come in on the other.
    assert "ports" not in services["probe"] and "--no-traps" in services["probe"]["command"]
    assert [p.rsplit(":", 1)[1] for p in services["probe-traps"]["ports"]] == ["1162/udp"]


def test_demo_is_a_profile_and_secrets_come_from_the_environment():
    compose = _compose()
    assert compose["services"]["demo"]["profiles"] == ["demo"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "RACKCARD_SECRET_KEY: ${RACKCARD_SECRET_KEY:?" in text
    assert "changeme" not in text.lower()


def test_readme_documents_the_first_run():
    readme = (ROOT / "README.md").read_text()
    assert "docker compose run --rm migrate rackcard user create" in readme
    assert "docker compose run --rm migrate rackcard token create --probe" in readme
