"""docker-compose.yml and .env.example agree with each other and with what the client code expects."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import yaml

from annotation.server.server_env import SERVER_REQUIREMENTS
from annotation.sync import API_KEY_ENV, API_URL_ENV
from tests.helpers import REPO

SERVICES = {"argilla", "worker", "elasticsearch", "redis", "postgres"}


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _default(value: str, env: dict[str, str]) -> str:
    """Resolve ${VAR}, ${VAR:-default} and ${VAR:?msg} the way compose does, from .env.example."""

    def repl(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env:
            return env[name]
        assert op != ":?", f"{name} is required but missing from .env.example"
        return arg or ""

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", repl, value)


def test_services_images_and_health_checks() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == SERVICES
    server_version = next(r for r in SERVER_REQUIREMENTS if r.startswith("argilla-server==")).split("==")[1]
    assert services["argilla"]["image"] == f"argilla/argilla-server:v{server_version}"
    assert services["worker"]["image"] == services["argilla"]["image"]
    assert "argilla_server worker" in services["worker"]["command"]
    assert services["elasticsearch"]["image"].split(":")[1].startswith("8.")
    for name in ("argilla", "elasticsearch", "redis", "postgres"):
        assert "healthcheck" in services[name], name
    for name, condition in services["argilla"]["depends_on"].items():
        assert condition == {"condition": "service_healthy"}, name
    declared = set(compose["volumes"])
    for svc in services.values():
        for volume in svc.get("volumes", []):
            assert volume.split(":")[0] in declared


def test_server_env_points_at_the_compose_services() -> None:
    env = _env_example()
    services = _compose()["services"]
    for name in ("argilla", "worker"):
        server_env = {k: _default(str(v), env) for k, v in services[name]["environment"].items()}
        assert server_env["ARGILLA_SEARCH_ENGINE"] == "elasticsearch"
        es = urlparse(server_env["ARGILLA_ELASTICSEARCH"])
        assert (es.hostname, es.port) == ("elasticsearch", 9200)
        redis = urlparse(server_env["ARGILLA_REDIS_URL"])
        assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379)
        db = urlparse(server_env["ARGILLA_DATABASE_URL"])
        assert (db.scheme, db.hostname, db.port) == ("postgresql+asyncpg", "postgres", 5432)
        assert (db.username, db.password) == (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"])
    owner = {k: _default(str(v), env) for k, v in services["argilla"]["environment"].items()}
    assert owner["API_KEY"] == env["ARGILLA_OWNER_API_KEY"] and owner["PASSWORD"] == env["ARGILLA_OWNER_PASSWORD"]


def test_client_env_and_port_match() -> None:
    env = _env_example()
    services = _compose()["services"]
    host_port, container_port = _default(services["argilla"]["ports"][0], env).split(":")
    assert container_port == "6900"
    api = urlparse(env[API_URL_ENV])
    assert api.port == int(host_port) == 6900
    assert env[API_KEY_ENV] == env["ARGILLA_OWNER_API_KEY"]


def test_env_example_has_no_real_secrets_and_covers_required_vars() -> None:
    env = _env_example()
    text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required <= set(env), required - set(env)
    for key, value in env.items():
        if any(word in key for word in ("PASSWORD", "API_KEY", "SECRET")):
            assert value.startswith("change-me"), f"{key} in .env.example must be a placeholder"
