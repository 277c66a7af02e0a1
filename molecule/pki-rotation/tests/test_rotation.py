"""The internal CA rotates in three converges of site.yml (stage, switch, finish), each leaving the stack working:
every target up over HTTPS and the Alertmanager cluster ready. Runs before test_secure.py, which then checks TLS,
auth and gossip under the new CA."""
import calendar
import os
import ssl
import subprocess
import time

from cryptography import x509
from monitoring_testlib import changed_hosts, container_ip, get, run_playbook, scenario_ca, wait_for

CA = scenario_ca()
PKI = os.path.dirname(CA)
SITE = os.path.join(os.environ["MONITORING_ROOT"], "site.yml")
AUTH = ("admin", "Am-admin-73fa0c")  # monitoring_basic_auth_users in molecule.yml


def served_issuer(address, port):
    pem = ssl.get_server_certificate((address, port))
    return x509.load_pem_x509_certificate(pem.encode()).issuer.rfc4514_string()


def bundle_subjects():
    with open(CA, "rb") as handle:
        return [c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(handle.read())]


def stack_works(since):
    """Every target scraped after `since` and up; both Alertmanagers in a ready cluster of two."""
    api = f"https://{container_ip('deb12')}:9090/api/v1"

    def fresh_and_up():
        targets = get(f"{api}/targets?state=active", auth=AUTH, ca=CA).json()["data"]["activeTargets"]
        scraped = [t for t in targets if t["health"] == "up" and
                   calendar.timegm(time.strptime(t["lastScrape"][:19], "%Y-%m-%dT%H:%M:%S")) > since]
        return targets if len(targets) >= 5 and len(scraped) == len(targets) else None
    targets = wait_for(fresh_and_up, 60, message="every target scraped and up after the step")
    assert {t["labels"]["job"] for t in targets} >= {"node", "alertmanager", "prometheus"}
    for host in ("deb12", "deb13"):
        status = wait_for(lambda h=host: (lambda s: s if s["cluster"]["status"] == "ready" and len(s["cluster"]["peers"]) == 2
                                          else None)(get(f"https://{container_ip(h)}:9093/api/v2/status", auth=AUTH, ca=CA).json()),
                          60, message=f"{host}: a ready cluster of two")
        assert status


def test_the_ca_rotates_with_targets_up_and_the_cluster_ready_after_every_step():
    old = bundle_subjects()
    assert len(old) == 1
    for step in ("stage", "switch", "finish"):
        started = time.time()
        code, output = run_playbook(SITE, "-e", f"monitoring_pki_ca_rotation={step}", timeout=600)
        assert code == 0, f"{step}: {output[-3000:]}"
        assert changed_hosts(output), step
        stack_works(started)
        trusted = bundle_subjects()
        issuer = served_issuer(container_ip("deb13"), 9100)
        if step == "stage":  # both trusted, certificates still from the old CA
            assert trusted[0] == old[0] and len(trusted) == 2 and issuer == old[0]
        elif step == "switch":  # the new CA signs, the old one is still trusted
            assert trusted[1] == old[0] and issuer == trusted[0] != old[0]
        else:  # only the new CA
            assert trusted == [issuer] and issuer != old[0]
            assert not os.path.exists(os.path.join(PKI, "ca-previous.key"))
        on_host = wait_for(lambda: open(CA).read() if _host_ca("deb13") == open(CA).read() else None, 10,
                           message="the hosts trust what ca-bundle.crt holds")
        assert on_host
    code, output = run_playbook(SITE, "-e", "monitoring_pki_ca_rotation=finish")
    assert code == 0 and changed_hosts(output) == [], output[-3000:]


def _host_ca(host):
    return subprocess.run(["docker", "exec", host, "cat", "/etc/node_exporter/tls/ca.crt"],
                          capture_output=True, text=True).stdout
