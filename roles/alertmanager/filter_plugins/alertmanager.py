"""Input checks of the alertmanager role that the argument spec cannot express."""
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


class FilterModule:
    def filters(self):
        return {"alertmanager_route_problems": alertmanager_route_problems}
