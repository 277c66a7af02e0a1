# -*- coding: utf-8 -*-
# Apache-2.0, monitoring-stack
"""HTTP(S) health checks of the monitoring services and the journal of a failed start, shared by monitoring_health
and monitoring_files."""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
import urllib.error
import urllib.request


def fetch(url, ca_path=None, user=None, password=None, timeout=5, method="GET"):
    """(status, body) of one request (GET, or a POST without a body); status 0 and the reason when there is no
    HTTP answer."""
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    if user:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=ca_path) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ssl.SSLError) as err:
        return 0, str(getattr(err, "reason", err))


def metric(body, name):
    """Value of an unlabelled sample `name` in Prometheus text format, else None."""
    match = re.search(rf"(?m)^{re.escape(name)} (\S+)", body)
    return float(match.group(1)) if match else None


def reload_ok(body, prefix, since):
    return metric(body, f"{prefix}_successful") == 1 and (metric(body, f"{prefix}_success_timestamp_seconds") or 0) >= since


def poll(check, retries, delay, sleep=time.sleep):
    """Run check() until it returns (True, ...) or the attempts run out; returns (ok, attempts, last)."""
    last = None
    for attempt in range(1, max(retries, 1) + 1):
        ok, last = check()
        if ok:
            return True, attempt, last
        if attempt < retries:
            sleep(delay)
    return False, max(retries, 1), last


def cluster_members(body):
    """(status, member names) of an Alertmanager /api/v2/status answer; ("", []) when it is not one."""
    try:
        cluster = json.loads(body).get("cluster") or {}
    except (ValueError, AttributeError):
        return "", []
    return str(cluster.get("status") or ""), sorted(str(p.get("name", "")) for p in cluster.get("peers") or [])


def targets_scraped(body):
    """(active targets, those not scraped yet) of a Prometheus /api/v1/targets answer; (0, 0) when it is not one."""
    try:
        targets = (json.loads(body).get("data") or {}).get("activeTargets") or []
    except (ValueError, AttributeError):
        return 0, 0
    return len(targets), sum(1 for t in targets if t.get("health") == "unknown")


def check_health(spec, sleep=time.sleep):
    """Poll spec["url"] until it answers spec["status"]; with spec["reload_metric"], also until the service
    reports its configuration loaded (at or after spec["reloaded_since"]); with spec["cluster_peers"], until the
    cluster status at spec["cluster_url"] is settled ("ready") with that many members, itself included, so a
    rolling restart moves on only once the member is back in the cluster; with spec["targets_min"], until the
    targets at spec["targets_url"] (Prometheus's active targets) number at least that and each was scraped once,
    so the next HA replica restarts only while this one scrapes. Returns (ok, message, status, attempts)."""
    retries, delay = spec.get("retries") or 30, spec.get("delay") or 1
    want, prefix = spec.get("status") or 200, spec.get("reload_metric") or ""
    since = float(spec.get("reloaded_since") or 0)

    def get(url):
        return fetch(url, spec.get("ca_path"), spec.get("user"), spec.get("password"), spec.get("timeout") or 5)

    def answered():
        status, body = get(spec["url"])
        return status == want, (status, body)

    def loaded():
        status, body = get(spec["metrics_url"])
        return status == 200 and reload_ok(body, prefix, since), (status, body)

    peers = int(spec.get("cluster_peers") or 0)

    def joined():
        status, body = get(spec["cluster_url"])
        state, members = cluster_members(body) if status == 200 else ("", [])
        return state == "ready" and len(members) >= peers, (status, f"status {state or 'unknown'}, members {members}")

    targets = int(spec.get("targets_min") or 0)

    def scraped():
        status, body = get(spec["targets_url"])
        found, waiting = targets_scraped(body) if status == 200 else (0, 0)
        return found >= targets and not waiting, (status, f"{found} active targets, {waiting} not scraped yet")

    ok, attempts, (status, body) = poll(answered, retries, delay, sleep)
    if not ok:
        return False, (f"no healthy answer from {spec['url']} after {attempts} attempts: "
                       f"{'HTTP ' + str(status) if status else body}"), status, attempts
    # Then, in turn, the stages that apply; each gets its own attempts.
    stages = [(loaded, lambda seen, n: f"the configuration on disk is not the one loaded ({prefix}_successful is not 1 "
                                       f"since {since:.0f})")] if prefix else []
    stages += [(joined, lambda seen, n: f"its cluster has not formed with {peers} members after {n} attempts ({seen}): "
                                        "are the other members running and reachable?")] if peers else []
    stages += [(scraped, lambda seen, n: f"it has not scraped its {targets} targets after {n} attempts ({seen})")] if targets else []
    for check, failure in stages:
        ok, more, (status, seen) = poll(check, retries, delay, sleep)
        attempts += more
        if not ok:
            return False, f"{spec['url']} answers, but {failure(seen, more)}", status, attempts
    return True, "healthy", status, attempts


ENDED = re.compile(r"Main process exited|Failed with result|Deactivated successfully")


def start_journal(run, unit, lines=40):
    """The journal of the unit's last start that wrote anything (its invocation), not the lines of the process
    before it: while a failing unit waits to restart, its current invocation has no lines yet."""
    rc, out, _ = run(["journalctl", "--unit", unit, "--output", "json", "--lines", "500", "--no-pager"])
    entries = []
    for line in (out or "").splitlines() if rc == 0 else []:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    started = [e["_SYSTEMD_INVOCATION_ID"] for e in entries if e.get("_SYSTEMD_INVOCATION_ID")]
    if not started:
        return run(["journalctl", "--unit", unit, "--lines", str(lines), "--no-pager"])[1]
    # The last start that ended (systemd logged its exit), not a retry that has only begun to log when we read.
    ended = {e["INVOCATION_ID"] for e in entries if e.get("INVOCATION_ID") and ENDED.search(str(e.get("MESSAGE", "")))}
    last = next((i for i in reversed(started) if i in ended), started[-1])
    text = [e.get("MESSAGE", "") for e in entries if last in (e.get("_SYSTEMD_INVOCATION_ID"), e.get("INVOCATION_ID"))]
    return "\n".join(m if isinstance(m, str) else bytes(m).decode("utf-8", "replace") for m in text[-lines:])


def quiet_module(**options):
    """An AnsibleModule that logs nothing to the journal, for modules whose arguments carry keys and passwords:
    AnsibleModule logs them as a repr whose multi-line and quoted values escape its masking, and its no_log argument
    is replaced by the task's. Overriding log() covers every execution path."""
    from ansible.module_utils.basic import AnsibleModule

    class QuietModule(AnsibleModule):
        def log(self, msg, log_args=None):
            pass
    return QuietModule(**options)


def run_quiet_module(argument_spec, run):
    """main() of a module whose run(params, check_mode, diff, run_command) returns its result: through
    quiet_module (no journal: secrets), failing when the result says so."""
    module = quiet_module(argument_spec=argument_spec, supports_check_mode=True)
    result = run(module.params, module.check_mode, module._diff, module.run_command)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)
