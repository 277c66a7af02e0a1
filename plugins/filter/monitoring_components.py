"""The one place that knows the stack's components: how clients find and reach each of them.

Every entry follows the same conventions, so a client needs nothing else:
  group      inventory group whose hosts run it
  job        Prometheus scrape job name (None: not scraped)
  port       default port; port_var: the component's variable holding its port, "host:port" or a list of them
  scheme     https when <name>_tls_enabled (else monitoring_tls_enabled) is true
  auth       the host's <name>_basic_auth_users (else monitoring_basic_auth_users)
  prefix     <name>_route_prefix, else the path of <name>_external_url (Grafana: root_url with serve_from_sub_path)
  metrics    prefix + metrics_path
  web_config true: serves an exporter-toolkit web config at <name>_config_dir (else /etc/<name>)/web-config.yml
  clients    inventory groups whose hosts connect to it (the firewall opens its port to them only; the blackbox
             group probes every stack endpoint's certificate, so it is a client of each);
             operators: true opens it to monitoring_firewall_operator_networks too
Prometheus' inventory jobs, Grafana's datasources and the lab summary read it (monitoring_endpoints takes the
port from here). Stdlib only: tools/lab.py imports it too.
"""

COMPONENTS = {
    "node_exporter": {"group": "node_exporter", "job": "node", "port": 9100, "port_var": "node_exporter_listen_addresses",
                      "metrics_path": "/metrics", "title": "node_exporter", "web_config": True,
                      "clients": ["prometheus", "blackbox"]},
    "prometheus": {"group": "prometheus", "job": "prometheus", "port": 9090, "port_var": "prometheus_listen_address",
                   "metrics_path": "/metrics", "title": "Prometheus", "web_config": True,
                   "clients": ["prometheus", "grafana", "blackbox"], "operators": True},
    "alertmanager": {"group": "alertmanager", "job": "alertmanager", "port": 9093, "port_var": "alertmanager_listen_address",
                     "metrics_path": "/metrics", "title": "Alertmanager", "web_config": True,
                     "clients": ["prometheus", "alertmanager", "grafana", "blackbox"], "operators": True},
    "grafana": {"group": "grafana", "job": "grafana", "port": 3000, "port_var": "grafana_http_port",
                "metrics_path": "/metrics", "title": "Grafana",
                "clients": ["prometheus", "blackbox"], "operators": True},
    # Exporters next to the service they watch: one per host of the group.
    "postgres_exporter": {"group": "postgres", "job": "postgres", "port": 9187, "port_var": "postgres_exporter_listen_address",
                          "metrics_path": "/metrics", "title": "postgres_exporter", "web_config": True,
                          "clients": ["prometheus", "blackbox"]},
    "redis_exporter": {"group": "redis", "job": "redis", "port": 9121, "port_var": "redis_exporter_listen_address",
                       "metrics_path": "/metrics", "title": "redis_exporter", "clients": ["prometheus", "blackbox"]},
    # Central long-term store: every Prometheus remote-writes to it, Grafana queries it.
    "victoriametrics": {"group": "central", "job": "victoriametrics", "port": 8428, "port_var": "victoriametrics_listen_address",
                        "metrics_path": "/metrics", "title": "VictoriaMetrics", "clients": ["prometheus", "grafana", "blackbox"],
                        "operators": True},
    # Probes other endpoints (prometheus_probes); its own metrics are the blackbox job.
    "blackbox_exporter": {"group": "blackbox", "job": "blackbox", "port": 9115, "port_var": "blackbox_exporter_listen_address",
                          "metrics_path": "/metrics", "title": "blackbox_exporter", "web_config": True,
                          "clients": ["prometheus", "blackbox"]},
}


def monitoring_component(name):
    """The registry entry of a component (a copy), with its name."""
    if name not in COMPONENTS:
        raise KeyError(f"unknown component {name!r}; known: {', '.join(sorted(COMPONENTS))}")
    return dict(COMPONENTS[name], name=name)


def monitoring_host_components(group_names):
    """The components a host runs (each one's role has its name): those whose group is among its groups."""
    return [name for name, entry in COMPONENTS.items() if entry["group"] in (group_names or [])]


def monitoring_registry_jobs(_=None):
    """Prometheus' inventory jobs: [{job, group, component, port, port_var, metrics_path}] of every scraped component."""
    return [{"job": entry["job"], "group": entry["group"], "component": name, "port": entry["port"],
             "port_var": entry["port_var"], "metrics_path": entry["metrics_path"]}
            for name, entry in COMPONENTS.items() if entry.get("job")]


def monitoring_web_config_paths(group_names, host_vars=None):
    """Web config files of the components a host runs (by its groups), read once up front so each deploy
    need not read its own (host_vars: the host's variables, for a <name>_config_dir set in the inventory)."""
    host_vars = host_vars or {}
    return [f"{host_vars.get(name + '_config_dir') or '/etc/' + name}/web-config.yml"
            for name in monitoring_host_components(group_names) if COMPONENTS[name].get("web_config")]


class FilterModule:
    def filters(self):
        return {"monitoring_component": monitoring_component, "monitoring_registry_jobs": monitoring_registry_jobs,
                "monitoring_host_components": monitoring_host_components,
                "monitoring_web_config_paths": monitoring_web_config_paths}
