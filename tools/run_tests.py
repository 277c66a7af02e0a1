#!/usr/bin/env python3
"""`make test`: bootstrap, lint, unit tests, then every Molecule scenario.

Each scenario runs: destroy, create, prepare, converge, idempotence, check (converge --check
must report changed=0 on the converged hosts), side_effect, verify, destroy. Output goes to
reports/<scenario>.log; the last line is the summary.

  python3 tools/run_tests.py                      # everything
  python3 tools/run_tests.py --only lint unit
  python3 tools/run_tests.py --scenario node_exporter/default
"""
import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bootstrap  # noqa: E402
import mirror  # noqa: E402
from common import CACHE, ROOT, VENV, log  # noqa: E402

REPORTS = ROOT / "reports"
STEPS = ["destroy", "create", "prepare", "converge", "idempotence", "check", "side-effect", "verify"]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def venv_env(**extra):
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}:{env['PATH']}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def scenarios():
    """[(label, directory to run molecule in, scenario name)] in a stable order."""
    found = []
    for path in sorted(ROOT.glob("roles/*/molecule/*/molecule.yml")):
        role_dir, name = path.parents[2], path.parent.name
        found.append((f"{role_dir.name}/{name}", role_dir, name))
    for path in sorted(ROOT.glob("molecule/*/molecule.yml")):
        found.append((path.parent.name, ROOT, path.parent.name))
    return found


def run_logged(cmd, cwd, env, logfile):
    with open(logfile, "a") as out:
        out.write(f"\n+ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out.write(proc.stdout)
    return proc


def check_mode_clean(output):
    """True when every host in the recap has changed=0, unreachable=0, failed=0."""
    recaps = RECAP.findall(output)
    return bool(recaps) and all(changed == unreachable == failed == "0" for _, changed, unreachable, failed in recaps)


def verified_something(output):
    """A verify step counts only when pytest passed at least one test."""
    return re.search(r"=+ .*\b[1-9]\d* passed", output) is not None


def run_scenario(label, cwd, name, mirror_url, keep=False):
    slug = label.replace("/", "-")
    logfile = REPORTS / f"{slug}.log"
    ansible_log = REPORTS / f"{slug}.ansible.log"
    for stale in REPORTS.glob(f"{slug}.*"):
        stale.unlink(missing_ok=True)
    env = venv_env(MONITORING_ROOT=ROOT, MONITORING_CACHE=CACHE, MONITORING_MIRROR_URL=mirror_url,
                   ANSIBLE_LOG_PATH=ansible_log, ANSIBLE_FORCE_COLOR="0", PY_COLORS="0",
                   MONITORING_RUN_LOGS=f"{ansible_log}:{logfile}",
                   MONITORING_GRAFANA_VERSION=mirror.grafana_version())
    # The verifier's own Ansible calls (testinfra reading host vars) log elsewhere, so the
    # secret checks read only what converge, idempotence, check and side-effect printed.
    verify_env = dict(env, ANSIBLE_LOG_PATH=str(REPORTS / f"{slug}.verify.ansible.log"))
    molecule = str(VENV / "bin" / "molecule")
    timings, failed_step, proc = {}, None, None
    try:
        for step in STEPS:
            start = time.monotonic()
            if step == "check":
                proc = run_logged([molecule, "converge", "-s", name, "--", "--check"], cwd, env, logfile)
                ok = proc.returncode == 0 and check_mode_clean(proc.stdout)
            else:
                proc = run_logged([molecule, step, "-s", name], cwd, verify_env if step == "verify" else env, logfile)
                ok = proc.returncode == 0 and (step != "verify" or verified_something(proc.stdout))
            timings[step] = time.monotonic() - start
            if not ok:
                failed_step = step
                break
    finally:
        if not keep:
            run_logged([molecule, "destroy", "-s", name], cwd, env, logfile)
    summary = " ".join(f"{s}={t:.0f}s" for s, t in timings.items())
    if failed_step:
        log(f"FAILED {label} at {failed_step} ({summary}); see {logfile}")
        print("\n".join(proc.stdout.splitlines()[-80:]), flush=True)
    else:
        log(f"passed {label} ({summary})")
    return failed_step is None


def lint():
    env = venv_env()
    ok = subprocess.run([VENV / "bin/yamllint", "--strict", "."], cwd=ROOT, env=env).returncode == 0
    ok &= subprocess.run([VENV / "bin/ansible-lint", "--profile", "production"], cwd=ROOT, env=env).returncode == 0
    return ok


def unit():
    return subprocess.run([VENV / "bin/pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
                          cwd=ROOT, env=venv_env()).returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=["lint", "unit", "molecule"], default=["lint", "unit", "molecule"])
    parser.add_argument("--scenario", nargs="+", help="labels such as node_exporter/default")
    parser.add_argument("--keep", action="store_true", help="leave the scenario's hosts running")
    args = parser.parse_args()
    started = time.monotonic()
    bootstrap.main()
    REPORTS.mkdir(exist_ok=True)
    results = {}
    if "lint" in args.only:
        log("lint: yamllint, ansible-lint (production profile)")
        results["lint"] = lint()
    if "unit" in args.only:
        log("unit tests")
        results["unit"] = unit()
    if "molecule" in args.only:
        selected = [s for s in scenarios() if not args.scenario or s[0] in args.scenario]
        if args.scenario and len(selected) != len(args.scenario):
            log(f"unknown scenario in {args.scenario}; known: {[s[0] for s in scenarios()]}")
            return 2
        with mirror.serving() as url:
            for label, cwd, name in selected:
                results[f"molecule {label}"] = run_scenario(label, cwd, name, url, args.keep)
    passed = sum(results.values())
    for name, ok in results.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print(f"wall time: {time.monotonic() - started:.0f}s")
    print(f"{passed} passed, {len(results) - passed} failed", flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
