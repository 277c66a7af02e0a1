"""node_reboot_required (the HostRebootRequired alert's metric): the timer runs with node_exporter, the value follows
Debian's /run/reboot-required, the writer is sandboxed, and switching it off removes it (then on again)."""
import os

from monitoring_testlib import (assert_hardened, changed_hosts, container_ip, inventory_hosts, run_playbook, scrape,
                                values, wait_for)

testinfra_hosts = inventory_hosts("node_exporter")
UNIT = "node_exporter-reboot-required"
PROM = "/var/lib/node_exporter/textfile/reboot_required.prom"
PATHS = [f"/etc/systemd/system/{UNIT}.timer", f"/etc/systemd/system/{UNIT}.service",
         "/usr/local/lib/node_exporter/reboot-required", PROM]


def reboot_required(name):
    return values(scrape(f"http://{container_ip(name)}:9100/metrics"), "node_reboot_required")


def test_the_timer_runs_with_node_exporter_and_writes_the_value(host):
    assert host.service(f"{UNIT}.timer").is_running
    assert f"{UNIT}.timer" in host.check_output("systemctl show -p Wants --value node_exporter")
    wait_for(lambda: host.file(PROM).exists, 60, message="the first write, 15 s after the timer starts")
    assert host.file(PROM).user == "root" and host.file(PROM).mode == 0o644


def test_the_value_follows_the_flag(host):
    """Also where another user owns the textfile directory (0755): the writer keeps CAP_DAC_OVERRIDE for it."""
    directory = os.path.dirname(PROM)
    owner = host.check_output(f"stat -c %U:%G:%a {directory}").split(":")
    host.run_test(f"chown nobody:nogroup {directory} && chmod 0755 {directory}")
    try:
        for flagged in (True, False):
            host.run_test("touch /run/reboot-required" if flagged else "rm -f /run/reboot-required")
            host.run_test(f"systemctl start {UNIT}.service")
            wait_for(lambda f=flagged: reboot_required(host.backend.host) == [float(f)], 20,
                     message=f"node_reboot_required {int(flagged)}")
    finally:
        host.run_test(f"chown {owner[0]}:{owner[1]} {directory} && chmod {owner[2]} {directory}")


def test_the_writer_is_sandboxed(host, capsys):
    assert_hardened(host, f"{UNIT}.service", capsys)


def test_switched_off_it_is_stopped_and_removed_then_back(host):
    if host.backend.host != "deb12":
        return  # the runs cover both hosts; once is enough
    converge = os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml")
    hosts = {name: host.get_host(f"docker://{name}") for name in ("deb12", "deb13")}
    for run in range(2):
        returncode, output = run_playbook(converge, "-e", "node_exporter_reboot_required=false")
        assert returncode == 0, output[-3000:]
        assert (changed_hosts(output) == []) == (run == 1), output[-3000:]  # the second run changes nothing
    for name, each in hosts.items():
        assert not each.service(f"{UNIT}.timer").is_running
        assert [path for path in PATHS if each.file(path).exists] == []
        assert each.service("node_exporter").is_running and reboot_required(name) == []
    returncode, output = run_playbook(converge)
    assert returncode == 0, output[-3000:]
    for name, each in hosts.items():
        assert each.service(f"{UNIT}.timer").is_running
        wait_for(lambda n=name: reboot_required(n) == [0.0], 60, message="node_reboot_required back")
