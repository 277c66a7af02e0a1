"""Move every secret of a component's configuration into files of its secrets directory: one mechanism for
Alertmanager's global settings and receivers and Prometheus' remote_write / remote_read.

A secret field with a `*_file` twin upstream becomes a reference to a root-owned 0640 file named
`<owner>-<dotted path>`; a secret without one (SNS and remote-write sigv4 keys, headers) stays inline and
makes the configuration file itself a secret (not diffed, not logged). The field lists follow
Alertmanager 0.33's config/notifiers.go, Prometheus 3's remote storage config and prometheus/common's
HTTP client config; tests/unit/test_secret_fields.py checks them against the shipped binaries.
"""

# Secrets of prometheus/common's HTTPClientConfig (http_config of every receiver and of global):
# dotted path -> the field that reads it from a file (None: upstream has no file for it).
HTTP_CONFIG_SECRETS = {
    "basic_auth.password": "password_file",
    "authorization.credentials": "credentials_file",
    "bearer_token": "bearer_token_file",
    "oauth2.client_secret": "client_secret_file",
    "oauth2.client_certificate_key": "client_certificate_key_file",
    "tls_config.key": "key_file",
    "oauth2.tls_config.key": "key_file",
    "proxy_connect_header": None,
    "oauth2.proxy_connect_header": None,
    "http_headers": None,
}

# Receiver kind -> {secret field: its *_file twin, or None}.
RECEIVER_SECRETS = {
    "discord_configs": {"webhook_url": "webhook_url_file"},
    "email_configs": {"auth_password": "auth_password_file", "auth_secret": "auth_secret_file",
                      "tls_config.key": "key_file"},
    "incidentio_configs": {"url": "url_file", "alert_source_token": "alert_source_token_file"},
    "jira_configs": {},
    "mattermost_configs": {"webhook_url": "webhook_url_file"},
    "msteams_configs": {"webhook_url": "webhook_url_file"},
    "msteamsv2_configs": {"webhook_url": "webhook_url_file"},
    "opsgenie_configs": {"api_key": "api_key_file"},
    "pagerduty_configs": {"service_key": "service_key_file", "routing_key": "routing_key_file"},
    "pushover_configs": {"user_key": "user_key_file", "token": "token_file"},
    "rocketchat_configs": {"token": "token_file", "token_id": "token_id_file"},
    "slack_configs": {"api_url": "api_url_file", "app_token": "app_token_file"},
    "sns_configs": {"sigv4.access_key": None, "sigv4.secret_key": None},
    "telegram_configs": {"bot_token": "bot_token_file"},
    "victorops_configs": {"api_key": "api_key_file"},
    "webex_configs": {},
    "webhook_configs": {"url": "url_file"},
    "wechat_configs": {"api_secret": "api_secret_file"},
}

# Alertmanager's global section.
GLOBAL_SECRETS = {
    "smtp_auth_password": "smtp_auth_password_file",
    "smtp_auth_secret": "smtp_auth_secret_file",
    "slack_api_url": "slack_api_url_file",
    "slack_app_token": "slack_app_token_file",
    "opsgenie_api_key": "opsgenie_api_key_file",
    "victorops_api_key": "victorops_api_key_file",
    "wechat_api_secret": "wechat_api_secret_file",
    "telegram_bot_token": "telegram_bot_token_file",
    "rocketchat_token": "rocketchat_token_file",
    "rocketchat_token_id": "rocketchat_token_id_file",
    "mattermost_webhook_url": "mattermost_webhook_url_file",
}


# Prometheus remote_write / remote_read entries: the HTTP client settings sit at the top level.
REMOTE_SECRETS = dict(HTTP_CONFIG_SECRETS, **{
    "sigv4.access_key": None,
    "sigv4.secret_key": None,
    "azuread.oauth.client_secret": None,
    "headers": None,
})


def _secret_fields(fields):
    """A receiver's (or global's) own secrets plus those of its http_config."""
    out = dict(fields)
    out.update({"http_config." + path: file_key for path, file_key in HTTP_CONFIG_SECRETS.items()})
    return out


def _split(path):
    parent, _, key = path.rpartition(".")
    return (parent.split(".") if parent else []), key


def _externalize(entry, fields, file_name, secrets_dir, files):
    """A copy of entry whose secrets point at files; returns (copy, kept_inline)."""
    out = _copy(entry)
    inline = False
    for path, file_key in fields.items():
        parents, key = _split(path)
        node = out
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict) or node.get(key) in (None, "", {}):
            continue
        if file_key is None:
            inline = True
            continue
        name = f"{file_name}-{path}"
        files[name] = node.pop(key)
        node[file_key] = f"{secrets_dir}/{name}"
    return out, inline


def _copy(value):
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def monitoring_remote_secrets(remote_write, remote_read, secrets_dir):
    """{'remote_write', 'remote_read': entries with secrets replaced by *_file references, 'files', 'inline'}."""
    files, out, inline = {}, {}, False
    for kind, entries in (("remote_write", remote_write), ("remote_read", remote_read)):
        out[kind] = []
        for index, entry in enumerate(entries or [], start=1):
            item, kept = _externalize(entry, REMOTE_SECRETS, f"{kind}-{index}", secrets_dir, files)
            inline = inline or kept
            out[kind].append(item)
    return dict(out, files=files, inline=inline)


def monitoring_receiver_secrets(global_config, receivers, secrets_dir):
    """{'global', 'receivers': secrets replaced by *_file references, 'files': {file name: secret},
    'inline': True when a secret without a file twin stays in alertmanager.yml}."""
    files = {}
    global_out, inline = _externalize(global_config or {}, _secret_fields(GLOBAL_SECRETS), "global",
                                      secrets_dir, files)
    receivers_out = []
    for receiver in receivers or []:
        clean = {}
        for kind, entries in receiver.items():
            if kind not in RECEIVER_SECRETS or not isinstance(entries, list):
                clean[kind] = _copy(entries)
                continue
            converted = []
            for index, entry in enumerate(entries, start=1):
                item, kept = _externalize(entry, _secret_fields(RECEIVER_SECRETS[kind]),
                                          f"{receiver.get('name')}-{kind}-{index}", secrets_dir, files)
                inline = inline or kept
                converted.append(item)
            clean[kind] = converted
        receivers_out.append(clean)
    return {"global": global_out, "receivers": receivers_out, "files": files, "inline": inline}


def monitoring_secret_entries(files, secrets_dir, group):
    """monitoring_files entries of a component's secrets directory: root:<group> 0750, one 0640 file per
    {name: value}, never diffed, a reload when one changes."""
    owned = {"owner": "root", "group": group}
    return [dict(owned, path=secrets_dir, state="directory", mode="0750")] + [
        dict(owned, path=f"{secrets_dir}/{name}", content=value, mode="0640", diff=False, triggers=["reload"])
        for name, value in (files or {}).items()]


class FilterModule:
    def filters(self):
        return {"monitoring_receiver_secrets": monitoring_receiver_secrets,
                "monitoring_remote_secrets": monitoring_remote_secrets,
                "monitoring_secret_entries": monitoring_secret_entries,
                "monitoring_receiver_kinds": lambda _: sorted(RECEIVER_SECRETS)}
