"""The alertmanager role's logic: input checks the argument spec cannot express, and what the deploy writes."""
import re

_DURATION = re.compile(r"^(\d+(y|w|d|h|m|s|ms))+\Z")
ROUTE_DURATIONS = ("group_wait", "group_interval", "repeat_interval")
WATCHDOG_NULL = "watchdog-null"
# The seeds' Slack message: each alert's summary and description.
SLACK_TEXT = "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ end }}"


def alertmanager_route_problems(route, variable="alertmanager_route"):
    """Durations of the route tree that Alertmanager would refuse, each with its place in the tree."""
    problems = []

    def walk(node, where):
        if not isinstance(node, dict):
            problems.append(f"{variable}{where}: a route must be a mapping")
            return
        for key in ROUTE_DURATIONS:
            if key in node and not _DURATION.match(str(node[key])):
                problems.append(f"{variable}{where}.{key} '{node[key]}' is not a duration such as 30s, 5m or 4h")
        for number, child in enumerate(node.get("routes") or []):
            walk(child, f"{where}.routes[{number}]")

    walk(route or {}, "")
    return problems


def alertmanager_notification_config(route, receivers, watchdog=None, slack_text=True):
    """{"route", "receivers"} as alertmanager.yml gets them. watchdog: {"enabled", "receiver", "repeat_interval"}: the
    always-firing Watchdog alert (files/prometheus/rules/prometheus.yml) gets a first child route of its own, to
    that receiver (a dead man's switch such as a healthchecks URL) or, when "", to a receiver without integrations,
    so it proves the pipeline without paging anyone. slack_text: Slack configs without `text` show each alert's
    summary and description."""
    route, receivers, watchdog = dict(route or {}), [dict(r) for r in receivers or []], dict(watchdog or {})
    if slack_text:
        for receiver in receivers:
            if receiver.get("slack_configs"):
                receiver["slack_configs"] = [dict({"text": SLACK_TEXT}, **config) for config in receiver["slack_configs"]]
    if watchdog.get("enabled", True):
        name = watchdog.get("receiver") or WATCHDOG_NULL
        if name == WATCHDOG_NULL and WATCHDOG_NULL not in [r.get("name") for r in receivers]:
            receivers.append({"name": WATCHDOG_NULL})
        child = {"receiver": name, "matchers": ['alertname="Watchdog"'], "group_by": ["alertname", "cluster"],
                 "group_wait": "0s", "group_interval": "1m", "repeat_interval": str(watchdog.get("repeat_interval") or "5m")}
        route["routes"] = [child] + list(route.get("routes") or [])
    return {"route": route, "receivers": receivers}


def alertmanager_file_entries(config_dir, data_dir, secrets_dir, templates, extra):
    """What the deploy writes for Alertmanager, in order: directories, notification templates ({file name: content}),
    then `extra` as given (gossip TLS config, alertmanager.yml, amtool's files: rendered by the role's templates)."""
    conf = {"owner": "root", "group": "alertmanager", "mode": "0640"}
    out = [{"path": data_dir, "state": "directory", "owner": "alertmanager", "group": "alertmanager", "mode": "0750"},
           dict(conf, path=f"{config_dir}/templates", state="directory", mode="0750"),
           dict(conf, path=secrets_dir, state="directory", mode="0750")]
    out += [dict(conf, path=f"{config_dir}/templates/{name}", content=content, triggers=["reload"])
            for name, content in (templates or {}).items()]
    return out + list(extra or [])


class FilterModule:
    def filters(self):
        return {"alertmanager_route_problems": alertmanager_route_problems, "alertmanager_file_entries": alertmanager_file_entries,
                "alertmanager_notification_config": alertmanager_notification_config}
