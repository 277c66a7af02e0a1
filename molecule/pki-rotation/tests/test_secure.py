"""Alertmanager over HTTPS with basic auth, gossip over mutual TLS (after the CA rotation of test_rotation.py)."""
import datetime
import os
import socket
import ssl

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from monitoring_testlib import (changed_hosts, container_ip, get, hostvars, inventory_hosts, run_logs,  # noqa: F401
                                run_playbook, scenario_ca, wait_for)

testinfra_hosts = inventory_hosts("alertmanager")
CA = scenario_ca()
PKI_PLAY = os.path.join(os.environ["MONITORING_ROOT"], "molecule/resources/pki.yml")
SITE = os.path.join(os.environ["MONITORING_ROOT"], "site.yml")


@pytest.fixture(scope="module")
def api(host):
    return f"https://{container_ip(host.backend.host)}:9093/api/v2"


def test_cluster_ready_over_tls_gossip(host, api, hostvars):
    auth = ("admin", hostvars["test_admin_password"])
    status = wait_for(lambda: (lambda s: s if s["cluster"]["status"] == "ready" and len(s["cluster"]["peers"]) == 2
                               else None)(get(f"{api}/status", auth=auth, ca=CA).json()), 60, message="2 peers")
    assert len(status["cluster"]["peers"]) == 2
    assert "--cluster.tls-config=/etc/alertmanager/cluster-tls.yml" in \
        host.file("/etc/systemd/system/alertmanager.service").content_string


def test_credentials_required(api, hostvars):
    assert get(f"{api}/status", ca=CA).status_code == 401
    assert get(f"{api}/status", auth=("admin", "wrong"), ca=CA).status_code == 401
    with pytest.raises(requests.exceptions.SSLError):
        get(f"{api}/status", auth=("admin", hostvars["test_admin_password"]))


def test_plain_http_refused(api, hostvars):
    try:
        response = get(api.replace("https://", "http://") + "/status", auth=("admin", hostvars["test_admin_password"]))
    except requests.exceptions.ConnectionError:
        return
    assert response.status_code == 400


def test_amtool_uses_tls_and_credentials(host):
    assert host.run("amtool cluster show").rc == 0
    amtool = host.file("/etc/amtool/http.yml")
    assert (amtool.user, amtool.mode) == ("root", 0o600)


def test_password_absent_from_logs(hostvars):
    text = run_logs()
    assert "Apply the files of" in text
    assert hostvars["test_admin_password"] not in text


def _stack_certificate(directory, name):
    """A certificate the stack's CA signed for a host that is not an Alertmanager peer."""
    pki = os.path.dirname(CA)
    ca_cert = x509.load_pem_x509_certificate(open(CA, "rb").read())
    ca_key = serialization.load_pem_private_key(open(os.path.join(pki, "ca.key"), "rb").read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name), x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _gossip_accepts(address, cert, key):
    """True when the gossip port keeps a mutual-TLS connection with this client certificate open."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(CA)
    context.check_hostname = False
    context.load_cert_chain(cert, key)
    with socket.create_connection((address, 9094), timeout=5) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.settimeout(3)
                return tls.recv(1) != b""  # TLS 1.3: a refused client certificate is an alert after the handshake
        except socket.timeout:
            return True  # the peer waits for a gossip message: accepted
        except (ssl.SSLError, ConnectionResetError):
            return False


def test_gossip_refuses_a_stack_certificate_of_a_non_peer(tmp_path):
    address = container_ip("deb12")
    pki = os.path.dirname(CA)
    assert _gossip_accepts(address, os.path.join(pki, "hosts/deb13.crt"), os.path.join(pki, "hosts/deb13.key"))
    assert not _gossip_accepts(address, *_stack_certificate(tmp_path, "intruder"))


def test_gossip_binds_the_advertise_address(host):
    listeners = host.check_output("ss -Htlnu '( sport = :9094 )'")
    assert f"{container_ip(host.backend.host)}:9094" in listeners
    assert "0.0.0.0:9094" not in listeners and "*:9094" not in listeners


def test_ca_expiry_warning():
    returncode, output = run_playbook(PKI_PLAY, "-e", "monitoring_pki_ca_renew_days=36500")
    assert returncode == 0, output[-3000:]
    text = " ".join(output.split())  # the result printer wraps long lines
    assert "[WARNING]: the internal CA" in text and "within monitoring_pki_ca_renew_days (36500)" in text
    returncode, output = run_playbook(PKI_PLAY)
    assert returncode == 0 and "the internal CA" not in output


def test_renewed_certificate_restarts_gossip_and_the_cluster_reforms(host, api, hostvars):
    """Last: a re-issued host certificate reaches the host and Alertmanager restarts to use it for gossip."""
    if host.backend.host != "deb12":
        pytest.skip("renews deb12's certificate once")
    pid = host.check_output("systemctl show -p MainPID --value alertmanager")
    old = host.file("/etc/alertmanager/tls/server.crt").content_string
    os.remove(os.path.join(os.path.dirname(CA), "hosts/deb12.crt"))
    returncode, output = run_playbook(SITE)
    assert returncode == 0, output[-3000:]
    assert "deb12" in changed_hosts(output)
    assert host.file("/etc/alertmanager/tls/server.crt").content_string != old
    assert host.check_output("systemctl show -p MainPID --value alertmanager") != pid
    auth = ("admin", hostvars["test_admin_password"])
    wait_for(lambda: (lambda s: s["cluster"]["status"] == "ready" and len(s["cluster"]["peers"]) == 2)(
        get(f"{api}/status", auth=auth, ca=CA).json()), 60, message="2 peers after the restart")
