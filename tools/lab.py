#!/usr/bin/env python3
"""The lab: systemd containers on this machine, converged with site.yml.

  .venv/bin/python tools/lab.py up        # start hosts, write inventories/lab/hosts.yml, run site.yml
  .venv/bin/python tools/lab.py down      # remove the hosts and their network

Containers are started exactly as Molecule starts its platforms (.config/molecule/config.yml),
so the lab and the tests run on the same kind of host.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mirror  # noqa: E402
from common import CACHE, ROOT, VENV, log, run  # noqa: E402

sys.path.insert(0, str(ROOT / "collections"))  # the repository as the collection monitoring.stack
from ansible_collections.monitoring.stack.plugins.filter.monitoring_components import COMPONENTS  # noqa: E402

NETWORK = "monitoring-lab"
# name -> (Debian release, inventory groups); node_exporter runs on every host.
LAB_HOSTS = {
    "lab-prometheus": ("12", ["prometheus"]),
    "lab-alertmanager": ("13", ["alertmanager"]),
    "lab-grafana": ("12", ["grafana"]),
    "lab-node1": ("13", []),
}


def platform_template():
    import yaml  # from .venv; `down` works without it
    config = yaml.safe_load((ROOT / ".config/molecule/config.yml").read_text())
    return config["platforms"][0]


def docker_run_args(name, release, network=NETWORK, label="lab"):
    spec = platform_template()
    args = ["docker", "run", "-d", "--name", name, "--hostname", name, "--network", network,
            "--label", f"monitoring-stack={label}"]
    args += [f"--cap-add={cap}" for cap in spec.get("capabilities", [])]
    args += [f"--security-opt={opt}" for opt in spec.get("security_opts", [])]
    args += [f"--cgroupns={spec['cgroupns_mode']}"] if spec.get("cgroupns_mode") else []
    args += [f"--volume={vol}" for vol in spec.get("volumes", [])]
    args += [f"--tmpfs={path}" for path in spec.get("tmpfs", [])]
    image = spec["image"].rsplit(":", 1)[0] + f":{release}"
    return args + [image, spec["command"]]


def container_state(name):
    proc = subprocess.run(["docker", "inspect", name], capture_output=True, text=True)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def inventory(hosts):
    import yaml
    groups = {"prometheus": {}, "alertmanager": {}, "grafana": {}}
    for name, (_, member_of) in hosts.items():
        for group in member_of:
            groups[group].setdefault("hosts", {})[name] = {}
    groups["node_exporter"] = {"hosts": {name: {} for name in hosts}}
    body = {"all": {"vars": {"ansible_connection": "community.docker.docker"}, "children": groups}}
    header = "---\n# Written by tools/lab.py (make lab): systemd containers on this machine.\n"
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def start_hosts(hosts, network=NETWORK, label="lab"):
    if subprocess.run(["docker", "network", "inspect", network], capture_output=True).returncode != 0:
        run(["docker", "network", "create", network], stdout=subprocess.DEVNULL)
    for name, (release, _) in hosts.items():
        state = container_state(name)
        if state and state["State"]["Running"]:
            continue
        if state:
            run(["docker", "start", name], stdout=subprocess.DEVNULL)
        else:
            run(docker_run_args(name, release, network, label), stdout=subprocess.DEVNULL)
    for name in hosts:  # wait until systemd has booted
        for _ in range(60):
            proc = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"],
                                  capture_output=True, text=True)
            if proc.stdout.strip() in ("running", "degraded"):
                break
            time.sleep(1)


def converge(inventory_dir, extra_args=(), quiet=False):
    grafana = mirror.add_grafana()  # a Grafana tarball given in MONITORING_GRAFANA_TARBALL, else ''
    env = dict(os.environ, PATH=f"{VENV / 'bin'}:{os.environ['PATH']}", ANSIBLE_FORCE_COLOR="0",
               MONITORING_GRAFANA_VERSION=grafana)
    with mirror.serving() as url:
        cmd = [VENV / "bin/ansible-playbook", "site.yml", "-i", inventory_dir,
               "-e", f"monitoring_mirror_url={url}", *(["-e", f"grafana_version={grafana}"] if grafana else []),
               *extra_args]
        start = time.monotonic()
        proc = run(cmd, check=False, cwd=ROOT, env=env, **({"capture_output": True, "text": True} if quiet else {}))
        return (proc if quiet else proc.returncode), time.monotonic() - start


def summary(hosts, inventory_dir):
    log("lab hosts")
    for name, (release, groups) in hosts.items():
        address = container_state(name)["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        roles = ", ".join(groups + ["node_exporter"])
        print(f"  {name:<18} Debian {release}  {address:<15} {roles}")
        notes = {"node_exporter": "metrics", "prometheus": "targets: /targets, alerts: /alerts",
                 "alertmanager": f"amtool on the host: docker exec {name} amtool alert query",
                 "grafana": "admin / lab-admin-password" if os.environ.get("MONITORING_GRAFANA_TARBALL") else
                 "configuration only: give a Grafana tarball in MONITORING_GRAFANA_TARBALL to run it"}
        for component, entry in COMPONENTS.items():
            if entry["group"] in groups + ["node_exporter"]:
                path = entry["metrics_path"] if component == "node_exporter" else "/"
                print(f"      {component + ':':<14} http://{address}:{entry['port']}{path}  ({notes.get(component, '')})")
        print(f"      shell:         docker exec -it {name} bash")
    print(f"  inventory: {inventory_dir}   re-run: make lab   remove: make lab-down")


def up(args):
    hosts = LAB_HOSTS
    inventory_dir = ROOT / "inventories" / "lab"
    start_hosts(hosts)
    hosts_file = inventory_dir / "hosts.yml"
    text = inventory(hosts)
    if not hosts_file.exists() or hosts_file.read_text() != text:
        hosts_file.write_text(text)
    rc, seconds = converge(inventory_dir, args.ansible_args)
    log(f"site.yml on the lab took {seconds:.1f}s (exit {rc})")
    summary(hosts, inventory_dir)
    return rc


def remove_hosts(network=NETWORK, label="lab"):
    names = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=monitoring-stack={label}"],
                           capture_output=True, text=True).stdout.split()
    if names:
        run(["docker", "rm", "-f", *names], stdout=subprocess.DEVNULL)
    subprocess.run(["docker", "network", "rm", network], capture_output=True)


def down(_args):
    remove_hosts()
    log(f"lab removed (cache kept in {CACHE})")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("ansible_args", nargs="*", help="passed to ansible-playbook (after --)")
    args = parser.parse_args()
    return up(args) if args.action == "up" else down(args)


if __name__ == "__main__":
    sys.exit(main())
