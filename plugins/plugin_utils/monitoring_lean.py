"""Runs the shared role's modules on the host without Ansible's module wrapper.

A Python module normally reaches the host inside AnsiballZ, whose start (unpacking and compiling
ansible.module_utils.basic from a zip on every run) costs about 0.3 s of CPU per host and task:
more than the work of monitoring_files on a converged host. These modules need nothing from
Ansible on the host, so the action sends their source with the validated arguments to the host's
Python on stdin (as pipelining does), through the connection and become of the task. Arguments are
validated on the controller against the module's own ARGUMENT_SPEC, and no_log values are masked
in the result, as AnsibleModule would. The modules in plugins/modules stay complete Ansible modules
(documentation, ansible-doc, direct use).
"""
import functools
import importlib
import json
import os
import re
import shlex
import sys

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

PLUGINS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The collection's module_utils a module or module_util imports: from ..module_utils.X / from .X.
_MODULE_UTILS_IMPORT = re.compile(r"^\s*from \.+(?:module_utils\.)?(\w+) import", re.M)

# Runs on the host: loads the sources as modules, then calls the module's run().
RUNNER = r'''
import json, os, subprocess, sys, traceback, types

def _load(name, source):
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, name + ".py", "exec"), module.__dict__)
    return module

def _run_command(argv):
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                          env=dict(os.environ, LC_ALL="C"))
    return proc.returncode, proc.stdout, proc.stderr

try:
    for _name, _source in PAYLOAD["sources"]:
        _module = _load(_name, _source)
    _result = _module.run(PAYLOAD["params"], PAYLOAD["check_mode"], PAYLOAD["diff"], _run_command)
except Exception as _err:
    _result = {"failed": True, "msg": "%s: %s" % (type(_err).__name__, _err), "exception": traceback.format_exc()}
sys.stdout.write(json.dumps(_result))
'''


def _source(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def load_module(name):
    """The module on the controller, for its ARGUMENT_SPEC."""
    return importlib.import_module(f"ansible_collections.monitoring.stack.plugins.modules.{name}")


@functools.lru_cache(maxsize=None)
def module_sources(name):
    """(name, source) of the module and of the module_utils it imports, each after those it imports itself: what the
    host loads by name, read once per process."""
    ordered = []

    def add(dep, path):
        source = _source(path)
        for used in _MODULE_UTILS_IMPORT.findall(source):
            if used not in [n for n, _ in ordered]:
                add(used, os.path.join(PLUGINS_DIR, "module_utils", f"{used}.py"))
        ordered.append((dep, source))
    add(name, os.path.join(PLUGINS_DIR, "modules", f"{name}.py"))
    return tuple(ordered)


def build_script(name, params, check_mode, diff):
    """The Python program sent to the host: sources, arguments and the runner."""
    sources = list(module_sources(name))
    payload = {"sources": sources, "params": params, "check_mode": bool(check_mode), "diff": bool(diff)}
    return f"import json\nPAYLOAD = json.loads({json.dumps(json.dumps(payload))})\n{RUNNER}"


def parse_output(stdout):
    """The module's JSON result (the last line that is one)."""
    for line in reversed((stdout or "").strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


class LeanModuleAction(ActionBase):
    """Action that runs plugins/modules/<MODULE>.py on the host without AnsiballZ."""

    MODULE = ""
    TRANSFERS_FILES = False
    _requires_connection = True

    def _interpreter(self, task_vars):
        interpreter = task_vars.get("ansible_python_interpreter") or C.config.get_config_value(
            "INTERPRETER_PYTHON", variables=task_vars)
        interpreter = str(self._templar.template(interpreter))
        if interpreter.startswith("auto"):  # discovery is the module wrapper's job; these hosts have python3
            interpreter = task_vars.get("ansible_facts", {}).get("discovered_interpreter_python", "/usr/bin/python3")
        return interpreter

    def _lean_possible(self):
        """Sending the program on stdin is pipelining: where the connection or become method cannot pipeline
        (become su, pipelining off), the module runs the normal way instead."""
        return self._is_pipelining_enabled("new")

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if not self._lean_possible():
            result.update(self._execute_module(module_name=f"monitoring.stack.{self.MODULE}", module_args=dict(self._task.args),
                                               task_vars=task_vars))
            return result
        module = load_module(self.MODULE)
        validated = ArgumentSpecValidator(module.ARGUMENT_SPEC).validate(dict(self._task.args))
        no_log_values = validated._no_log_values
        if validated.error_messages:
            result.update(failed=True, msg=remove_values("; ".join(validated.error_messages), no_log_values))
            return result
        script = build_script(self.MODULE, validated.validated_parameters, self._task.check_mode, self._task.diff)
        command = f"{shlex.quote(self._interpreter(task_vars))} -"
        res = self._low_level_execute_command(command, sudoable=True, in_data=script.encode("utf-8"))
        output = parse_output(res.get("stdout"))
        if output is None:
            output = {"failed": True, "msg": f"{self.MODULE} gave no result (rc {res.get('rc')})",
                      "module_stdout": res.get("stdout", ""), "module_stderr": res.get("stderr", "")}
        output = remove_values(output, no_log_values)
        if not self._task.diff:
            output.pop("diff", None)
        result.update(output)
        result.setdefault("changed", False)
        return result
