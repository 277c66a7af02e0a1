"""An HA pair of Prometheus, an Alertmanager cluster of three and the central VictoriaMetrics: every target scraped
twice, each alert delivered once although both replicas send it, the central store deduplicating the replicas,
and delivery going on with one Prometheus and one Alertmanager stopped."""
import os
import time

import pytest
import requests
import yaml
from monitoring_testlib import (assert_golden_unit, assert_hardened, container_ip, get, inventory_hosts, queries_without_data,
                                run_logs, scenario_ca, sink_requests, wait_for)

testinfra_hosts = inventory_hosts("ha-central")
CA = scenario_ca()
AUTH = ("prometheus", "Ha-scrape-pw-52c1d8")  # monitoring_basic_auth_users in molecule.yml
REPLICAS = ["ha-prom1", "ha-prom2"]
MEMBERS = ["ha-am1", "ha-am2", "ha-am3"]
HOSTS = REPLICAS + MEMBERS + ["ha-central"]
# Alertmanager peers wait (position x peer timeout, 15 s) before they send: give the last one time to (not) send.
SETTLE = 35


def prometheus(name):
    return f"https://{container_ip(name)}:9090/api/v1"


def central():
    return f"https://{container_ip('ha-central')}:8428"


def query(api, expr):
    answer = get(f"{api}/query", auth=AUTH, ca=CA, params={"query": expr}).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def firing(alertname, **labels):
    sink = f"http://{container_ip('ha-am3')}:8080"
    return [r for r in sink_requests(sink, "/ha") if r["body"]["status"] == "firing"
            for alert in r["body"]["alerts"] if alert["labels"]["alertname"] == alertname
            and all(alert["labels"].get(k) == v for k, v in labels.items())]


@pytest.mark.parametrize("replica", REPLICAS)
def test_each_replica_scrapes_every_target_with_its_replica_label(replica):
    def all_up():
        targets = get(f"{prometheus(replica)}/targets", auth=AUTH, ca=CA).json()["data"]["activeTargets"]
        up = [t for t in targets if t["health"] == "up"]
        return up if len(up) == len(targets) == len(HOSTS) + 2 + 3 + 1 else None
    wait_for(all_up, 90, message=f"{replica}: node x6, prometheus x2, alertmanager x3, victoriametrics up")
    labels = get(f"{prometheus(replica)}/status/config", auth=AUTH, ca=CA).json()["data"]["yaml"]
    config = yaml.safe_load(labels)
    assert config["global"]["external_labels"] == {"cluster": "ha-test", "replica": replica}
    [drop] = config["alerting"]["alert_relabel_configs"]
    assert (drop["action"], drop["regex"]) == ("labeldrop", "replica")
    assert len(config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == 3


def test_an_alert_both_replicas_send_is_delivered_once():
    wait_for(lambda: firing("HaPipeline"), 90, message="HaPipeline at the sink")
    time.sleep(SETTLE)
    [delivery] = firing("HaPipeline")
    assert delivery["body"]["alerts"][0]["labels"]["cluster"] == "ha-test"
    assert "replica" not in delivery["body"]["alerts"][0]["labels"]


def test_central_store_needs_tls_and_credentials():
    assert get(f"{central()}/api/v1/query", ca=CA, params={"query": "up"}).status_code == 401


def test_central_store_admin_endpoints_need_their_own_key():
    """The scrape user (on every exporter host) may not delete series or take snapshots: those take the admin key."""
    key_file = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "pki/secrets/victoriametrics-admin-ha-central")
    key = open(key_file).read().strip()
    assert len(key) >= 32 and oct(os.stat(key_file).st_mode & 0o777) == "0o600"
    delete = f"{central()}/api/v1/admin/tsdb/delete_series"
    match = {"match[]": 'no_such_series_for_the_test{job="none"}'}
    assert requests.post(delete, params=match, auth=AUTH, verify=CA, timeout=10).status_code == 401
    assert requests.get(f"{central()}/snapshot/create", auth=AUTH, verify=CA, timeout=10).status_code == 401
    assert requests.post(delete, params=dict(match, authKey=key), verify=CA, timeout=10).status_code == 204


def test_central_store_holds_both_replicas_deduplicated():
    api = f"{central()}/api/v1"
    # Both replicas write the same series (replica dropped): one series per target, not two.
    found = wait_for(lambda: (lambda r: r if r and float(r[0]["value"][1]) == len(HOSTS) else None)(
        query(api, 'count(up{job="node"})')), 90, message="six node series in the central store")
    assert found
    assert query(api, 'count(up{replica!=""})') == []
    for replica in REPLICAS:
        # What RemoteWriteBehind (files/prometheus/rules/central.yml) compares exists, and is not behind.
        assert query(prometheus(replica), "prometheus_remote_storage_highest_timestamp_in_seconds")
        lag = query(prometheus(replica), "max(prometheus_remote_storage_highest_timestamp_in_seconds) "
                                         "- max(prometheus_remote_storage_queue_highest_sent_timestamp_seconds)")
        assert lag and float(lag[0]["value"][1]) < 60, lag
        sent = query(prometheus(replica), "sum(prometheus_remote_storage_samples_total)")
        failed = query(prometheus(replica), "sum(prometheus_remote_storage_samples_failed_total)")
        assert float(sent[0]["value"][1]) > 0 and float(failed[0]["value"][1]) == 0, replica
    # Deduplicated: over 2 minutes one sample per 5 s interval, although two replicas wrote each.
    samples = wait_for(lambda: query(api, 'count_over_time(up{job="node", instance="ha-central:9100"}[1m])'), 30,
                       message="samples of one series")
    assert float(samples[0]["value"][1]) <= 13, samples


def test_central_store_prometheus_and_alertmanager_dashboards_show_data(capsys):
    """Every query of the central store's, the Prometheus and the Alertmanager dashboards (remote write and cluster
    members included, which only this scenario has) returns series from a replica; those without are printed."""
    assert queries_without_data(prometheus(REPLICAS[0]), AUTH, CA, ["Monitoring/central.json", "Monitoring/prometheus.json",
                                                                  "Monitoring/alertmanager.json"], capsys) == []


def test_central_store_keeps_its_data_across_a_restart(host):
    """Its parts are opened again at start (mincore(2), which the unit's system call filter must allow)."""
    api = f"{central()}/api/v1"
    before = float(query(api, 'count(count_over_time(up{job="node"}[10m]))')[0]["value"][1])
    pid = host.service("victoriametrics").systemd_properties["MainPID"]
    host.run_expect([0], "systemctl restart victoriametrics")
    def healthy():
        try:
            answer = get(f"{central()}/health", auth=AUTH, ca=CA)
        except OSError:  # not listening yet
            return None
        return answer if answer.status_code == 200 else None
    answer = wait_for(healthy, 60, message="VictoriaMetrics healthy again")
    assert answer.text.strip() == "OK"
    time.sleep(5)  # a daemon that cannot open its data dies within seconds
    assert host.service("victoriametrics").is_running and host.service("victoriametrics").systemd_properties["MainPID"] != pid
    after = float(query(api, 'count(count_over_time(up{job="node"}[10m]))')[0]["value"][1])
    assert after >= before == len(HOSTS)


def test_grafana_reads_the_central_store_by_default(host):
    provisioning = yaml.safe_load(host.file("/etc/grafana/provisioning/datasources/monitoring.yml").content_string)
    defaults = [d for d in provisioning["datasources"] if d.get("isDefault")]
    assert [(d["uid"], d["url"]) for d in defaults] == [("central", "https://ha-central:8428")]
    assert {d["uid"] for d in provisioning["datasources"]} >= {"central", "prometheus-ha-prom1", "prometheus-ha-prom2"}


def test_no_secret_in_the_output():
    assert AUTH[1] not in run_logs()


def test_with_a_prometheus_and_an_alertmanager_down_a_new_alert_arrives_once(host):
    """Last: ha-prom2 and ha-am1 stop, node_exporter on ha-central stops; HaTargetDown still arrives once."""
    stopped = [("ha-prom2", "prometheus"), ("ha-am1", "alertmanager"), ("ha-central", "node_exporter")]
    hosts = {name: host.get_host(f"docker://{name}") for name, _ in stopped}
    try:
        for name, unit in stopped:
            hosts[name].run(f"systemctl stop {unit}")
        wait_for(lambda: firing("HaTargetDown", instance="ha-central:9100"), 90, message="HaTargetDown at the sink")
        time.sleep(SETTLE)
        assert len(firing("HaTargetDown", instance="ha-central:9100")) == 1
    finally:
        for name, unit in stopped:
            hosts[name].run(f"systemctl start {unit}")


def test_central_store_unit_is_hardened(host, capsys):
    assert_hardened(host, "victoriametrics.service", capsys)


def test_central_store_unit_is_its_golden_file(host):
    assert_golden_unit(host, "victoriametrics.service")
