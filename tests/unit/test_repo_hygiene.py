"""What the repository itself must never carry or turn off: unencrypted vault files, the internal CA's keys,
SSH host-key checking."""
import configparser
import subprocess

from conftest import ROOT


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def test_tracked_vault_files_are_encrypted():
    tracked = [p for p in git("ls-files").stdout.splitlines() if p.rsplit("/", 1)[-1] in ("vault.yml", "vault.yaml")]
    plain = [p for p in tracked if not (ROOT / p).read_text(errors="replace").startswith("$ANSIBLE_VAULT;")]
    assert not plain, f"unencrypted vault files in git: {plain}"


def test_keys_and_vaults_are_ignored():
    for path in (".pki/ca.key", "inventories/production/pki/ca.key", "inventories/staging/group_vars/all/vault.yml"):
        assert git("check-ignore", "-q", path).returncode == 0, f"{path} is not git-ignored"


def test_ssh_host_key_checking_stays_on():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    for section in config.sections():
        assert config[section].get("host_key_checking", "true").lower() not in ("false", "no", "0"), section
        assert "StrictHostKeyChecking=no" not in config[section].get("ssh_args", "")
