#!/usr/bin/python
# -*- coding: utf-8 -*-
# Apache-2.0, monitoring-stack
"""Wait until a monitoring service answers, and (for reloadable ones) runs the configuration on disk."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: monitoring_health
short_description: Wait for a healthy answer from a monitoring service over HTTP(S)
description:
  - Internal to the monitoring roles. Polls O(url) on the host itself, with the stack's CA and basic auth,
    until it answers with O(status). For services that reload their configuration it then polls
    O(metrics_url) until C(<reload_metric>_successful) is 1 and the last successful reload happened at or
    after O(reloaded_since).
  - One module run, no temporary files on the host.
options:
  url: {description: URL to poll., type: str, required: true}
  status: {description: Expected HTTP status., type: int, default: 200}
  ca_path: {description: CA certificate that verifies an HTTPS answer., type: str}
  user: {description: Basic auth user., type: str}
  password: {description: Basic auth password., type: str, no_log: true}
  retries: {description: Attempts per check., type: int, default: 30}
  delay: {description: Seconds between attempts., type: float, default: 1}
  timeout: {description: Seconds per request., type: int, default: 5}
  metrics_url: {description: URL of the service's own metrics (for the reload check)., type: str}
  reload_metric: {description: Metric prefix such as prometheus_config_last_reload; empty skips the check., type: str, default: ""}
  reloaded_since: {description: Epoch seconds the last successful reload must not be older than., type: float, default: 0}
  cluster_url: {description: Cluster status URL (Alertmanager's /api/v2/status)., type: str}
  cluster_peers: {description: Members the settled cluster must list there, the service included; 0 skips the check., type: int, default: 0}
  targets_url: {description: Prometheus's active targets URL (/api/v1/targets?state=active)., type: str}
  targets_min: {description: Targets that must be listed there, each scraped once; 0 skips the check., type: int, default: 0}
  unit: {description: Systemd unit whose journal of its last start the failure message quotes., type: str}
author: monitoring-stack
"""

EXAMPLES = r"""
- name: Wait for Prometheus and its configuration
  monitoring_health:
    url: https://127.0.0.1:9090/-/ready
    ca_path: /etc/prometheus/tls/ca.crt
    user: prometheus
    password: "{{ vault_monitoring_scrape_password }}"
    metrics_url: https://127.0.0.1:9090/metrics
    reload_metric: prometheus_config_last_reload
"""

RETURN = r"""
status: {description: HTTP status of the last answer (0 when there was none)., type: int, returned: always}
attempts: {description: Requests made., type: int, returned: always}
"""

try:
    from ansible.module_utils.basic import AnsibleModule  # noqa: F401 - the runtime is there
    from ..module_utils.monitoring_http import check_health, run_quiet_module, start_journal
except ImportError:  # on the host through the lean runner, which loads monitoring_http by that name
    AnsibleModule = None
    from monitoring_http import check_health, run_quiet_module, start_journal


ARGUMENT_SPEC = dict(
    url=dict(type="str", required=True), status=dict(type="int", default=200),
    ca_path=dict(type="str"), user=dict(type="str"), password=dict(type="str", no_log=True),
    retries=dict(type="int", default=30), delay=dict(type="float", default=1), timeout=dict(type="int", default=5),
    metrics_url=dict(type="str"), reload_metric=dict(type="str", default=""),
    reloaded_since=dict(type="float", default=0), unit=dict(type="str"),
    cluster_url=dict(type="str"), cluster_peers=dict(type="int", default=0),
    targets_url=dict(type="str"), targets_min=dict(type="int", default=0),
)


def run(params, check_mode, want_diff, run_command):
    """The check on validated parameters; the result, with failed and msg when the service is not healthy."""
    if check_mode:
        return {"changed": False, "skipped": True, "msg": "health is not checked in check mode", "status": 0, "attempts": 0}
    ok, msg, status, attempts = check_health(params)
    if not ok:
        journal = f"\njournal of the failed start:\n{start_journal(run_command, params['unit'])}" if params.get("unit") else ""
        return {"failed": True, "msg": msg + journal, "status": status, "attempts": attempts}
    return {"changed": False, "status": status, "attempts": attempts}


def main():
    run_quiet_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
