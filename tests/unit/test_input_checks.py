"""Input checks shared by every role (monitoring_common_problems) and the prometheus job checks: each names the
variable, and none repeats a value that may be secret."""
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from monitoring_common import monitoring_common_problems, monitoring_placeholders, monitoring_release_digest
from monitoring_units import HARDENING_KEYS, monitoring_systemd_quote, monitoring_systemd_unit
from prometheus import prometheus_job_problems

from conftest import ROOT

BASE = {"name": "app", "version": "1.0.0", "listen_addresses": ["0.0.0.0:9100"]}


def problems(**spec):
    return monitoring_common_problems(dict(BASE, **spec))


def test_good_input_has_no_problems():
    assert problems(users={"prometheus": "x" * 72}, flags=["--log.level=info"], args=["--web.listen-address=:9100"],
                    hardening={"MemoryMax": "1G"}, names={"app_rules": ["node.yml"]}, unique={"app_x": ["a", "b"]}) == []


def test_a_password_over_72_bytes_is_refused_without_showing_it():
    secret = "ü" * 37  # 74 bytes, 37 characters
    found = problems(users={"prometheus": secret})
    assert len(found) == 1 and "app_basic_auth_users" in found[0] and "72 bytes" in found[0] and "prometheus" in found[0]
    assert secret not in found[0]


@pytest.mark.parametrize("flag", ["--log.level=info\nExecStartPre=/bin/sh -c id", "--a=\r", "--b=\x00"])
def test_line_breaks_in_flags_are_refused(flag):
    found = problems(flags=[flag], args=[flag])
    assert found == [f"app_extra_flags: flag(s) {flag.split('=', 1)[0]!r} contain a line break or control character"]
    with pytest.raises(AnsibleFilterError, match="line break"):
        monitoring_systemd_quote(flag)


def test_line_breaks_from_other_settings_name_the_flag():
    found = problems(args=["--storage.tsdb.path=/var/lib/x\n[Service]"])
    assert found and "--storage.tsdb.path" in found[0] and "app_*" in found[0]


def test_unknown_hardening_keys_are_refused():
    found = problems(hardening={"ProtectSytem": "strict", "MemoryMax": "1G"})
    assert len(found) == 1 and "app_unit_hardening" in found[0] and "ProtectSytem" in found[0]


def test_the_shipped_hardening_uses_only_known_keys():
    base = yaml.safe_load((ROOT / "roles/monitoring_common/defaults/main.yml").read_text())
    required = yaml.safe_load((ROOT / "roles/node_exporter/vars/main.yml").read_text())
    assert set(base["monitoring_common_unit_hardening_base"]) <= HARDENING_KEYS
    assert set(required["node_exporter_unit_hardening_required"]) <= HARDENING_KEYS


@pytest.mark.parametrize("name", ["", ".", "..", "../../etc/cron.d/x", "a/b", "x\ny"])
def test_names_that_become_files_are_single_path_components(name):
    found = problems(names={"alertmanager_templates": ["ok.tmpl", name]})
    assert len(found) == 1 and found[0].startswith("alertmanager_templates: ") and "ok.tmpl" not in found[0]


def test_duplicates_are_named():
    assert problems(unique={"grafana_datasources": ["a", "b", "a"]}) == [
        "grafana_datasources: duplicate name(s) a; each must be unique"]


def test_placeholders_of_the_vault_example_are_found():
    example = yaml.safe_load((ROOT / "inventories/production/group_vars/all/vault.yml.example").read_text())
    assert monitoring_placeholders(list(example), list(example.values())) == list(example)
    assert monitoring_placeholders(["vault_x"], ["a-real-secret"]) == []


def test_job_problems_never_show_secrets():
    jobs = [{"name": "orders", "targets": ["a:1"], "basic_auth": {"username": "u", "password": "hunter2-secret"},
             "bearer_token": "tok-secret", "intervall": "5s"},
            {"name": "bad name/", "group": "nosuch", "port": "x", "bearer_token": "tok2-secret"},
            "not-a-mapping"]
    found = prometheus_job_problems(jobs, {"app": ["h1"]})
    text = " ".join(found)
    assert len(found) == 3
    assert "prometheus_scrape_jobs entry orders" in found[0] and "unknown keys: intervall" in found[0]
    assert "not both" in found[0]
    assert "entry 2" in found[1] and "inventory group nosuch has no hosts" in found[1]
    assert "hunter2" not in text and "tok-secret" not in text and "tok2" not in text


def test_release_digest_from_a_list_or_a_single_digest():
    digest = "a" * 64
    listing = f"{'b' * 64}  app-1.0.linux-arm64.tar.gz\n{digest}  app-1.0.linux-amd64.tar.gz\n"
    assert monitoring_release_digest(listing, "app-1.0.linux-amd64.tar.gz") == digest
    assert monitoring_release_digest(f"{digest}\n", "grafana.tar.gz") == digest
    with pytest.raises(AnsibleFilterError, match="no sha256 for app-2.0"):
        monitoring_release_digest(listing, "app-2.0.linux-amd64.tar.gz", "http://mirror/sha256sums.txt")


def test_unit_refuses_a_description_with_a_line_break():
    spec = {"name": "app", "description": "App", "user": "app", "group": "app", "exec": "/usr/local/bin/app",
            "args": ["--x=1\nExecStartPost=/bin/false"]}
    with pytest.raises(AnsibleFilterError):
        monitoring_systemd_unit(spec)


def test_unit_refuses_line_breaks_and_unknown_keys_in_hardening():
    spec = {"name": "app", "description": "App", "user": "app", "group": "app", "exec": "/usr/local/bin/app"}
    for hardening in ({"ReadOnlyPaths": "/x\nExecStartPre=/bin/sh"}, {"ProtectSytem": "strict"}):
        with pytest.raises(AnsibleFilterError):
            monitoring_systemd_unit(dict(spec, hardening=hardening))
    with pytest.raises(AnsibleFilterError):
        monitoring_systemd_unit(dict(spec, description="App\nExecStartPre=/bin/sh"))


def test_rate_limit_goes_into_the_web_config_and_bad_ones_are_refused():
    from monitoring_common import monitoring_web_config
    web = yaml.safe_load(monitoring_web_config({"rate_limit": {"interval": "1s", "burst": 50}}))
    assert web == {"rate_limit": {"interval": "1s", "burst": 50}}
    assert problems(rate_limit={"interval": "1s", "burst": 50}) == []
    assert "monitoring_web_rate_limit" in problems(rate_limit={"interval": "fast", "burst": 5})[0]


def test_grafana_provisioning_keeps_a_literal_dollar():
    from grafana import grafana_escape, grafana_escape_secure
    password = "Scr$pe-'\"\\{{x}}-ünï"
    datasources = grafana_escape_secure([{"name": "P", "url": "http://x/$__env{NO}", "secureJsonData": {"basicAuthPassword": password}},
                                         {"name": "L"}])
    assert datasources[0]["secureJsonData"]["basicAuthPassword"] == "Scr$$pe-'\"\\{{x}}-ünï"
    assert datasources[0]["url"] == "http://x/$__env{NO}" and datasources[1] == {"name": "L"}
    assert grafana_escape([{"receivers": [{"settings": {"message": "{{ $labels.instance }}"}}]}]) == [
        {"receivers": [{"settings": {"message": "{{ $$labels.instance }}"}}]}]


@pytest.mark.parametrize("setting", [{"version": "1.0.0\n"}, {"listen_addresses": ["0.0.0.0:9100\n"]}])
def test_a_trailing_line_break_is_no_valid_value(setting):
    # "$" in a Python pattern also matches before a final line break: the checks anchor with \Z.
    assert problems(**setting)


def test_a_trailing_line_break_in_a_job_or_route_is_refused():
    from alertmanager import alertmanager_route_problems
    assert prometheus_job_problems([{"name": "app\n", "targets": ["h1:1"]}], {})
    assert prometheus_job_problems([{"name": "app", "targets": ["h1:1"], "scrape_interval": "15s\n"}], {})
    assert alertmanager_route_problems({"receiver": "r", "group_wait": "30s\n"})
