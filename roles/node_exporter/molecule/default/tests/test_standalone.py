"""The roles work from another playbook repository: no project ansible.cfg, no filter_plugins setting, only the
roles on the roles path (the shared role's plugins are found from the role itself)."""
import os
import subprocess

from monitoring_testlib import changed_hosts

ROOT = os.environ["MONITORING_ROOT"]


def bare_run(tmp_path):
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # nothing of the project's
    (tmp_path / "inventory.yml").write_text(
        "node_exporter:\n  hosts:\n    deb13: {ansible_connection: community.docker.docker}\n"
        f"  vars:\n    monitoring_mirror_url: {os.environ['MONITORING_MIRROR_URL']}\n"
        f"    monitoring_download_dir: {os.environ['MONITORING_CACHE']}/downloads\n")
    (tmp_path / "site.yml").write_text("- name: Exporters\n  hosts: node_exporter\n  roles: [node_exporter]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_ROLES_PATH=f"{ROOT}/roles", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", "inventory.yml", "site.yml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_converges_from_a_bare_playbook_directory(tmp_path):
    returncode, output = bare_run(tmp_path)
    assert returncode == 0, output[-4000:]
    returncode, output = bare_run(tmp_path)
    assert returncode == 0 and changed_hosts(output) == [], output[-4000:]
