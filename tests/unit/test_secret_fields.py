"""Every secret field of every receiver kind and of remote storage goes to a file, checked against the shipped
Alertmanager and Prometheus binaries (amtool / promtool check the rendered configuration)."""
import re
import subprocess
import tarfile

import pytest
import yaml
from monitoring_secrets import GLOBAL_SECRETS, HTTP_CONFIG_SECRETS, RECEIVER_SECRETS, REMOTE_SECRETS
from monitoring_secrets import monitoring_receiver_secrets as alertmanager_secret_config
from monitoring_secrets import monitoring_remote_secrets
from common import WWW

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _archive(name):
    version = yaml.safe_load((ROOT / f"roles/{name}/defaults/main.yml").read_text())[f"{name}_version"]
    return (WWW / f"mirror/prometheus/{name}/releases/download" / f"v{version}"
            / f"{name}-{version}.linux-amd64.tar.gz")


def _unpack(archive, names, out):
    if not archive.exists():
        pytest.skip(f"mirror archive {archive} missing: run tools/bootstrap.py")
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.name.rsplit("/", 1)[-1] in names and member.isfile():
                member.name = member.name.rsplit("/", 1)[1]
                tar.extract(member, out, filter="data")
    return out
# *_file fields that read something that is not a secret.
NOT_SECRET = {"ca_file", "cert_file", "client_ca_file", "chat_id_file", "username_file", "password_file_env",
              "credentials_ref_file", "templates_file", "tls_file", "config_file", "api_url_file_env"}


@pytest.fixture(scope="module")
def binaries(tmp_path_factory):
    return _unpack(_archive("alertmanager"), ("alertmanager", "amtool"), tmp_path_factory.mktemp("am"))


@pytest.fixture(scope="module")
def prometheus_binaries(tmp_path_factory):
    return _unpack(_archive("prometheus"), ("prometheus", "promtool"), tmp_path_factory.mktemp("prom"))


@pytest.fixture(scope="module")
def yaml_tags(binaries):
    data = (binaries / "alertmanager").read_bytes()
    return set(re.findall(rb'yaml:"([a-z0-9_]+)', data))


def _mapped_file_fields():
    fields = set(GLOBAL_SECRETS.values()) | {f for f in HTTP_CONFIG_SECRETS.values() if f}
    for kind in RECEIVER_SECRETS.values():
        fields |= {f for f in kind.values() if f}
    return fields


def test_every_secret_file_field_of_the_binary_is_mapped(yaml_tags):
    upstream = {tag.decode() for tag in yaml_tags if tag.endswith(b"_file")} - NOT_SECRET
    assert upstream - _mapped_file_fields() == set(), "secret fields Alertmanager reads from a file but we inline"
    assert _mapped_file_fields() - upstream == set(), "mapped *_file fields this Alertmanager does not know"


def test_every_receiver_kind_is_known(yaml_tags):
    kinds = {tag.decode() for tag in yaml_tags if tag.endswith(b"_configs")}
    kinds -= {"scrape_configs", "static_configs", "inhibit_configs", "alertmanager_configs", "time_interval_configs"}
    assert kinds - set(RECEIVER_SECRETS) == set()


def _marker(path):
    return f"SECRET-{path.replace('.', '-')}-7f3a"


AUTH = ("authorization", "basic_auth", "oauth2", "bearer_token")


def _with_secrets(fields, auth):
    """An entry that sets every secret field of the kind and of its http_config to a marker; http_config
    keeps one client-auth method (upstream allows one), so the kinds take turns at the four."""
    entry = {}
    all_fields = dict(fields, **{"http_config." + p: f for p, f in HTTP_CONFIG_SECRETS.items()})
    for path in all_fields:
        if "header" in path:
            continue  # header maps, checked by test_inline_only_when_needed
        node = entry
        *parents, key = path.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[key] = _marker(path) if not key.endswith("url") else f"https://{_marker(path).lower()}.example/x"
    http = entry["http_config"]
    for other in AUTH:
        if other != auth:
            http.pop(other)
    http["tls_config"]["cert_file"] = "/dev/null"
    if auth == "basic_auth":
        http["basic_auth"]["username"] = "u"
    if auth == "oauth2":
        http["oauth2"].update({"client_id": "id", "token_url": "https://auth.example/token"})
        http["oauth2"]["tls_config"]["cert_file"] = "/dev/null"
        http["oauth2"].pop("client_certificate_key")  # excludes client_secret
    return entry


REQUIRED = {  # the non-secret fields each kind needs to pass amtool
    "email_configs": {"to": "a@example.com", "from": "b@example.com", "smarthost": "smtp.example:25",
                      "tls_config": {"cert_file": "/dev/null"}},
    "incidentio_configs": {}, "jira_configs": {"api_url": "https://jira.example", "project": "OPS",
                                               "issue_type": "Bug"},
    "pagerduty_configs": {}, "pushover_configs": {}, "rocketchat_configs": {},
    "sns_configs": {"topic_arn": "arn:aws:sns:eu-west-1:1:t", "sigv4": {"region": "eu-west-1"}},
    "telegram_configs": {"chat_id": 1}, "victorops_configs": {"routing_key": "ops"},
    "webex_configs": {"room_id": "r", "api_url": "https://webex.example"},
    "wechat_configs": {"corp_id": "c", "agent_id": "1", "to_user": "u"},
}


EXCLUSIVE = {"pagerduty_configs": ("routing_key", "service_key"), "slack_configs": ("api_url", "app_token")}


def _copy_without(entry, key):
    return {k: v for k, v in yaml.safe_load(yaml.safe_dump(entry)).items() if k != key}


def test_rendered_config_holds_no_secret_and_passes_amtool(binaries, tmp_path):
    receivers = []
    for index, (kind, fields) in enumerate(RECEIVER_SECRETS.items()):
        entry = _with_secrets(fields, AUTH[index % len(AUTH)])
        for key, value in REQUIRED.get(kind, {}).items():
            entry[key] = dict(entry.get(key, {}), **value) if isinstance(value, dict) else value
        entries = [entry]
        if kind in EXCLUSIVE:  # two fields upstream allows one of: a second entry carries the other
            first, second = EXCLUSIVE[kind]
            entries.append(_copy_without(entry, first))
            entry.pop(second)
            if kind == "slack_configs":
                entries[1].pop("http_config")  # an app token excludes http_config authorization
        if kind in ("incidentio_configs", "email_configs"):
            entry.pop("http_config")  # e-mail has none; incident.io takes the token or http_config auth
        receivers.append({"name": kind.removesuffix("_configs"), kind: entries})
    # The global Slack URL and app token exclude each other: the second run carries the token.
    for excluded in ("slack_app_token", "slack_api_url"):
        global_config = {key: (f"https://{_marker(key).lower()}.example/x" if key.endswith("url") else _marker(key))
                         for key in GLOBAL_SECRETS if key != excluded}
        _check(binaries, tmp_path / excluded, global_config, receivers)


def _check(binaries, directory, global_config, receivers):
    result = alertmanager_secret_config(global_config, receivers, str(directory / "secrets"))
    (directory / "secrets").mkdir(parents=True)
    for name, value in result["files"].items():
        (directory / "secrets" / name).write_text(value)
    config = {"global": result["global"], "receivers": result["receivers"],
              "route": {"receiver": receivers[0]["name"]}}
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run([binaries / "amtool", "check-config", path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    leaked = sorted(set(re.findall(r"secret-[a-z0-9_-]+-7f3a", path.read_text(), re.I)))
    # SNS's sigv4 keys have no file twin in Alertmanager: they are the only inline secrets, and they make
    # the whole file a secret entry.
    assert leaked == ["SECRET-sigv4-access_key-7f3a", "SECRET-sigv4-secret_key-7f3a"]
    assert result["inline"] is True
    assert len(result["files"]) > 60


def test_inline_only_when_needed():
    plain = alertmanager_secret_config({}, [{"name": "x", "webhook_configs": [{"url": "https://h/x"}]}], "/s")
    assert plain["inline"] is False
    assert plain["receivers"][0]["webhook_configs"][0] == {"url_file": "/s/x-webhook_configs-1-url"}
    header = alertmanager_secret_config({}, [{"name": "x", "webhook_configs": [
        {"url_file": "/f", "http_config": {"proxy_connect_header": {"Authorization": ["Bearer t"]}}}]}], "/s")
    assert header["inline"] is True and header["files"] == {}
    headers = monitoring_remote_secrets([{"url": "https://r/w", "headers": {"X-Token": "t"}}], [], "/s")
    assert headers["inline"] is True and headers["remote_write"][0]["headers"] == {"X-Token": "t"}


REMOTE_AUTH = {  # one entry per client-auth method (upstream allows one per entry)
    "authorization": {}, "basic_auth": {"basic_auth": {"username": "u"}}, "bearer_token": {},
    "oauth2": {"oauth2": {"client_id": "id", "token_url": "https://auth.example/token",
                          "tls_config": {"cert_file": "/dev/null"}}},
    "sigv4": {"sigv4": {"region": "eu-west-1"}},
}
SKIPPED = ("azuread",)  # Debian's build (the shipped binary) has no Azure AD remote write


def _remote_entry(auth):
    entry = {"url": "https://remote.example/api/v1/write", "tls_config": {"cert_file": "/dev/null"}}
    for path in REMOTE_SECRETS:
        top = path.split(".")[0]
        if top in REMOTE_AUTH and top != auth or top in SKIPPED or "proxy_connect_header" in path:
            continue  # another entry's auth method; proxy headers need a proxy_url (test_inline_only_when_needed)
        node = entry
        *parents, key = path.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[key] = {"X-Scope-OrgID": _marker(path)} if key == "headers" else \
            {"X-Token": {"secrets": [_marker(path)]}} if key == "http_headers" else _marker(path)
    for key, value in REMOTE_AUTH[auth].items():
        entry[key] = dict(value, **entry.get(key, {}))
    if auth == "oauth2":
        entry["oauth2"].pop("client_certificate_key")  # excludes client_secret
        entry["oauth2"]["tls_config"]["cert_file"] = "/dev/null"
    return entry


def test_remote_storage_secrets_in_files_and_promtool_accepts(prometheus_binaries, tmp_path):
    tags = {tag.decode() for tag in re.findall(rb'yaml:"([a-z0-9_]+_file)', (prometheus_binaries / "prometheus")
                                               .read_bytes())}
    assert {f for f in REMOTE_SECRETS.values() if f} - tags == set(), "file fields this Prometheus does not know"
    writes = [_remote_entry(auth) for auth in REMOTE_AUTH]
    reads = [{"url": "https://remote.example/api/v1/read", "basic_auth": {"username": "u", "password": _marker("r")}}]
    result = monitoring_remote_secrets(writes, reads, str(tmp_path / "secrets"))
    (tmp_path / "secrets").mkdir()
    for name, value in result["files"].items():
        (tmp_path / "secrets" / name).write_text(value)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump({"remote_write": result["remote_write"], "remote_read": result["remote_read"]}))
    check = subprocess.run([prometheus_binaries / "promtool", "check", "config", path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    leaked = sorted(set(re.findall(r"SECRET-[a-z0-9_-]+-7f3a", path.read_text())))
    assert leaked == ["SECRET-headers-7f3a", "SECRET-http_headers-7f3a", "SECRET-sigv4-access_key-7f3a", "SECRET-sigv4-secret_key-7f3a"]
    assert result["inline"] is True
    assert "remote_read-1-basic_auth.password" in result["files"]
    assert "remote_write-2-basic_auth.password" in result["files"]
    assert monitoring_remote_secrets(reads, [], "/s")["inline"] is False
