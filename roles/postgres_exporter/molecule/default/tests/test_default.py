"""postgres_exporter watching a real PostgreSQL, scraped by Prometheus over HTTPS with basic auth."""
import pytest
from monitoring_testlib import container_ip, get, hostvars, inventory_hosts, run_logs, scenario_ca, wait_for  # noqa: F401

testinfra_hosts = inventory_hosts("postgres")
CA = scenario_ca()
AUTH = ("prometheus", "Pg-scrape-pw-3a91c7")  # monitoring_basic_auth_users in molecule.yml


@pytest.fixture(scope="module")
def prometheus():
    return f"https://{container_ip('deb12')}:9090/api/v1"


def query(prometheus, expr):
    return get(f"{prometheus}/query", auth=AUTH, ca=CA, params={"query": expr}).json()["data"]["result"]


def test_exporter_needs_tls_and_credentials(host):
    url = f"https://{container_ip(host.backend.host)}:9187/metrics"
    assert get(url, ca=CA).status_code == 401
    answer = get(url, ca=CA, auth=AUTH)
    assert answer.status_code == 200 and "pg_up 1" in answer.text


def test_prometheus_scrapes_it_over_https(prometheus):
    def up():
        targets = get(f"{prometheus}/targets", auth=AUTH, ca=CA).json()["data"]["activeTargets"]
        return [t for t in targets if t["labels"]["job"] == "postgres" and t["health"] == "up"]
    target = wait_for(up, 60, message="the postgres job up")[0]
    assert target["scrapeUrl"] == "https://deb13:9187/metrics"
    assert wait_for(lambda: query(prometheus, 'pg_database_size_bytes{datname="postgres"} > 0'), 30,
                    message="database sizes from PostgreSQL")


def test_password_only_in_its_secret_file(host, hostvars):
    secret = host.file("/etc/postgres_exporter/secrets/password")
    assert (secret.user, secret.group, secret.mode) == ("root", "postgres_exporter", 0o640)
    assert secret.content_string == hostvars["test_db_password"]
    unit = host.file("/etc/systemd/system/postgres_exporter.service").content_string
    assert "DATA_SOURCE_PASS_FILE=/etc/postgres_exporter/secrets/password" in unit
    assert hostvars["test_db_password"] not in unit
    assert hostvars["test_db_password"] not in run_logs()


def test_a_stopped_postgresql_raises_postgres_down(host, prometheus):
    """Last: PostgreSQL stops, pg_up drops to 0 and the shipped PostgresDown rule becomes active."""
    host.run("systemctl stop postgresql")
    try:
        wait_for(lambda: query(prometheus, "pg_up == 0"), 60, message="pg_up 0")

        def active():
            groups = get(f"{prometheus}/rules", auth=AUTH, ca=CA).json()["data"]["groups"]
            return [r for g in groups for r in g["rules"] if r["name"] == "PostgresDown" and r["state"] in ("pending", "firing")]
        assert wait_for(active, 30, message="PostgresDown pending or firing")
    finally:
        host.run("systemctl start postgresql")
