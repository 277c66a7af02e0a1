"""The alertmanager role's logic: input checks the argument spec cannot express, and what the deploy writes."""
import re

_DURATION = re.compile(r"^(\d+(y|w|d|h|m|s|ms))+$")
ROUTE_DURATIONS = ("group_wait", "group_interval", "repeat_interval")


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
        return {"alertmanager_route_problems": alertmanager_route_problems, "alertmanager_file_entries": alertmanager_file_entries}
