"""Runs library/monitoring_facts.py on the host without Ansible's module wrapper (see _monitoring_lean.py)."""
import importlib.util
import os
import sys

if "_monitoring_lean" not in sys.modules:
    _SPEC = importlib.util.spec_from_file_location("_monitoring_lean", os.path.join(os.path.dirname(__file__), "_monitoring_lean.py"))
    sys.modules["_monitoring_lean"] = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(sys.modules["_monitoring_lean"])


class ActionModule(sys.modules["_monitoring_lean"].LeanModuleAction):
    MODULE = "monitoring_facts"
