"""Each receiver gets its own format exactly once; the inhibited warning is not delivered."""
import json
import time

import pytest
from monitoring_testlib import container_ip, hostvars, inventory_hosts, post_alert, run_logs, sink_requests, wait_for  # noqa: F401 (hostvars is a fixture)

testinfra_hosts = inventory_hosts("alertmanager")
LABELS = {"alertname": "HighErrorRate", "instance": "api1:3001", "severity": "critical"}
ANNOTATIONS = {"summary": "test alert HighErrorRate", "description": "12% of requests answer 5xx"}


@pytest.fixture(scope="module")
def delivered(host):
    alertmanager = f"http://{container_ip('deb12')}:9093"
    sink = f"http://{container_ip('deb13')}:8080"
    post_alert(alertmanager, LABELS, annotations=ANNOTATIONS)
    wait_for(lambda: sink_requests(sink, "/pagerduty") and sink_requests(sink, "/slack/T000/B000/XXXX")
             and sink_requests(sink, "/slack/T000/B000/DEFAULT"), 30, message="the critical alert at Slack and PagerDuty")
    # The critical alert is active: the same alert as a warning must be inhibited.
    post_alert(alertmanager, dict(LABELS, severity="warning"))
    time.sleep(8)  # several group intervals: anything else would have been sent by now
    sink_host = host.get_host("ansible://deb13", ansible_inventory=host.backend.ansible_inventory)
    mails = json.loads(sink_host.check_output(
        "python3 -c \"import json, mailbox; print(json.dumps([dict(m.items()) | {'body': m.get_payload(decode=False)"
        " if not m.is_multipart() else ''} for m in mailbox.Maildir('/var/lib/smtpsink')]))\""))
    return {"slack": sink_requests(sink, "/slack/T000/B000/XXXX"), "slack_default": sink_requests(sink, "/slack/T000/B000/DEFAULT"),
            "pagerduty": sink_requests(sink, "/pagerduty"),
            "email": mails, "all": sink_requests(sink)}


def test_slack_format_once(delivered):
    assert len(delivered["slack"]) == 1, delivered["slack"]
    body = delivered["slack"][0]["body"]
    assert body["channel"] == "#alerts"
    attachment = body["attachments"][0]
    assert attachment["title"] == "[FIRING] HighErrorRate on api1:3001"  # from templates/molecule.tmpl
    assert attachment["text"] == "test alert HighErrorRate"
    assert attachment["color"] == "danger"


def test_slack_without_text_shows_summary_and_description(delivered):
    """alertmanager_slack_summary_text: the seeds' message, each alert's summary and description."""
    assert len(delivered["slack_default"]) == 1, delivered["slack_default"]
    attachment = delivered["slack_default"][0]["body"]["attachments"][0]
    assert attachment["text"] == "test alert HighErrorRate\n12% of requests answer 5xx\n"


def test_pagerduty_format_once(delivered, hostvars):
    assert len(delivered["pagerduty"]) == 1, delivered["pagerduty"]
    body = delivered["pagerduty"][0]["body"]
    assert body["routing_key"] == hostvars["test_pagerduty_key"]
    assert body["event_action"] == "trigger"
    assert body["payload"]["severity"] in ("critical", "error")
    # http_config credentials are read from a secret file and sent as the Authorization header.
    assert delivered["pagerduty"][0]["headers"]["Authorization"] == f"Bearer {hostvars['test_http_token']}"


def test_email_once(delivered):
    assert len(delivered["email"]) == 1, delivered["email"]
    mail = delivered["email"][0]
    assert mail["To"] == "oncall@example.com"
    assert "HighErrorRate" in mail["Subject"]


def test_warning_inhibited(delivered):
    warnings = [r for r in delivered["all"] if '"warning"' in json.dumps(r["body"])]
    assert warnings == []


def test_secrets_in_files_not_in_config_or_logs(host, hostvars):
    config = host.file("/etc/alertmanager/alertmanager.yml").content_string
    for key in ("test_slack_url", "test_pagerduty_key", "test_http_token"):
        assert hostvars[key] not in config
        assert hostvars[key] not in run_logs()
    assert "api_url_file: /etc/alertmanager/secrets/slack-slack_configs-1-api_url" in config
    secret = host.file("/etc/alertmanager/secrets/pagerduty-pagerduty_configs-1-routing_key")
    assert (secret.user, secret.group, secret.mode) == ("root", "alertmanager", 0o640)
    assert secret.content_string == hostvars["test_pagerduty_key"]
    assert ("credentials_file: /etc/alertmanager/secrets/pagerduty-pagerduty_configs-1-http_config.authorization"
            ".credentials") in config
