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
    return {str(path): path.stat().st_mtime_ns for path in sorted(directory.rglob("*"))}


def test_first_run_issues_everything_and_a_converged_run_writes_nothing(tmp_path):
    pki = tmp_path / "pki"
    assert run(params(pki), check_mode=True)["issued"] == ["node1", "node2"]
    assert not pki.exists()
    first = run(params(pki), check_mode=False)
    assert first["changed"] and first["ca_created"] and first["issued"] == ["node1", "node2"]
    assert oct(os.stat(pki).st_mode & 0o777) == "0o700"
    assert oct(os.stat(pki / "hosts/node1.key").st_mode & 0o777) == "0o600"
    before = files(pki)
    again = run(params(pki), check_mode=False)
    assert (again["changed"], again["issued"], again["warnings"]) == (False, [], [])
    assert files(pki) == before
    for purpose in ("sslserver", "sslclient"):
        check = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile", pki / "ca.crt", pki / "hosts/node1.crt"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    cert = x509.load_pem_x509_certificate((pki / "hosts/node1.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.0.0.11"]


def test_each_reason_reissues_only_that_host(tmp_path):
    pki = tmp_path / "pki"
    run(params(pki), check_mode=False)
    moved = [dict(HOSTS[0], sans=HOSTS[0]["sans"] + ["IP:10.0.0.99"]), HOSTS[1]]
    assert run(params(pki, hosts=moved), check_mode=False)["reasons"] == {"node1": "names changed"}
    os.remove(pki / "hosts/node2.key")
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
    assert not (tmp_path / "pki/hosts/n.crt").exists()


def verify(pki, host, cafile="ca-bundle.crt"):
    check = subprocess.run(["openssl", "verify", "-CAfile", pki / cafile, pki / "hosts" / f"{host}.crt"],
                           capture_output=True, text=True)
    return check.returncode == 0


def test_a_host_named_ca_never_gets_the_ca_key(tmp_path):
    pki = tmp_path / "pki"
    run(params(pki, hosts=[{"name": "ca", "sans": ["DNS:ca"]}] + HOSTS), check_mode=False)
    ca_key = (pki / "ca.key").read_bytes()
    assert (pki / "hosts/ca.key").read_bytes() != ca_key
    cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert verify(pki, "ca", "ca.crt") and verify(pki, "node1", "ca.crt")


def test_a_ca_crt_that_is_no_ca_or_not_the_keys_is_refused(tmp_path):
    import pytest
    pki = tmp_path / "pki"
    run(params(pki), check_mode=False)
    good = (pki / "ca.crt").read_bytes()
    (pki / "ca.crt").write_bytes((pki / "hosts/node1.crt").read_bytes())
    with pytest.raises(ValueError, match="is not a CA certificate"):
        run(params(pki), check_mode=False)
    other = tmp_path / "other"
    run(params(other), check_mode=False)
    (pki / "ca.crt").write_bytes((other / "ca.crt").read_bytes())
    with pytest.raises(ValueError, match="does not match ca.key"):
        run(params(pki), check_mode=False)
    (pki / "ca.crt").write_bytes(good)
    os.remove(pki / "ca.crt")
    with pytest.raises(ValueError, match="ca.crt is missing"):
        run(params(pki), check_mode=False)


def test_host_files_of_the_earlier_layout_move_into_hosts(tmp_path):
    pki = tmp_path / "pki"
    run(params(pki), check_mode=False)
    for ext in ("key", "crt"):
        os.replace(pki / f"hosts/node1.{ext}", pki / f"node1.{ext}")
    key = (pki / "node1.key").read_bytes()
    assert run(params(pki), check_mode=False)["issued"] == []
    assert (pki / "hosts/node1.key").read_bytes() == key and not (pki / "node1.key").exists()


def test_the_ca_rotates_in_three_steps_each_trusted_by_every_host(tmp_path):
    """stage: both CAs trusted, certificates kept; switch: re-issued by the new CA, the old still trusted (hosts not
    yet converged keep working); finish: only the new CA. Every step repeated changes nothing."""
    pki = tmp_path / "pki"
    run(params(pki), check_mode=False)
    old = (pki / "ca.crt").read_bytes()
    assert run(params(pki, rotation="stage"), check_mode=True)["changed"]
    staged = run(params(pki, rotation="stage"), check_mode=False)
    assert staged["changed"] and staged["issued"] == [] and len(staged["trusted"]) == 2
    assert (pki / "ca.crt").read_bytes() == old and (pki / "ca-bundle.crt").read_bytes().startswith(old)
    assert not run(params(pki, rotation="stage"), check_mode=False)["changed"]
    new = (pki / "ca-next.crt").read_bytes()
    assert run(params(pki, rotation="switch"), check_mode=True)["issued"] == ["node1", "node2"]
    switched = run(params(pki, rotation="switch"), check_mode=False)
    assert switched["reasons"] == {"node1": "another CA", "node2": "another CA"}
    assert (pki / "ca.crt").read_bytes() == new and (pki / "ca-previous.crt").read_bytes() == old
    assert verify(pki, "node1") and not verify(pki, "node1", "ca-previous.crt")
    assert not run(params(pki, rotation="switch"), check_mode=False)["changed"]
    finished = run(params(pki, rotation="finish"), check_mode=False)
    assert finished["changed"] and len(finished["trusted"]) == 1 and (pki / "ca-bundle.crt").read_bytes() == new
    assert not (pki / "ca-previous.key").exists() and verify(pki, "node1")
    assert not run(params(pki, rotation="finish"), check_mode=False)["changed"]
    assert not run(params(pki), check_mode=False)["changed"]


def test_a_switch_without_a_staged_ca_is_refused(tmp_path):
    import pytest
    pki = tmp_path / "pki"
    run(params(pki), check_mode=False)
    with pytest.raises(ValueError, match="switch needs a staged CA"):
        run(params(pki, rotation="switch"), check_mode=False)
