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


def test_every_collection_used_is_in_requirements():
    import re

    import yaml
    listed = {c["name"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    used = set()
    for path in git("ls-files", "*.yml", "*.yaml", "*.j2", "*.py").stdout.split():
        if path.startswith("tests/unit/"):
            continue
        text = (ROOT / path).read_text(errors="replace")
        used |= {m for m in re.findall(r"\b((?:community|ansible)\.[a-z_]+)\.[a-z_]+", text)
                 if m not in ("ansible.builtin", "ansible.module_utils", "ansible.plugins", "ansible.errors",
                              "ansible.utils", "ansible.parsing", "ansible.cli", "ansible.template")
                 and not m.startswith("ansible.module_utils")}
    assert used - listed == set(), "collections used but missing from requirements.yml"


def test_the_claimed_minimum_ansible_core_is_the_tested_one():
    """meta/main.yml claims only what make test runs: the ansible-core pinned in requirements.txt."""
    import re

    import yaml
    pinned = re.search(r"^ansible-core==(\d+\.\d+)\.", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    claims = {path.parent.parent.name: str(yaml.safe_load(path.read_text())["galaxy_info"]["min_ansible_version"])
              for path in ROOT.glob("roles/*/meta/main.yml")}
    assert set(claims.values()) == {pinned}, claims
