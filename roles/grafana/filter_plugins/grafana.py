"""Grafana provisioning values as written: Grafana expands $VAR, ${VAR} and $__env{...} in provisioning files,
so a literal $ (in a password, or $labels in a notification template) is written as $$."""


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


class FilterModule:
    def filters(self):
        return {"grafana_escape_secure": grafana_escape_secure, "grafana_escape": grafana_escape}
