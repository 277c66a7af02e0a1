"""Rule files as the prometheus role deploys them: shipped files carry `${name}` placeholders for their thresholds
and `for:` durations, with the defaults under a top-level `thresholds:` key (stripped, Prometheus rejects it); the
operator overrides them (prometheus_alert_thresholds) and switches groups off (prometheus_rule_groups_disabled).
The applications' RED metrics are normalised by generated recording rules, one group per metrics profile."""
import functools
import json
import re

import yaml

# libyaml's parser when PyYAML has it: the role renders the rule files several times per host and run.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = yaml.SafeDumper  # not libyaml's: its line wrapping differs, and the files must not depend on the controller

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+\Z")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_METRIC = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*\Z")
PROFILE_KEYS = ("requests", "duration", "duration_unit", "route_label", "status_label")
UNITS = {"s": 1, "ms": 1000}
# The metric and label names of the applications in the seeds, per instrumentation library.
BUILTIN_PROFILES = {
    # hand-written prom-client: a counter and a histogram, both labelled route and status_code
    "prom-client": {"requests": "http_requests_total", "duration": "http_request_duration_seconds",
                    "duration_unit": "s", "route_label": "route", "status_label": "status_code"},
    # express-prom-bundle: one histogram labelled path and status_code; its _count counts the requests
    "express-prom-bundle": {"requests": "http_request_duration_seconds_count", "duration": "http_request_duration_seconds",
                            "duration_unit": "s", "route_label": "path", "status_label": "status_code"},
}
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
# A job without a profile ("auto"): every built-in naming at once; per target the first one it exposes wins, so a
# counter and a histogram of the same requests are not counted twice. Route and status labels of every naming
# (route/path/endpoint, status_code/status/code) become route and status_code; method is kept.
AUTO = "auto"
NONE = "none"  # a job that is no application: no label, no recording rules, no alert about its names
AUTO_REQUESTS = ("http_requests_total", "http_request_duration_seconds_count", "http_request_duration_ms_count")
AUTO_DURATIONS = (("http_request_duration_seconds", "s"), ("http_request_duration_ms", "ms"))
ROUTE_ALIASES = ("path", "endpoint")
STATUS_ALIASES = ("status", "code")
# prom-client's default metrics under any collectDefaultMetrics prefix: {recorded name: (metric suffix, how)}.
RUNTIME = {
    "app:process_resident_memory_bytes": ("process_resident_memory_bytes", "max"),
    "app:process_cpu_seconds:rate": ("process_cpu_seconds_total", "rate"),
    "app:nodejs_eventloop_lag_seconds": ("nodejs_eventloop_lag_seconds", "max"),
    "app:nodejs_eventloop_lag_p99_seconds": ("nodejs_eventloop_lag_p99_seconds", "max"),
    "app:nodejs_heap_size_used_bytes": ("nodejs_heap_size_used_bytes", "max"),
    "app:nodejs_heap_size_total_bytes": ("nodejs_heap_size_total_bytes", "max"),
    "app:nodejs_active_handles": ("nodejs_active_handles_total", "max"),
    "app:nodejs_gc_duration_seconds:rate": ("nodejs_gc_duration_seconds_sum", "rate"),
}


def _substitute(value, values, missing):
    """value with every ${name} replaced; names without a value are added to missing."""
    if isinstance(value, str):
        def one(match):
            if match.group(1) not in values:
                missing.add(match.group(1))
                return match.group(0)
            return str(values[match.group(1)])
        return PLACEHOLDER.sub(one, value)
    if isinstance(value, dict):
        return {key: _substitute(item, values, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, values, missing) for item in value]
    return value


def _has_alias(content):
    """Whether a mapping or list occurs twice: a YAML alias. Expanded, a few hundred bytes of nested aliases become
    gigabytes ("billion laughs"); rule files have no need of them."""
    seen, todo = set(), [content]
    while todo:
        item = todo.pop()
        if isinstance(item, (dict, list)):
            if id(item) in seen:
                return True
            seen.add(id(item))
            todo.extend(item.values() if isinstance(item, dict) else item)
    return False


def _dump(content):
    return yaml.dump(content, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)


def prometheus_render_rules(files, thresholds=None, disabled_groups=()):
    """{"files": {file name: rule file text}, "problems": [...]}. files: {name: text or {groups: ...}}. Each file's
    `thresholds` (defaults) are overridden by `thresholds`, then every `${name}` is replaced; a group named in
    disabled_groups is left out (a file left without groups too). Problems name the variable and the bad names.
    The arguments go through JSON: the cache key, and plain types for the YAML dumper (variables arrive as
    Ansible's tagged str/int subclasses, which it refuses)."""
    key = json.dumps([files or {}, thresholds or {}, list(disabled_groups or ())], sort_keys=True, default=str)
    return json.loads(_render_cached(key))


@functools.lru_cache(maxsize=16)
def _render_cached(key):
    return json.dumps(_render(*json.loads(key)))


def _render(files, thresholds, disabled_groups):
    thresholds, disabled = dict(thresholds or {}), set(disabled_groups or ())
    out, problems, known, groups_seen = {}, [], set(), set()
    for name, source in (files or {}).items():
        try:
            content = yaml.load(source, Loader=_LOADER) if isinstance(source, str) else source
        except yaml.YAMLError as error:
            problems.append(f"rule file {name} is not YAML: {str(error).splitlines()[0]}")
            continue
        if not isinstance(content, dict) or not isinstance(content.get("groups"), list):
            problems.append(f"rule file {name} needs a list of groups")
            continue
        if _has_alias(content):
            problems.append(f"rule file {name} uses YAML aliases (*name); write each rule out in full")
            continue
        defaults = content.get("thresholds") or {}
        known.update(defaults)
        missing = set()
        rendered = _substitute({"groups": content["groups"]}, dict(defaults, **thresholds), missing)
        if missing:
            problems.append(f"rule file {name} uses thresholds without a value: {', '.join(sorted(missing))} "
                            "(give a default under its thresholds: key, or set them in prometheus_alert_thresholds)")
        groups_seen.update(str(group.get("name")) for group in rendered["groups"] if isinstance(group, dict))
        rendered["groups"] = [group for group in rendered["groups"]
                              if not (isinstance(group, dict) and group.get("name") in disabled)]
        if rendered["groups"]:
            out[name] = _dump(rendered)
    unknown = sorted(set(thresholds) - known)
    if unknown:
        problems.append(f"prometheus_alert_thresholds: no rule file has the thresholds {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(known)) or 'none'})")
    unknown = sorted(disabled - groups_seen)
    if unknown:
        problems.append(f"prometheus_rule_groups_disabled: no rule file has the groups {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(groups_seen)) or 'none'})")
    return {"files": out, "problems": problems}


def prometheus_profiles(custom=None):
    """The built-in metrics profiles plus the operator's (prometheus_app_profiles), the operator's winning."""
    return dict(BUILTIN_PROFILES, **(custom or {}))


def _profile_wrong(name, profile):
    if not _NAME.match(str(name)) or not isinstance(profile, dict):
        return [f"must be a name (letters, digits, _ . -) mapping to {', '.join(PROFILE_KEYS)}"]
    if name in (AUTO, NONE):
        return [f"{name} is reserved (a job without a profile is {AUTO}; {NONE} is no application)"]
    unknown = sorted(map(str, set(profile) - set(PROFILE_KEYS)))
    wrong = [f"unknown keys {', '.join(unknown)}"] if unknown else []
    wrong += [f"{key} must be a metric name" for key in ("requests", "duration") if not _METRIC.match(str(profile.get(key, "")))]
    wrong += [f"{key} must be a label name" for key in ("route_label", "status_label") if not _LABEL.match(str(profile.get(key, "")))]
    if str(profile.get("duration_unit", "")) not in UNITS:
        wrong.append(f"duration_unit must be one of {', '.join(UNITS)}")
    return wrong


def prometheus_profile_problems(custom, jobs=()):
    """Messages for bad prometheus_app_profiles entries, and scrape jobs naming an unknown profile."""
    problems = [f"prometheus_app_profiles.{name}: {'; '.join(wrong)}"
                for name, profile in (custom or {}).items() for wrong in [_profile_wrong(name, profile)] if wrong]
    known = prometheus_profiles(custom)
    for job in jobs or []:
        if isinstance(job, dict) and "profile" in job and job["profile"] not in known and job["profile"] != NONE:
            problems.append(f"prometheus_scrape_jobs entry {job.get('name', '?')}: profile {job['profile']} is not known "
                            f"(leave it out to recognise the app's names; built in: {', '.join(BUILTIN_PROFILES)}, "
                            f"{NONE} for a job that is no application; others go in prometheus_app_profiles)")
    return problems


def _aliases(expr, target, aliases):
    """expr with `target` copied from the first alias label the series has (label_replace only acts where the
    source label is not empty)."""
    for alias in aliases:
        expr = f'label_replace({expr}, "{target}", "$1", "{alias}", "(.+)")'
    return expr


def _first_exposed(exprs):
    """The first expression's series per target, then the next one's for targets the first has none for."""
    return "\n  or on (job, instance)\n".join(exprs)


def _auto_rules(window):
    select = f'{{metrics_profile="{AUTO}"}}'
    requests = [f"sum by (job, instance, route, method, status_code) ("
                f"{_aliases(_aliases(f'rate({name}{select}[{window}])', 'route', ROUTE_ALIASES), 'status_code', STATUS_ALIASES)})"
                for name in AUTO_REQUESTS]
    rules = [{"record": "app:http_requests:rate", "expr": _first_exposed(requests)}]
    for key, quantile in QUANTILES.items():
        exprs = [f"histogram_quantile({quantile}, sum by (job, instance, route, method, le) ("
                 f"{_aliases(f'rate({name}_bucket{select}[{window}])', 'route', ROUTE_ALIASES)}))"
                 + (f" / {UNITS[unit]}" if UNITS[unit] != 1 else "") for name, unit in AUTO_DURATIONS]
        rules.append({"record": f"app:http_request_duration_seconds:{key}", "expr": _first_exposed(exprs)})
    return rules


def prometheus_runtime_rules(window="5m"):
    """prom-client's default metrics of every application job, whatever prefix collectDefaultMetrics was given."""
    rules = []
    for record, (suffix, how) in RUNTIME.items():
        series = f'{{__name__=~"(.+_)?{suffix}", metrics_profile!=""}}'
        inner = f"rate({series}[{window}])" if how == "rate" else series
        rules.append({"record": record, "expr": f"max by (job, instance) ({inner})"})
    return rules


def prometheus_profile_rules(custom=None, window="5m"):
    """The recording rules that give every profile's HTTP metrics one shape, read by the application alerts and the
    HTTP dashboard: app:http_requests:rate{job,instance,route,method,status_code} (requests/s) and
    app:http_request_duration_seconds:p50|p90|p95|p99{job,instance,route,method}, over `window`. The scrape job's
    profile reaches its targets as the label metrics_profile ("auto" without one: every built-in naming is tried).
    One group per profile (app_profile_<name>), then app_runtime (default metrics under any prefix)."""
    groups = [{"name": f"app_profile_{AUTO}", "rules": _auto_rules(window)}]
    for name, profile in sorted(prometheus_profiles(custom).items()):
        if _profile_wrong(name, profile):  # reported by prometheus_profile_problems
            continue
        select = f'{{metrics_profile="{name}"}}'
        route = f'"route", "$1", "{profile["route_label"]}", "(.*)"'
        status = f'"status_code", "$1", "{profile["status_label"]}", "(.*)"'
        requests = (f"sum by (job, instance, route, method, status_code) (label_replace(label_replace("
                    f"rate({profile['requests']}{select}[{window}]), {route}), {status}))")
        buckets = (f"sum by (job, instance, route, method, le) (label_replace("
                   f"rate({profile['duration']}_bucket{select}[{window}]), {route}))")
        scale = UNITS[str(profile["duration_unit"])]
        rules = [{"record": "app:http_requests:rate", "expr": requests}]
        rules += [{"record": f"app:http_request_duration_seconds:{key}",
                   "expr": f"histogram_quantile({quantile}, {buckets})" + (f" / {scale}" if scale != 1 else "")}
                  for key, quantile in QUANTILES.items()]
        groups.append({"name": f"app_profile_{name}", "rules": rules})
    groups.append({"name": "app_runtime", "rules": prometheus_runtime_rules(window)})
    return {"groups": groups}


class FilterModule:
    def filters(self):
        return {"prometheus_render_rules": prometheus_render_rules, "prometheus_profile_problems": prometheus_profile_problems,
                "prometheus_profile_rules": prometheus_profile_rules}
