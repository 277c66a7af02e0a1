"""Runs plugins/modules/monitoring_health.py on the host without Ansible's module wrapper (plugin_utils/monitoring_lean.py)."""
from ..plugin_utils.monitoring_lean import LeanModuleAction


class ActionModule(LeanModuleAction):
    MODULE = "monitoring_health"
