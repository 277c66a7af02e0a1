"""node_exporter on Debian 12 and 13: service, collectors with data, exposure score."""
import os
import time

import pytest
from monitoring_testlib import assert_hardened, assert_runs_as_its_own_user, inventory_hosts, container_ip, parse_metrics, scrape, values

testinfra_hosts = inventory_hosts("node_exporter")
REQUIRED_COLLECTORS = ["cpu", "meminfo", "filesystem", "netdev", "diskstats", "systemd", "textfile", "timex"]


@pytest.fixture(scope="module")
def metrics(host):
    # A metric from the textfile collector, written atomically as operators should.
    host.run("printf 'molecule_textfile_probe 42\\n' > /var/lib/node_exporter/textfile/.probe.tmp"
             " && mv /var/lib/node_exporter/textfile/.probe.tmp /var/lib/node_exporter/textfile/probe.prom")
    url = f"http://{container_ip(host.backend.host)}:9100/metrics"
    for _ in range(10):
        samples = scrape(url)
        if values(samples, "molecule_textfile_probe"):
            return samples
        time.sleep(1)
    return samples


def test_service_enabled_and_running(host):
    assert_runs_as_its_own_user(host, "node_exporter")


def test_versioned_install_with_stable_links(host):
    assert host.check_output("readlink /opt/node_exporter/current") == "/opt/node_exporter/1.11.1"
    assert host.check_output("readlink /usr/local/bin/node_exporter") == "/opt/node_exporter/current/node_exporter"
    assert "1.11.1" in host.check_output("/usr/local/bin/node_exporter --version 2>&1")


def test_config_dir_permissions(host):
    config_dir = host.file("/etc/node_exporter")
    assert (config_dir.user, config_dir.group, config_dir.mode) == ("root", "node_exporter", 0o750)
    user = host.user("node_exporter")
    assert user.shell == "/usr/sbin/nologin"
    assert not host.file(user.home).exists


def test_metrics_from_every_required_collector(host, metrics):
    assert values(metrics, "node_cpu_seconds_total")
    assert values(metrics, "node_filesystem_avail_bytes")
    assert values(metrics, "node_network_receive_bytes_total")
    assert values(metrics, "node_systemd_unit_state", name="node_exporter.service", state="active") == [1.0]
    assert values(metrics, "node_timex_offset_seconds")
    assert values(metrics, "molecule_textfile_probe") == [42.0]
    for collector in REQUIRED_COLLECTORS:
        assert values(metrics, "node_scrape_collector_success", collector=collector) == [1.0], collector


def failing_collectors(samples):
    return {lab["collector"] for n, lab, v in samples if n == "node_scrape_collector_success" and v != 1.0}


def test_hardening_breaks_no_collector(host, metrics):
    """Collectors that fail under the hardened unit also fail for an unconfined root process.

    Those are hardware the container does not have (hwmon, nvme, ...), not hardening.
    """
    port = 9199
    host.run(f"systemd-run --unit probe-node-exporter --collect /usr/local/bin/node_exporter"
             f" --web.listen-address=127.0.0.1:{port} --collector.systemd"
             f" --collector.textfile.directory=/var/lib/node_exporter/textfile")
    try:
        out = host.run(f"for i in 1 2 3 4 5; do python3 -c \"import urllib.request as u;"
                       f" print(u.urlopen('http://127.0.0.1:{port}/metrics').read().decode())\" && break;"
                       f" sleep 1; done")
        assert out.rc == 0, out.stderr
        unconfined = failing_collectors(parse_metrics(out.stdout))
    finally:
        host.run("systemctl stop probe-node-exporter")
    assert failing_collectors(metrics) <= unconfined, failing_collectors(metrics) - unconfined


def test_exposure_score(host, capsys):
    assert_hardened(host, "node_exporter.service", capsys)
