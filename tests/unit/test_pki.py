"""The one-pass PKI module: a converged run writes nothing, each reason to re-issue re-issues only that host."""
import os
import subprocess

from cryptography import x509
from monitoring_pki import run

HOSTS = [{"name": "node1", "sans": ["DNS:node1", "DNS:localhost", "IP:127.0.0.1", "IP:10.0.0.11"]},
         {"name": "node2", "sans": ["DNS:node2", "DNS:localhost", "IP:127.0.0.1"]}]


def params(directory, **extra):
    return dict({"dir": str(directory), "ca_name": "Test CA", "ca_days": 3650, "ca_renew_days": 180,
                 "cert_days": 365, "renew_days": 30, "hosts": HOSTS}, **extra)


def files(directory):
    return {name: os.stat(directory / name).st_mtime_ns for name in sorted(os.listdir(directory))}


def test_first_run_issues_everything_and_a_converged_run_writes_nothing(tmp_path):
    pki = tmp_path / "pki"
    assert run(params(pki), check_mode=True)["issued"] == ["node1", "node2"]
    assert not pki.exists()
    first = run(params(pki), check_mode=False)
    assert first["changed"] and first["ca_created"] and first["issued"] == ["node1", "node2"]
    assert oct(os.stat(pki).st_mode & 0o777) == "0o700"
    assert oct(os.stat(pki / "node1.key").st_mode & 0o777) == "0o600"
    before = files(pki)
    again = run(params(pki), check_mode=False)
    assert (again["changed"], again["issued"], again["warnings"]) == (False, [], [])
    assert files(pki) == before
    for purpose in ("sslserver", "sslclient"):
        check = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile", pki / "ca.crt", pki / "node1.crt"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    cert = x509.load_pem_x509_certificate((pki / "node1.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.0.0.11"]


def test_each_reason_reissues_only_that_host(tmp_path):
    pki = tmp_path / "pki"
    run(params(pki), check_mode=False)
    moved = [dict(HOSTS[0], sans=HOSTS[0]["sans"] + ["IP:10.0.0.99"]), HOSTS[1]]
    assert run(params(pki, hosts=moved), check_mode=False)["reasons"] == {"node1": "names changed"}
    os.remove(pki / "node2.key")
    assert run(params(pki, hosts=moved), check_mode=False)["reasons"] == {"node2": "new key"}
    assert set(run(params(pki, hosts=moved, renew_days=400), check_mode=False)["reasons"].values()) == {"expires soon"}
    assert run(params(pki, hosts=moved), check_mode=False)["issued"] == []


def test_a_renewed_ca_reissues_every_certificate(tmp_path):
    pki = tmp_path / "pki"
    run(params(pki), check_mode=False)
    os.rename(pki / "ca.crt", tmp_path / "old-ca.crt")
    os.rename(pki / "ca.key", tmp_path / "old-ca.key")
    result = run(params(pki), check_mode=False)
    assert result["ca_created"] and result["reasons"] == {"node1": "another CA", "node2": "another CA"}


def test_warns_when_the_ca_expires_soon(tmp_path):
    result = run(params(tmp_path / "pki", ca_renew_days=4000), check_mode=False)
    assert "within monitoring_pki_ca_renew_days (4000)" in result["warnings"][0]


def test_a_bad_san_fails_before_signing(tmp_path):
    import pytest
    with pytest.raises(ValueError, match="SAN 'URI:x'"):
        run(params(tmp_path / "pki", hosts=[{"name": "n", "sans": ["URI:x"]}]), check_mode=False)
    assert not (tmp_path / "pki/n.crt").exists()
