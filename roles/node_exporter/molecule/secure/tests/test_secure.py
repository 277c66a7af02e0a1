"""node_exporter with TLS and basic auth, checked over the real protocol from the controller."""
import pytest
import requests
from monitoring_testlib import container_ip, get, hostvars, inventory_hosts, parse_metrics, run_logs, scenario_ca, values  # noqa: F401 (hostvars is a fixture)

testinfra_hosts = inventory_hosts("node_exporter")
CA = scenario_ca()


@pytest.fixture(scope="module")
def url(host):
    return f"https://{container_ip(host.backend.host)}:9100/metrics"


def test_https_with_ca_and_credentials(url, hostvars):
    response = get(url, auth=("prometheus", hostvars["node_exporter_test_password_rotated"]), ca=CA)
    assert response.status_code == 200
    assert values(parse_metrics(response.text), "node_cpu_seconds_total")


def test_refused_without_or_with_wrong_credentials(url, hostvars):
    assert get(url, ca=CA).status_code == 401
    assert get(url, auth=("prometheus", "wrong-password"), ca=CA).status_code == 401
    # The password from before the rotation no longer works.
    assert get(url, auth=("prometheus", hostvars["node_exporter_test_password"]), ca=CA).status_code == 401


def test_certificate_is_verified(url, hostvars):
    with pytest.raises(requests.exceptions.SSLError):
        get(url, auth=("prometheus", hostvars["node_exporter_test_password_rotated"]))  # system CAs only


def test_plain_http_fails(url, hostvars):
    plain = url.replace("https://", "http://")
    try:
        response = get(plain, auth=("prometheus", hostvars["node_exporter_test_password_rotated"]))
    except requests.exceptions.ConnectionError:
        return
    assert response.status_code == 400
    assert "node_cpu_seconds_total" not in response.text


def test_secret_files_not_world_readable(host):
    for path, mode in [("/etc/node_exporter/tls/server.key", 0o640), ("/etc/node_exporter/web-config.yml", 0o640)]:
        secret = host.file(path)
        assert (secret.user, secret.group, secret.mode) == ("root", "node_exporter", mode), path
    assert "$2" in host.file("/etc/node_exporter/web-config.yml").content_string  # bcrypt, not plain


def test_passwords_absent_from_every_log(host, hostvars):
    text = run_logs()
    assert "Apply the files of" in text  # the converge output is really there
    for key in ("node_exporter_test_password", "node_exporter_test_password_rotated"):
        assert hostvars[key] not in text, key
    journal = host.check_output("journalctl --no-pager")
    for key in ("node_exporter_test_password", "node_exporter_test_password_rotated"):
        assert hostvars[key] not in journal, key


def test_rate_limit_refuses_a_flood(url, hostvars):
    """monitoring_web_rate_limit: past the burst, requests get 429."""
    session = requests.Session()
    session.auth = ("prometheus", hostvars["node_exporter_test_password_rotated"])
    codes = [session.get(url.replace("/metrics", "/"), verify=CA, timeout=5).status_code for _ in range(60)]
    assert 429 in codes and codes[0] != 429
