"""After the refused inputs (side effect), the valid configuration is loaded and nothing broken is on disk."""
from monitoring_testlib import inventory_hosts

testinfra_hosts = inventory_hosts("prometheus")


def test_no_broken_files_on_disk(host):
    assert not host.file("/etc/prometheus/rules/broken.yml").exists
    assert not host.file("/etc/prometheus/scrape_configs/bad-fragment.yml").exists
    assert host.run("promtool check config /etc/prometheus/prometheus.yml").rc == 0


def test_loaded_configuration_is_good(host):
    metrics = host.check_output("python3 -c \"import urllib.request as u;"
                                " print(u.urlopen('http://127.0.0.1:9090/metrics').read().decode())\"")
    assert "prometheus_config_last_reload_successful 1" in metrics
    assert host.service("prometheus").is_running
