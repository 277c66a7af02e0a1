"""Grafana provisioning values as written: Grafana expands $VAR, ${VAR} and $__env{...} in provisioning files,
so a literal $ (in a password, or $labels in a notification template) is written as $$. The datasources of the
inventory's Prometheus and Alertmanager. And the fingerprints of an OpenPGP key file, to pin the package
repository's signing key without gpg on the host."""
import base64
import hashlib
import json
import re


def _escape(value):
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape(item) for item in value]
    return value


def grafana_escape_secure(datasources):
    """Datasources with every secureJsonData value escaped (the rest stays: $__env{} there is the operator's)."""
    return [dict(ds, secureJsonData=_escape(ds["secureJsonData"])) if isinstance(ds, dict) and "secureJsonData" in ds
            else ds for ds in datasources or []]


def grafana_escape(value):
    """Every string of a provisioning structure escaped (contact points: secrets and Go templates with $)."""
    return _escape(value)


def _packets(data):
    """(tag, body) of each OpenPGP packet (RFC 4880 section 4.2: old and new formats)."""
    pos = 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            raise ValueError("not an OpenPGP key")
        if head & 0x40:  # new format
            tag, pos = head & 0x3F, pos + 1
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224:
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255:
                length, pos = int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
            else:
                raise ValueError("partial body lengths do not occur in keys")
        else:
            tag, size = (head >> 2) & 0x0F, head & 0x03
            width = {0: 1, 1: 2, 2: 4}.get(size)
            if width is None:
                raise ValueError("indeterminate packet length")
            length, pos = int.from_bytes(data[pos + 1:pos + 1 + width], "big"), pos + 1 + width
        if pos + length > len(data):
            raise ValueError("truncated packet")
        yield tag, data[pos:pos + length]
        pos += length


def grafana_key_fingerprints(text, encoding=""):
    """Upper-case hex fingerprints of the primary keys in an armored or binary OpenPGP key (v4: SHA-1);
    encoding "base64" for the content of ansible.builtin.slurp."""
    try:
        if encoding == "base64":
            data = base64.b64decode(text)
        else:
            data = text.encode("latin-1") if isinstance(text, str) else bytes(text)
        if data.lstrip().startswith(b"-----BEGIN PGP"):
            lines = data.decode("ascii").strip().splitlines()
            body = lines[lines.index(next(line for line in lines[1:] if not line.strip())) + 1:]
            data = base64.b64decode("".join(line for line in body if not line.startswith(("=", "-----"))))
        return [hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
                for tag, body in _packets(data) if tag == 6 and body[:1] == b"\x04"]
    except (ValueError, IndexError, StopIteration):
        return []  # not a key (an error page, a truncated download): matches no pin


def grafana_inventory_datasources(prometheus, alertmanager, hostvars=None, ca="", central=()):
    """Datasources for the central store (first of `central`, the default when there is one), the Prometheus
    endpoints (one, or one per host when several: the replicas of an HA pair) and the first Alertmanager:
    endpoints as monitoring_endpoints returns them, or [{url}] for a given URL. ca: the CA certificate's text,
    sent for https URLs; credentials go to secureJsonData."""
    pairs = [({"name": "Central", "uid": "central", "type": "prometheus", "access": "proxy", "isDefault": True,
               "editable": False, "jsonData": {"httpMethod": "POST", "timeInterval": "15s"}}, endpoint)
             for endpoint in list(central or [])[:1]]
    for number, endpoint in enumerate(prometheus or []):
        host, several = endpoint.get("host", ""), len(prometheus) > 1
        interval = ((hostvars or {}).get(host) or {}).get("prometheus_scrape_interval", "15s") if host else "15s"
        pairs.append(({"name": "Prometheus" + (f" {host}" if several else ""),
                       "uid": f"prometheus-{re.sub(r'[^A-Za-z0-9_-]', '-', host)}"[:40] if several else "prometheus",
                       "type": "prometheus", "access": "proxy", "isDefault": number == 0 and not pairs, "editable": False,
                       "jsonData": {"httpMethod": "POST", "timeInterval": interval}}, endpoint))
    pairs += [({"name": "Alertmanager", "uid": "alertmanager", "type": "alertmanager", "access": "proxy", "editable": False,
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False}}, endpoint)
              for endpoint in (alertmanager or [])[:1]]
    result = []
    for datasource, endpoint in pairs:
        url = endpoint.get("url") or f"{endpoint['scheme']}://{endpoint['address']}:{endpoint['port']}{endpoint['path']}"
        datasource["url"], secure = url, {}
        if url.startswith("https://") and ca:
            datasource["jsonData"]["tlsAuthWithCACert"] = True
            secure["tlsCACert"] = ca
        if endpoint.get("username"):
            datasource.update(basicAuth=True, basicAuthUser=endpoint["username"])
            secure["basicAuthPassword"] = endpoint["password"]
        if secure:
            datasource["secureJsonData"] = secure
        result.append(datasource)
    return result


_CONF = {"owner": "root", "group": "grafana", "mode": "0640"}


def grafana_file_entries(dirs, ini, ldap, provider, dashboards):
    """What the deploy writes for Grafana besides secrets, in order: provisioning, data, log, plugin and dashboard
    directories, grafana.ini (ini: {content, validate}; a restart), ldap.toml removed when LDAP is off, the
    dashboard provider and the dashboards ([{dest, content}]: grafana_dashboards; reloaded through the API).
    dirs: config, provisioning, data, logs, plugins, dashboards."""
    provisioning, boards = dirs["provisioning"], dirs["dashboards"]
    out = [dict(_CONF, path=path, state="directory", mode="0750")
           for path in [provisioning] + [f"{provisioning}/{sub}" for sub in ("datasources", "dashboards", "alerting", "plugins")]]
    out += [dict(_CONF, path=dirs[key], state="directory", owner="grafana", mode="0750") for key in ("data", "logs", "plugins")]
    out.append(dict(_CONF, path=boards, state="directory", mode="0750"))
    out.append(dict(_CONF, path=f"{dirs['config']}/grafana.ini", triggers=["restart"], content=ini["content"], validate=ini["validate"]))
    if not ldap:
        out.append({"path": f"{dirs['config']}/ldap.toml", "state": "absent", "triggers": ["restart"]})
    out.append(dict(_CONF, path=f"{provisioning}/dashboards/monitoring.yml", triggers=["dashboards"], content=provider))
    folders = dict.fromkeys(board["dest"].rsplit("/", 1)[0] for board in dashboards or [] if "/" in board["dest"])
    out += [dict(_CONF, path=f"{boards}/{folder}", state="directory", mode="0750") for folder in folders]
    out += [dict(_CONF, path=f"{boards}/{board['dest']}", triggers=["dashboards"], content=board["content"])
            for board in dashboards or []]
    return out


LOG_PLACEHOLDERS = {"from": "${__from:date:iso}", "to": "${__to:date:iso}", "job": "${__field.labels.job}",
                    "route": "${__field.labels.route}"}


def grafana_log_link(url):
    """A Grafana data link from the operator's log-search URL ({from} {to} {job} {route}): (link, problem)."""
    names = re.findall(r"\{(\w*)\}", url)
    unknown = sorted(set(names) - set(LOG_PLACEHOLDERS))
    if unknown:
        return None, f"grafana_log_search_url: unknown placeholders {', '.join(unknown)} (known: from, to, job, route)"
    target = re.sub(r"\{(\w+)\}", lambda m: LOG_PLACEHOLDERS[m.group(1)], url)
    return {"title": "Logs of ${__field.labels.job}", "url": target, "targetBlank": True}, ""


def _with_log_link(board, link):
    """Every panel of an application dashboard (its Applications folder) links its series to the logs."""
    for panel in board.get("panels") or []:
        if panel.get("type") not in (None, "row") and panel.get("targets"):
            defaults = panel.setdefault("fieldConfig", {}).setdefault("defaults", {})
            defaults["links"] = [l for l in defaults.get("links") or [] if l.get("title") != link["title"]] + [link]
    return board


def grafana_dashboards(sources, contents, log_search_url=""):
    """Dashboards on the controller. sources: filetree items of the *.json files ({src, path}), contents: their
    texts in that order. {files: [{src, dest, uid, content}], problems: [...]}: invalid JSON, a dashboard without
    a uid, a uid used twice, a folder deeper than one level (Folder/dashboard.json). With a log-search URL the panels
    of the Applications folder link to it."""
    files, problems, seen = [], [], {}
    link, problem = grafana_log_link(log_search_url) if log_search_url else (None, "")
    if problem:
        problems.append(problem)
    for item, content in zip(sources or [], contents or []):
        try:
            board = json.loads(content)
            problem = "" if isinstance(board, dict) else "not a JSON object"
        except ValueError as err:
            problem = str(err)
        if link and not problem and item["path"].startswith("Applications/"):
            content = json.dumps(_with_log_link(board, link), indent=2, sort_keys=True) + "\n"
        uid = "" if problem else str(board.get("uid") or "")
        if problem or not uid:
            problems.append(f"{item['path']}: {problem or 'no uid'}")
        if item["path"].count("/") > 1:
            problems.append(f"{item['path']}: folders are one directory level deep (Folder/dashboard.json)")
        if uid:
            seen.setdefault(uid, []).append(item["path"])
        files.append({"src": item["src"], "dest": item["path"], "uid": uid, "content": content})
    problems += [f"uid {uid} appears twice ({', '.join(sorted(paths))})" for uid, paths in seen.items() if len(paths) > 1]
    return {"files": files, "problems": problems}


_SECRET_KEY = re.compile(r"(password|secret|token|api_key|private_key)$", re.IGNORECASE)
_FILE_REFERENCE = re.compile(r"\$__(file|env|vault)\{")


def grafana_ini_extra_keys(extra, managed=None, secrets=False):
    """"section.key" of grafana_ini_extra settings that the role manages (in `managed`), or with secrets=true
    those that hold a secret in clear (a password/secret/token key not given as $__file/$__env/$__vault)."""
    found = []
    for section, settings in (extra or {}).items():
        if not isinstance(settings, dict):
            continue
        for key, value in settings.items():
            if secrets:
                hit = bool(_SECRET_KEY.search(str(key))) and str(value) != "" and not _FILE_REFERENCE.match(str(value))
            else:
                hit = key in ((managed or {}).get(section) or {})
            if hit:
                found.append(f"{section}.{key}")
    return found


def grafana_secret_files(values, secrets_dir):
    """The one place that names Grafana's secret files. values: {name: secret} (empty: no file).
    {files: {name: secret} to write, ref: {name: "$__file{<secrets_dir>/<name>}"} for grafana.ini}."""
    return {"files": {name: value for name, value in (values or {}).items() if value not in (None, "")},
            "ref": {name: "$__file{%s/%s}" % (secrets_dir, name) for name in values or {}}}


def grafana_secret_entries(files, secrets_dir, provisioning, extra):
    """Grafana's secret paths, never diffed: directories, one file per secret ({name: value}, read through $__file{},
    a restart), then `extra` (ldap.toml, datasource and alerting provisioning: rendered by the role's templates)."""
    conf = dict(_CONF, diff=False)
    out = [dict(conf, path=path, state="directory", mode="0750")
           for path in (secrets_dir, provisioning, f"{provisioning}/datasources", f"{provisioning}/alerting")]
    out += [dict(conf, path=f"{secrets_dir}/{name}", content=str(value), triggers=["restart"]) for name, value in (files or {}).items()]
    return out + [dict(conf, **entry) for entry in extra or []]


class FilterModule:
    def filters(self):
        return {"grafana_escape_secure": grafana_escape_secure, "grafana_escape": grafana_escape,
                "grafana_key_fingerprints": grafana_key_fingerprints,
                "grafana_inventory_datasources": grafana_inventory_datasources,
                "grafana_file_entries": grafana_file_entries, "grafana_secret_entries": grafana_secret_entries,
                "grafana_dashboards": grafana_dashboards, "grafana_secret_files": grafana_secret_files,
                "grafana_ini_extra_keys": grafana_ini_extra_keys}
