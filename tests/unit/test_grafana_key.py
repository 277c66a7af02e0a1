"""The Grafana repository key pin: fingerprints computed without gpg agree with gpg's, armored and binary."""
import base64
import glob
import shutil
import subprocess

import pytest
from grafana import grafana_key_fingerprints

KEYS = sorted(glob.glob("/usr/share/keyrings/debian-archive-*.gpg") + glob.glob("/etc/apt/trusted.gpg.d/*.asc"))


def gpg_fingerprints(path):
    out = subprocess.run(["gpg", "--show-keys", "--with-colons", path], capture_output=True, text=True, check=True).stdout
    found, previous = [], None
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "fpr" and previous == "pub":
            found.append(fields[9])
        if fields[0] in ("pub", "sub", "uid"):
            previous = fields[0]
    return found


@pytest.mark.skipif(not KEYS or not shutil.which("gpg"), reason="needs Debian's archive keys and gpg on this machine")
@pytest.mark.parametrize("path", KEYS)
def test_fingerprints_match_gpg(path):
    data = open(path, "rb").read()
    expected = gpg_fingerprints(path)
    assert expected
    assert grafana_key_fingerprints(base64.b64encode(data).decode(), "base64") == expected
    if path.endswith(".asc"):
        assert grafana_key_fingerprints(data.decode()) == expected


def test_not_a_key_matches_no_pin():
    assert grafana_key_fingerprints("<html>captive portal</html>") == []
    assert grafana_key_fingerprints("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGTnhmk=\n-----END PGP PUBLIC KEY BLOCK-----") == []
