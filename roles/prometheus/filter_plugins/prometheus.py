"""Input checks of the prometheus role that the argument spec cannot express."""
import re

JOB_KEYS = ("name", "targets", "group", "port", "metrics_path", "scheme", "scrape_interval", "scrape_timeout",
            "basic_auth", "bearer_token", "tls_config", "labels", "relabel_configs", "metric_relabel_configs",
            "honor_labels", "params")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_DURATION = re.compile(r"^(\d+(y|w|d|h|m|s|ms))+$")


def prometheus_job_problems(jobs, groups):
    """One message per bad prometheus_scrape_jobs entry, built from job names and keys only: an entry may hold
    passwords and tokens, which must never reach the output."""
    problems = []
    for number, job in enumerate(jobs or [], 1):
        if not isinstance(job, dict):
            problems.append(f"prometheus_scrape_jobs entry {number} is not a mapping (name, targets or group + port, ...)")
            continue
        name = str(job.get("name", ""))
        label = f"prometheus_scrape_jobs entry {name if _NAME.match(name) else number}"
        wrong = []
        if not _NAME.match(name):
            wrong.append("needs a name (letters, digits, _ . -)")
        unknown = sorted(set(job) - set(JOB_KEYS))
        if unknown:
            wrong.append(f"unknown keys: {', '.join(map(str, unknown))} (allowed: {', '.join(JOB_KEYS)})")
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


class FilterModule:
    def filters(self):
        return {"prometheus_job_problems": prometheus_job_problems, "prometheus_fragment_jobs": prometheus_fragment_jobs}
