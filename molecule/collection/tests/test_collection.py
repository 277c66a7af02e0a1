"""The hosts were converged from the installed tarball (prepare.yml), not from the repository: the collection holds
what an operator needs and nothing of the tests, and its playbook converges again from a bare directory, with no
setting of this project's, changing nothing."""
import json
import os
import subprocess
import tarfile
from pathlib import Path

from monitoring_testlib import changed_hosts

OPERATOR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "operator"
INSTALLED = OPERATOR / "collections/ansible_collections/monitoring/stack"


def test_the_tarball_holds_the_collection_and_none_of_the_tests():
    [tarball] = OPERATOR.glob("monitoring-stack-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"MANIFEST.json", "meta/runtime.yml", "plugins/modules/monitoring_files.py", "plugins/action/monitoring_files.py",
            "plugins/filter/monitoring_common.py", "plugins/module_utils/monitoring_http.py",
            "plugins/plugin_utils/monitoring_lean.py", "roles/prometheus/tasks/main.yml",
            "files/prometheus/rules/api.yml", "playbooks/prometheus.yml"} <= names
    assert not {n for n in names if n.split("/")[0] in ("tests", "molecule", "tools", "inventories", "collections", ".venv")}
    assert not {n for n in names if "/molecule/" in n or n.endswith(".tar.gz")}
    manifest = json.loads((INSTALLED / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == ("monitoring", "stack")


def test_the_operators_playbook_converges_again_from_a_bare_directory_changing_nothing(tmp_path):
    """Only the installed collection on the collections path, an empty ansible.cfg: no roles path, no plugin setting."""
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    (tmp_path / "inventory.yml").write_text(
        "all:\n  children:\n    prometheus: {hosts: {deb12: {}, deb13: {}}}\n    node_exporter: {hosts: {deb12: {}, deb13: {}}}\n"
        "  vars:\n    ansible_connection: community.docker.docker\n"
        f"    monitoring_mirror_url: {os.environ['MONITORING_MIRROR_URL']}\n"
        f"    monitoring_download_dir: {os.environ['MONITORING_CACHE']}/downloads\n"
        # the scenario's settings (molecule.yml), as the operator's inventory holds them
        "    prometheus_scrape_interval: 5s\n    prometheus_scrape_timeout: 4s\n    prometheus_evaluation_interval: 5s\n"
        "    prometheus_retention_time: 3d\n    prometheus_retention_size: 1GB\n"
        f"    prometheus_rules_dir: {INSTALLED}/files/prometheus/rules\n"  # the collection's own copy
        "    prometheus_rules: {molecule: {groups: [{name: molecule, rules: [{record: 'molecule:node_up:count',"
        " expr: 'count(up{job=\"node\"} == 1)'}]}]}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(OPERATOR / "collections"),
               ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", "inventory.yml", str(OPERATOR / "site.yml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and changed_hosts(output) == [], output[-4000:]
