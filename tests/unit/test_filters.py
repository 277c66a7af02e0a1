import bcrypt
import pytest
from ansible.errors import AnsibleFilterError
import monitoring_common as F
from monitoring_common import monitoring_bcrypt_users
from monitoring_endpoints import monitoring_endpoints, monitoring_health_host, monitoring_pki_hosts
from monitoring_units import monitoring_systemd_quote


def test_new_user_gets_a_bcrypt_hash():
    hashed = monitoring_bcrypt_users({"prometheus": "s3cret"}, {}, cost=4)
    assert bcrypt.checkpw(b"s3cret", hashed["prometheus"].encode())
    assert "s3cret" not in hashed["prometheus"]


def test_unchanged_password_keeps_its_hash():
    first = monitoring_bcrypt_users({"prometheus": "s3cret"}, {}, cost=4)
    assert monitoring_bcrypt_users({"prometheus": "s3cret"}, first, cost=4) == first


def test_changed_password_gets_a_new_hash():
    first = monitoring_bcrypt_users({"prometheus": "s3cret"}, {}, cost=4)
    second = monitoring_bcrypt_users({"prometheus": "other"}, first, cost=4)
    assert second != first
    assert bcrypt.checkpw(b"other", second["prometheus"].encode())


def test_garbage_existing_hash_is_replaced():
    hashed = monitoring_bcrypt_users({"u": "p"}, {"u": "not-a-hash"}, cost=4)
    assert bcrypt.checkpw(b"p", hashed["u"].encode())


@pytest.mark.parametrize("password", ["", None])
def test_user_without_password_is_an_error(password):
    with pytest.raises(AnsibleFilterError, match="'u' has no password"):
        monitoring_bcrypt_users({"u": password})


@pytest.mark.parametrize("arg, quoted", [
    ("--web.listen-address=0.0.0.0:9100", "--web.listen-address=0.0.0.0:9100"),
    (r"--collector.systemd.unit-include=.+\.service", r'"--collector.systemd.unit-include=.+\\.service"'),
    ("--label=a b", '"--label=a b"'),
    ("--x=100%", "--x=100%%"),
    ("--x=$HOME", "--x=$$HOME"),
])
def test_systemd_quoting(arg, quoted):
    assert monitoring_systemd_quote(arg) == quoted


@pytest.mark.parametrize("listen, host", [
    ("0.0.0.0:9100", "127.0.0.1"), (":9100", "127.0.0.1"), ("[::]:9100", "[::1]"),
    ("10.0.0.5:9100", "10.0.0.5"), ("[fd00::1]:9100", "[fd00::1]"),
])
def test_health_host(listen, host):
    assert monitoring_health_host(listen) == host


def test_ini_values_keep_comment_characters():
    assert F.monitoring_ini_value("Monitoring #ops; on-call") == '"""Monitoring #ops; on-call"""'
    assert F.monitoring_ini_value("plain") == "plain"
    assert F.monitoring_ini_value(False) == "false"
    with pytest.raises(AnsibleFilterError):
        F.monitoring_ini_value('a"""b;')


def test_named_files_take_the_directory_then_the_inline_ones():
    files = F.monitoring_named_files(["/r/a.yml", "/r/b.rules"], ["A", "B"], {"c": "C", "a.yml": "A2", "d.yaml": "D"},
                                     ".yml", [".yml", ".yaml", ".rules"])
    assert files == {"a.yml": "A2", "b.rules": "B", "c.yml": "C", "d.yaml": "D"}
    assert F.monitoring_named_files([], [], {"slack": "T", "x.tmpl": "X"}, ".tmpl") == {"slack.tmpl": "T", "x.tmpl": "X"}


def test_endpoints_follow_each_hosts_settings():
    hostvars = {
        "p1": {"prometheus_listen_address": "0.0.0.0:9091", "monitoring_tls_enabled": True,
               "monitoring_basic_auth_users": {"scraper": "pw"}},
        "p2": {"monitoring_scrape_address": "10.0.0.2", "prometheus_tls_enabled": False},
        "n1": {"node_exporter_listen_addresses": ["[::]:9200"]},
    }
    assert monitoring_endpoints(["p1", "p2"], hostvars, "prometheus", 9090, "prometheus_listen_address") == [
        {"host": "p1", "address": "p1", "port": 9091, "scheme": "https", "username": "scraper", "password": "pw", "path": ""},
        {"host": "p2", "address": "10.0.0.2", "port": 9090, "scheme": "http", "username": "", "password": "", "path": ""},
    ]
    assert monitoring_endpoints(["n1"], hostvars, "node_exporter", 9100, "node_exporter_listen_addresses")[0]["port"] == 9200


def test_duration_seconds():
    assert F.monitoring_duration_seconds("1h30m") == 5400
    assert F.monitoring_duration_seconds("15s") == 15
    assert F.monitoring_duration_seconds("500ms") == 0.5
    with pytest.raises(AnsibleFilterError):
        F.monitoring_duration_seconds("10x")


def test_a_component_that_does_not_run_by_design_is_no_target():
    hostvars = {"g1": {"grafana_configure_only": True}, "g2": {"grafana_configure_only": "False"}}
    assert [e["host"] for e in monitoring_endpoints(["g1", "g2"], hostvars, "grafana", 3000, "grafana_http_port")] == ["g2"]


def test_a_client_picks_its_own_user():
    hostvars = {"am1": {"alertmanager_basic_auth_users": {"alerts": "a-pw", "grafana": "g-pw"}},
                "n1": {"monitoring_basic_auth_users": {}}}
    first, named = (monitoring_endpoints(["am1"], hostvars, "alertmanager", 9093, "alertmanager_listen_address", user)[0]
                    for user in ("", "grafana"))
    assert (first["username"], first["password"]) == ("alerts", "a-pw")
    assert (named["username"], named["password"]) == ("grafana", "g-pw")
    # No users there: no credentials, whatever the client names.
    assert monitoring_endpoints(["n1"], hostvars, "node_exporter", 9100, "x", "grafana")[0]["username"] == ""
    with pytest.raises(AnsibleFilterError, match="grafana_datasource_user names a user am1's alertmanager_basic_auth_users"
                                                 " lacks: no basic auth user 'prometheus' \\(users there: alerts, grafana\\)"):
        monitoring_endpoints(["am1"], hostvars, "alertmanager", 9093, "x", "prometheus", "grafana_datasource_user")
    health = F.monitoring_health_spec({"listen_address": "0.0.0.0:9093", "user": "grafana", "password": "",
                                       "users": {"alerts": "a-pw", "grafana": "g-pw"}})
    assert (health["user"], health["password"]) == ("grafana", "g-pw")


def test_every_client_gets_the_route_prefix():
    hostvars = {"p1": {"prometheus_external_url": "https://mon.example.com/prometheus/"},
                "p2": {"prometheus_external_url": "https://mon.example.com/x", "prometheus_route_prefix": "/prom"},
                "g1": {"grafana_serve_from_sub_path": True, "grafana_root_url": "%(protocol)s://%(domain)s:3000/grafana/"},
                "g2": {"grafana_root_url": "https://mon.example.com/grafana/"}}
    assert [e["path"] for e in monitoring_endpoints(["p1", "p2"], hostvars, "prometheus", 9090, "x")] == \
        ["/prometheus", "/prom"]
    # Grafana serves the sub path only with serve_from_sub_path (else a proxy strips it).
    assert [e["path"] for e in monitoring_endpoints(["g1", "g2"], hostvars, "grafana", 3000, "x")] == ["/grafana", ""]


def test_pki_hosts_from_the_inventory_and_the_hosts_own_addresses():
    hostvars = {"n1": {"ansible_facts": {"hostname": "n1", "fqdn": "n1.example.com",
                                         "all_ipv4_addresses": ["10.0.0.1", "127.0.0.1"]},
                       "monitoring_scrape_address": "n1.lan", "monitoring_tls_extra_sans": ["DNS:metrics.example.com"]}}
    assert monitoring_pki_hosts(["n1"], hostvars, ["n1"]) == [{"name": "n1", "sans": [
        "DNS:n1", "DNS:n1.lan", "DNS:localhost", "IP:127.0.0.1", "DNS:metrics.example.com", "IP:10.0.0.1"]}]


def test_a_host_whose_facts_claim_another_hosts_name_and_address_gets_neither():
    """Root on a monitored host renames it to an Alertmanager and adds that host's address: its certificate names
    neither, whether or not the other host is in the play (--limit), and the other host keeps both."""
    victim = {"ansible_host": "192.0.2.10", "ansible_facts": {"all_ipv4_addresses": ["192.0.2.10"]}}
    evil = {"ansible_facts": {"hostname": "am1", "fqdn": "am1.example.com",
                              "all_ipv4_addresses": ["192.0.2.66", "192.0.2.10", "192.0.2.11"]},
            "monitoring_tls_extra_sans": ["DNS:am1"]}
    shared = {"ansible_facts": {"all_ipv4_addresses": ["192.0.2.11"]}}
    hostvars = {"am1": victim, "evil": evil, "other": shared}
    certs = {h["name"]: h["sans"] for h in monitoring_pki_hosts(["am1", "evil", "other"], hostvars, list(hostvars))}
    assert certs["evil"] == ["DNS:evil", "DNS:localhost", "IP:127.0.0.1", "IP:192.0.2.66"]
    assert "IP:192.0.2.10" in certs["am1"] and "DNS:am1" in certs["am1"]
    assert "IP:192.0.2.11" not in certs["other"]  # two hosts' facts claim it: it is nobody's
    limited = {"am1": {"ansible_host": "192.0.2.10"}, "evil": evil, "other": {}}
    assert monitoring_pki_hosts(["evil"], limited, list(limited))[0]["sans"] == \
        ["DNS:evil", "DNS:localhost", "IP:127.0.0.1", "IP:192.0.2.66", "IP:192.0.2.11"]