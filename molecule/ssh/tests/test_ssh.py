"""The stack converged over SSH as an unprivileged user whose sudo needs a password: the hosts saw that
login and those sudo calls, the services answer over HTTPS with basic auth, and no secret reached the output."""
import os
import subprocess

import pytest
import yaml
from monitoring_testlib import changed_hosts, prometheus_targets, run_logs, run_playbook, scenario_ca

testinfra_hosts = []  # the inventory now connects as deploy; the checks below read the hosts through Docker
HOSTS = {"ssh-monitor": "172.30.77.11", "ssh-node": "172.30.77.12"}
CA = scenario_ca()


def on_host(host, command):
    return subprocess.run(["docker", "exec", host, "sh", "-c", command], capture_output=True, text=True)


@pytest.fixture(scope="module")
def vault():
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    proc = subprocess.run(["ansible-vault", "view", "--vault-password-file", f"{scenario}/vault-password", f"{scenario}/vault.yml"],
                          capture_output=True, text=True, check=True)
    return yaml.safe_load(proc.stdout)


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_controller_logged_in_over_ssh_as_deploy_and_used_sudo(host):
    sshd = on_host(host, "journalctl --no-pager -u ssh").stdout
    assert "Accepted publickey for deploy" in sshd
    sudo = on_host(host, "journalctl --no-pager _COMM=sudo").stdout
    assert "deploy : " in sudo and "USER=root" in sudo
    assert "root" not in [line.split()[-1] for line in sshd.splitlines() if "Accepted" in line]


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_sudo_needs_the_password(host):
    proc = on_host(host, "su deploy -c 'sudo -n true'")
    assert proc.returncode != 0 and "password is required" in proc.stderr


def test_host_keys_are_pinned():
    known = open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "known_hosts")).read().split("\n")
    for host, address in HOSTS.items():
        key = on_host(host, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
        assert f"{address} {' '.join(key)}" in known


def test_every_target_up_over_https_with_auth(vault):
    auth = ("prometheus", vault["vault_monitoring_scrape_password"])
    targets = prometheus_targets(f"https://{HOSTS['ssh-monitor']}:9090/api/v1", auth=auth, ca=CA, wait=60)
    jobs = {(t["labels"]["job"], t["labels"]["instance"].rsplit(":", 1)[0]) for t in targets}
    assert {("node", "ssh-monitor"), ("node", "ssh-node"), ("prometheus", "ssh-monitor"),
            ("alertmanager", "ssh-monitor")} <= jobs
    assert all(t["health"] == "up" and t["scrapeUrl"].startswith("https://") for t in targets), targets


def test_no_secret_in_the_output(vault):
    text = run_logs()
    assert "Apply the files of" in text
    for key, secret in vault.items():
        assert str(secret) not in text, key


def test_no_secret_reaches_the_journal_on_the_path_without_pipelining(vault):
    """Without pipelining the shared modules run through AnsiballZ, whose AnsibleModule logs its arguments to the
    journal unless the module is no_log: the plan carries the TLS key (PEM) and the scrape password (with \\ and ')."""
    site = os.path.join(os.environ["MONITORING_ROOT"], "molecule/ssh/converge.yml")
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    since = on_host("ssh-node", "date +@%s").stdout.strip()
    code, output = run_playbook(site, "--limit", "ssh-node", "-e", "ansible_pipelining=false",
                                "--vault-password-file", f"{scenario}/vault-password")
    assert code == 0, output[-3000:]
    assert changed_hosts(output) == []
    journal = on_host("ssh-node", f"journalctl --no-pager -o cat --since {since}").stdout
    # The path without pipelining ran: sudo started the module from its AnsiballZ file.
    assert "AnsiballZ_monitoring_files.py" in on_host("ssh-node", f"journalctl --no-pager --since {since} _COMM=sudo").stdout
    key = open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "pki/hosts/ssh-node.key")).read()
    body = "".join(line for line in key.splitlines() if "-----" not in line)
    flat = journal.replace("\\n", "").replace("\n", "")
    password = vault["vault_monitoring_scrape_password"]
    # Either side of the \ and the ': a repr escapes them, so the whole value would not be found.
    assert not [part for part in (password[:7], password[-8:]) if part in journal]
    assert body[:40] not in flat and body[-40:] not in flat
    assert "Invoked with plan=" not in journal
