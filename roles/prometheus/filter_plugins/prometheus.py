"""Input checks of the prometheus role that the argument spec cannot express."""
import re

JOB_KEYS = ("name", "targets", "group", "port", "metrics_path", "scheme", "scrape_interval", "scrape_timeout",
            "basic_auth", "bearer_token", "tls_config", "labels", "relabel_configs", "metric_relabel_configs",
            "honor_labels", "params")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_DURATION = re.compile(r"^(\d+(y|w|d|h|m|s|ms))+$")


def _entries(variable, entries, shape, keys, problems):
    """(label, entry, problems of its own so far) for each mapping of a list variable, labelled by its name when it
    has a valid one; a non-mapping is reported into problems. The caller appends the label's line when any."""
    for number, entry in enumerate(entries or [], 1):
        if not isinstance(entry, dict):
            problems.append(f"{variable} entry {number} is not a mapping ({shape})")
            continue
        name = str(entry.get("name", ""))
        wrong = [] if _NAME.match(name) else ["needs a name (letters, digits, _ . -)"]
        unknown = sorted(set(entry) - set(keys))
        if unknown:
            wrong.append(f"unknown keys: {', '.join(map(str, unknown))} (allowed: {', '.join(keys)})")
        yield f"{variable} entry {name if _NAME.match(name) else number}", entry, wrong


def prometheus_job_problems(jobs, groups):
    """One message per bad prometheus_scrape_jobs entry, built from job names and keys only: an entry may hold
    passwords and tokens, which must never reach the output."""
    problems = []
    for label, job, wrong in _entries("prometheus_scrape_jobs", jobs, "name, targets or group + port, ...", JOB_KEYS, problems):
        if not job.get("targets") and "group" not in job:
            wrong.append("needs targets (list of host:port) or group + port (an inventory group with hosts)")
        if "group" in job:
            if not re.match(r"^\d+$", str(job.get("port", ""))):
                wrong.append("group needs a port")
            if not (groups or {}).get(job["group"]):
                wrong.append(f"inventory group {job['group']} has no hosts")
        auth = job.get("basic_auth")
        if auth is not None and not (isinstance(auth, dict) and auth.get("username") and auth.get("password")):
            wrong.append("basic_auth needs username and password")
        if auth is not None and "bearer_token" in job:
            wrong.append("basic_auth or bearer_token, not both")
        if str(job.get("scheme", "http")) not in ("http", "https"):
            wrong.append("scheme must be http or https")
        for key in ("scrape_interval", "scrape_timeout"):
            if key in job and not _DURATION.match(str(job[key])):
                wrong.append(f"{key} must be a duration such as 15s")
        if wrong:
            problems.append(f"{label}: {'; '.join(wrong)}")
    return problems


def prometheus_fragment_jobs(paths):
    """Job names in scrape config fragments on the controller (prometheus_scrape_config_files); they share
    prometheus.yml's job name space."""
    import yaml
    names = []
    for path in paths or []:
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError):
            continue  # promtool reports unreadable fragments with their line
        names += [str(job.get("job_name")) for job in (data.get("scrape_configs") or []) if isinstance(job, dict)]
    return names


PROBE_KEYS = ("name", "module", "targets", "group", "url", "scrape_interval", "labels")


def prometheus_probe_problems(probes, groups, modules_known=None, blackbox_hosts=()):
    """One message per bad prometheus_probes entry (names only)."""
    problems = []
    if probes and not blackbox_hosts:
        problems.append("prometheus_probes needs a host in the blackbox group (the blackbox_exporter that probes)")
    for label, probe, wrong in _entries("prometheus_probes", probes, "name, module, targets or group + url", PROBE_KEYS, problems):
        if not probe.get("module"):
            wrong.append("needs a module of blackbox_exporter_modules, e.g. http_2xx")
        elif modules_known is not None and probe["module"] not in modules_known:
            wrong.append(f"module {probe['module']} is not one of {', '.join(sorted(modules_known))}")
        if not probe.get("targets") and "group" not in probe:
            wrong.append("needs targets (URLs or host:port) or group + url (with {host}, e.g. http://{host}:8080/health)")
        if "group" in probe:
            if "{host}" not in str(probe.get("url", "")):
                wrong.append("group needs a url containing {host}")
            if not (groups or {}).get(probe["group"]):
                wrong.append(f"inventory group {probe['group']} has no hosts")
        if "scrape_interval" in probe and not _DURATION.match(str(probe["scrape_interval"])):
            wrong.append("scrape_interval must be a duration such as 15s")
        if wrong:
            problems.append(f"{label}: {'; '.join(wrong)}")
    return problems


def prometheus_probe_jobs(probes, blackbox, endpoints=None, stack_module="", groups=None, hostvars=None):
    """Scrape jobs that ask the blackbox_exporter (blackbox: its inventory endpoint) to probe each target:
    /probe?module=M&target=T on the exporter, with the target as instance. stack_module: also probe every HTTPS
    endpoint of the stack (endpoints: the inventory endpoints) with that module, for certificate expiry."""
    if not blackbox or not blackbox.get("targets"):
        return []
    probes = list(probes or [])
    if stack_module:
        stack = [f"https://{target}{endpoint['path']}{endpoint['metrics_path']}"
                 for endpoint in (endpoints or {}).values() if endpoint["scheme"] == "https" for target in endpoint["targets"]]
        if stack:
            probes.append({"name": "stack-tls", "module": stack_module, "targets": stack})
    jobs = []
    for probe in probes:
        targets = list(probe.get("targets") or [])
        for member in (groups or {}).get(probe.get("group"), []) if probe.get("group") else []:
            host = ((hostvars or {}).get(member) or {}).get("monitoring_scrape_address") or member
            targets.append(str(probe["url"]).replace("{host}", host))
        job = {"name": probe["name"], "targets": targets, "scheme": blackbox["scheme"],
               "metrics_path": blackbox["path"] + "/probe", "params": {"module": [probe["module"]]},
               "labels": dict(probe.get("labels") or {}, module=probe["module"]),
               "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                   {"source_labels": ["__param_target"], "target_label": "instance"},
                                   {"target_label": "__address__", "replacement": blackbox["targets"][0]}]}
        if probe.get("scrape_interval"):
            job["scrape_interval"] = probe["scrape_interval"]
        if blackbox.get("username"):
            job["basic_auth"] = {"username": blackbox["username"], "password": blackbox["password"]}
        jobs.append(job)
    return jobs


class FilterModule:
    def filters(self):
        return {"prometheus_job_problems": prometheus_job_problems, "prometheus_fragment_jobs": prometheus_fragment_jobs,
                "prometheus_probe_problems": prometheus_probe_problems, "prometheus_probe_jobs": prometheus_probe_jobs}
