import bcrypt
import pytest
from ansible.errors import AnsibleFilterError
from monitoring_common import monitoring_bcrypt_users, monitoring_health_host, monitoring_systemd_quote


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
