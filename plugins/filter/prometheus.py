"""The prometheus role's logic: input checks the argument spec cannot express, and the scrape jobs, alerting
and secret files of prometheus.yml built from the inventory (each secret file name is made here only)."""
import re

from ansible.plugins.filter.core import to_nice_yaml
from .monitoring_endpoints import monitoring_endpoints

JOB_KEYS = ("name", "targets", "group", "port", "metrics_path", "scheme", "scrape_interval", "scrape_timeout",
            "basic_auth", "bearer_token", "tls_config", "labels", "relabel_configs", "metric_relabel_configs",
            "honor_labels", "params", "profile")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+\Z")
_DURATION = re.compile(r"^(\d+(y|w|d|h|m|s|ms))+\Z")


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
            if not re.match(r"^\d+\Z", str(job.get("port", ""))):
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
        if not isinstance(probe, dict) or not probe.get("name") or not probe.get("module"):
            continue  # prometheus_probe_problems names it; the validation fails before anything changes
        targets = list(probe.get("targets") or [])
        for member in (groups or {}).get(probe.get("group"), []) if probe.get("group") else []:
            host = ((hostvars or {}).get(member) or {}).get("monitoring_scrape_address") or member
            targets.append(str(probe.get("url", "")).replace("{host}", host))
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


def prometheus_inventory_endpoints(jobs, groups, hostvars, scrape_user="", alertmanager_user="", user_vars=None):
    """{job: {scheme, targets, username, password, path, metrics_path}} for each inventory job whose group has hosts
    (jobs: prometheus_inventory_jobs); Alertmanager is reached as alertmanager_user, the rest as scrape_user, a job
    with `user` as that user, one with `user_var` as the value of that variable (user_vars: {name: value})."""
    out = {}
    for spec in jobs or []:
        alerting = spec["component"] == "alertmanager"
        user_var = spec.get("user_var") or ("prometheus_alertmanager_user" if alerting else "prometheus_scrape_user")
        default = (user_vars or {}).get(spec["user_var"], "") if spec.get("user_var") else (
            alertmanager_user if alerting else scrape_user)
        user = spec.get("user", default)
        endpoints = monitoring_endpoints((groups or {}).get(spec["group"], []), hostvars, spec["component"], spec.get("port"),
                                         spec.get("port_var"), user, user_var)
        if endpoints:
            first = endpoints[0]
            out[spec["job"]] = {"scheme": first["scheme"], "username": first["username"], "password": first["password"],
                                "path": first["path"], "metrics_path": spec.get("metrics_path") or "/metrics",
                                "targets": [f"{e['address']}:{e['port']}" for e in endpoints]}
    return out


def prometheus_jobs(endpoints, scrape_jobs, probe_jobs, groups, hostvars):
    """Every scrape job in one shape: the inventory's, the applications' (targets plus the hosts of `group`), the probes."""
    jobs = []
    for name, endpoint in (endpoints or {}).items():
        job = {"name": name, "targets": endpoint["targets"], "scheme": endpoint["scheme"],
               "metrics_path": endpoint["path"] + endpoint["metrics_path"]}
        if endpoint["username"]:
            job["basic_auth"] = {"username": endpoint["username"], "password": endpoint["password"]}
        jobs.append(job)
    for job in scrape_jobs or []:
        targets = list(job.get("targets") or [])
        for member in (groups or {}).get(job["group"], []) if "group" in job else []:
            targets.append(f"{(hostvars or {}).get(member, {}).get('monitoring_scrape_address') or member}:{job['port']}")
        # An application job without a profile is "auto" (every built-in naming is tried); "none": no application.
        jobs.append(dict(job, targets=targets, profile=job.get("profile") or "auto"))
    return jobs + list(probe_jobs or [])


def _auth(entry, secrets_dir, name, secrets):
    """basic_auth / authorization of prometheus.yml with the secret in <secrets_dir>/<name>.password|.token."""
    out = {}
    basic = entry.get("basic_auth")
    if basic:
        out["basic_auth"] = {"username": basic["username"]}
        if basic.get("password"):
            secrets[f"{name}.password"] = basic["password"]
            out["basic_auth"]["password_file"] = f"{secrets_dir}/{name}.password"
    authorization = entry.get("authorization") or {}
    token = entry.get("bearer_token") or authorization.get("credentials")
    if token:
        secrets[f"{name}.token"] = token
        out["authorization"] = {"type": authorization.get("type") or "Bearer", "credentials_file": f"{secrets_dir}/{name}.token"}
    return out


SCRAPE_KEYS = ("scrape_interval", "scrape_timeout", "honor_labels", "params", "relabel_configs", "metric_relabel_configs")


def prometheus_scrape_plan(jobs, alertmanager, secrets_dir, config_dir, ca_file="", alert_drop_labels=()):
    """prometheus.yml's scrape_configs and alerting.alertmanagers (alertmanager: its inventory endpoint or None), the
    secret files they reference ({file name: value}) and the file_sd files ({job: [{targets, labels}]}). ca_file: the
    CA on the host for https endpoints ("" when none is copied). alert_drop_labels: labels alerts leave without (the
    HA replica label: both replicas then send the same alert, which Alertmanager deduplicates)."""
    secrets, scrape_configs, file_sd = {}, [], {}
    for job in jobs or []:
        scrape = {"job_name": job["name"], "scheme": job.get("scheme") or "http", "metrics_path": job.get("metrics_path") or "/metrics",
                  "file_sd_configs": [{"files": [f"{config_dir}/file_sd/{job['name']}.yml"]}]}
        scrape.update({key: job[key] for key in SCRAPE_KEYS if key in job})
        scrape.update(_auth(job, secrets_dir, f"job-{job['name']}", secrets))
        tls = {"ca_file": ca_file} if scrape["scheme"] == "https" and ca_file else {}
        if tls or "tls_config" in job:
            scrape["tls_config"] = dict(tls, **(job.get("tls_config") or {}))
        scrape_configs.append(scrape)
        # The metrics profile reaches the series as a label: the profile's recording rules select on it.
        profile = job.get("profile") or ""
        labels = dict(job.get("labels") or {}, **({"metrics_profile": profile} if profile not in ("", "none") else {}))
        file_sd[job["name"]] = [{"targets": list(job["targets"]), "labels": labels}]
    alertmanagers = []
    if alertmanager:
        target = {"scheme": alertmanager["scheme"], "static_configs": [{"targets": alertmanager["targets"]}]}
        if alertmanager["path"]:
            target["path_prefix"] = alertmanager["path"]
        if alertmanager["scheme"] == "https" and ca_file:
            target["tls_config"] = {"ca_file": ca_file}
        if alertmanager["username"]:
            target.update(_auth({"basic_auth": {"username": alertmanager["username"], "password": alertmanager["password"]}},
                                secrets_dir, "alertmanager", secrets))
        alertmanagers.append(target)
    alerting = {"alertmanagers": alertmanagers}
    if alert_drop_labels:
        alerting["alert_relabel_configs"] = [{"action": "labeldrop", "regex": "|".join(alert_drop_labels)}]
    return {"scrape_configs": scrape_configs, "alertmanagers": alertmanagers, "alerting": alerting, "secrets": secrets,
            "file_sd": file_sd, "target_count": sum(len(job["targets"]) for job in jobs or [])}


def prometheus_central_remote_write(endpoints, ca_file="", queue_config=None, drop_labels=()):
    """remote_write entries to the central store's hosts (monitoring_endpoints of the victoriametrics component):
    <scheme>://<host>:<port><prefix>/api/v1/write with basic auth (moved to a file by monitoring_remote_secrets).
    drop_labels: labels the series leave without (the HA replica label: both replicas then write the same series,
    which the store deduplicates, -dedup.minScrapeInterval)."""
    out = []
    for endpoint in endpoints or []:
        entry = {"url": f"{endpoint['scheme']}://{endpoint['address']}:{endpoint['port']}{endpoint['path']}/api/v1/write",
                 "name": f"central-{endpoint['host']}"}
        if endpoint["username"]:
            entry["basic_auth"] = {"username": endpoint["username"], "password": endpoint["password"]}
        if endpoint["scheme"] == "https" and ca_file:
            entry["tls_config"] = {"ca_file": ca_file}
        if queue_config:
            entry["queue_config"] = dict(queue_config)
        if drop_labels:
            entry["write_relabel_configs"] = [{"action": "labeldrop", "regex": "|".join(drop_labels)}]
        out.append(entry)
    return out


def prometheus_file_entries(config_dir, data_dir, rule_files, fragments, file_sd, checks):
    """What the deploy writes for Prometheus besides prometheus.yml, in order: directories, the fragment check
    script, rule files and scrape fragments (each checked), file_sd targets (Prometheus watches them: a new host
    needs no reload). rule_files / fragments: {file name: content}; file_sd: {job: target groups}; checks: {script
    (path), script_content, rules (command with %s), fragment (command with %s)}."""
    conf = {"owner": "root", "group": "prometheus", "mode": "0640"}
    out = [{"path": data_dir, "state": "directory", "owner": "prometheus", "group": "prometheus", "mode": "0750"}]
    out += [dict(conf, path=f"{config_dir}/{sub}", state="directory", mode="0750")
            for sub in ("rules", "scrape_configs", "file_sd", "secrets")]
    out.append({"path": checks["script"], "owner": "root", "group": "root", "mode": "0755", "content": checks["script_content"]})
    out += [dict(conf, path=f"{config_dir}/rules/{name}", content=content, validate=checks["rules"], triggers=["reload"])
            for name, content in (rule_files or {}).items()]
    out += [dict(conf, path=f"{config_dir}/scrape_configs/{name}", content=content, validate=checks["fragment"],
                 triggers=["reload"]) for name, content in (fragments or {}).items()]
    out += [dict(conf, path=f"{config_dir}/file_sd/{job}.yml", content=to_nice_yaml(groups, indent=2))
            for job, groups in (file_sd or {}).items()]
    return out


class FilterModule:
    def filters(self):
        return {"prometheus_job_problems": prometheus_job_problems, "prometheus_fragment_jobs": prometheus_fragment_jobs,
                "prometheus_probe_problems": prometheus_probe_problems, "prometheus_probe_jobs": prometheus_probe_jobs,
                "prometheus_inventory_endpoints": prometheus_inventory_endpoints, "prometheus_jobs": prometheus_jobs,
                "prometheus_scrape_plan": prometheus_scrape_plan, "prometheus_file_entries": prometheus_file_entries,
                "prometheus_central_remote_write": prometheus_central_remote_write}
