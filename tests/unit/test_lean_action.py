"""The shared modules as the action plugins run them: source and arguments to a Python on stdin, no AnsiballZ."""
import base64
import subprocess
import sys
from pathlib import Path

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values

import monitoring_lean as lean

build_script, load_module, parse_output = lean.build_script, lean.load_module, lean.parse_output


def run_on_host(name, args, check_mode=False, diff=True, user=None):
    """Validate like the action, run the script with a real interpreter, mask like the action
    (user: run it as that unprivileged user with the system's Python, as an SSH login without become)."""
    validated = ArgumentSpecValidator(load_module(name).ARGUMENT_SPEC).validate(args)
    assert not validated.error_messages, validated.error_messages
    script = build_script(name, validated.validated_parameters, check_mode, diff)
    python = "/usr/bin/python3" if user else sys.executable
    proc = subprocess.run([python, "-"], input=script.encode(), capture_output=True, check=False, user=user, cwd="/")
    output = parse_output(proc.stdout.decode())
    assert output is not None, proc.stderr.decode()
    return remove_values(output, validated._no_log_values)


def test_files_are_applied_once_with_defaults_from_the_spec(tmp_path):
    args = {"plan": {"entries": [{"path": str(tmp_path / "app.yml"), "content": "a: 1\n", "triggers": ["reload"]}]}}
    first = run_on_host("monitoring_files", args)
    assert first["changed"] and first["triggers"] == ["reload"] and (tmp_path / "app.yml").read_text() == "a: 1\n"
    assert first["diff"][0]["after"] == "a: 1\n"
    second = run_on_host("monitoring_files", args)
    assert not second["changed"] and second["pending"] == "" and "diff" not in second


def test_check_mode_changes_nothing(tmp_path):
    result = run_on_host("monitoring_files", {"entries": [{"path": str(tmp_path / "app.yml"), "content": "x"}]},
                         check_mode=True)
    assert result["changed"] and not (tmp_path / "app.yml").exists()


def test_secret_content_is_masked_and_never_diffed(tmp_path):
    target = tmp_path / "token"
    target.write_text("old-secret\n")
    # The check prints the file: its content reaches the error message, and the mask must catch it.
    args = {"secret_entries": [{"path": str(target), "content": "s3cr3t-value", "validate": "sh -c 'cat %s; exit 1'"}]}
    result = run_on_host("monitoring_files", args)
    assert result["failed"] and "s3cr3t-value" not in str(result) and "********" in result["msg"]
    assert target.read_text() == "old-secret\n"
    written = run_on_host("monitoring_files", {"secret_entries": [{"path": str(target), "content": "s3cr3t-value"}]})
    assert written["changed"] and written["diff"][0]["after"] == "(content hidden)"
    assert "old-secret" not in str(written) and "s3cr3t-value" not in str(written)


def test_a_wrong_argument_is_refused_before_running():
    validated = ArgumentSpecValidator(load_module("monitoring_files").ARGUMENT_SPEC).validate(
        {"entries": [{"path": "/x", "state": "fifo"}]})
    assert any("state" in message for message in validated.error_messages)


def test_facts_and_file_content(tmp_path):
    (tmp_path / "web.yml").write_text("basic_auth_users: {}\n")
    result = run_on_host("monitoring_facts", {"read": str(tmp_path / "web.yml")})
    assert result["content"] == base64.b64encode(b"basic_auth_users: {}\n").decode()
    assert result["ansible_facts"]["architecture"] and result["ansible_facts"]["date_time"]["epoch"].isdigit()
    assert run_on_host("monitoring_facts", {"gather": False, "read": str(tmp_path / "missing")}) == {
        "changed": False, "content": "", "contents": {}}


def test_several_files_read_with_the_facts(tmp_path):
    (tmp_path / "web.yml").write_text("tls_server_config: {}\n")
    result = run_on_host("monitoring_facts", {"gather": False, "read_files": [str(tmp_path / "web.yml"), str(tmp_path / "gone")]})
    assert result["contents"] == {str(tmp_path / "web.yml"): base64.b64encode(b"tls_server_config: {}\n").decode(),
                                  str(tmp_path / "gone"): ""}


def test_a_file_the_login_cannot_read_is_left_to_the_deploy():
    # Without become (site.yml's first play over SSH) a root:group 0640 web config is unreadable: leave it out.
    result = run_on_host("monitoring_facts", {"gather": False, "read_files": ["/etc/shadow", "/etc/hostname"]}, user="nobody")
    assert "failed" not in result and list(result["contents"]) == ["/etc/hostname"]


def test_health_of_a_closed_port_fails_with_the_reason():
    result = run_on_host("monitoring_health", {"url": "http://127.0.0.1:9/", "retries": 1, "delay": 0})
    assert result["failed"] and "127.0.0.1:9" in result["msg"]


class FakeConnection:
    """What ActionBase asks a connection about pipelining."""
    always_pipeline_modules = False
    has_native_async = False

    def __init__(self, has_pipelining, become=None):
        self.has_pipelining, self.become, self._play_context = has_pipelining, become, None

    def get_option(self, name):
        assert name == "pipelining"
        return True

    def is_pipelining_enabled(self, wrap_async=False):
        from ansible.plugins.connection import ConnectionBase
        return ConnectionBase.is_pipelining_enabled(self, wrap_async)


class FakeBecome:
    def __init__(self, pipelining):
        self.pipelining = pipelining


def test_without_pipelining_the_module_runs_the_normal_way(monkeypatch):
    """become su and connections that cannot pipeline get Ansible's own module execution."""
    from types import SimpleNamespace
    from ansible.plugins.action import ActionBase

    class Action(lean.LeanModuleAction):
        MODULE = "monitoring_files"
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    calls = []
    for connection, normal in ((FakeConnection(True), False), (FakeConnection(False), True),
                               (FakeConnection(True, FakeBecome(pipelining=False)), True)):
        action = object.__new__(Action)
        action._connection = connection
        action._task = SimpleNamespace(args={"entries": []}, check_mode=False, diff=False)
        action._execute_module = lambda **kwargs: calls.append(kwargs) or {"changed": False, "normal": True}
        action._low_level_execute_command = lambda *a, **k: {"rc": 0, "stdout": '{"changed": false, "lean": true}'}
        action._interpreter = lambda task_vars: "/usr/bin/python3"
        result = action.run(task_vars={})
        assert result.get("normal", False) is normal and result.get("lean", False) is not normal
    assert [c["module_name"] for c in calls] == ["monitoring.stack.monitoring_files", "monitoring.stack.monitoring_files"]
