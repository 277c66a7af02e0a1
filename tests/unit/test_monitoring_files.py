"""The shared module that applies a component's files in one pass, run against a temporary directory."""
import io
import json
import os
import subprocess
import tarfile

import pytest
from monitoring_files import Applier, Failed


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def apply(check_mode=False, **options):
    applier = Applier(run, check_mode=check_mode, want_diff=True)
    return applier, applier.apply(**options)


def read(path):
    return path.read_text()


def test_creates_directories_files_and_links_once(tmp_path):
    entries = [
        {"path": str(tmp_path / "etc/app"), "state": "directory", "mode": "0750"},
        {"path": str(tmp_path / "etc/app/app.yml"), "content": "a: 1\n", "mode": "0640", "triggers": ["reload"]},
        {"path": str(tmp_path / "bin/app"), "state": "link", "src": "/opt/app/current/app", "triggers": ["restart"]},
    ]
    _, first = apply(entries=entries)
    assert first["changed"] and first["triggers"] == ["reload", "restart"]
    assert oct((tmp_path / "etc/app").stat().st_mode & 0o777) == "0o750"
    assert oct((tmp_path / "etc/app/app.yml").stat().st_mode & 0o777) == "0o640"
    assert os.readlink(tmp_path / "bin/app") == "/opt/app/current/app"
    _, second = apply(entries=entries)
    assert second == {"changed": False, "changes": [], "triggers": [], "deferred": False, "healthy": False, "pending": ""}


def test_check_mode_reports_without_writing(tmp_path):
    target = tmp_path / "app.yml"
    target.write_text("old\n")
    applier, result = apply(check_mode=True, entries=[{"path": str(target), "content": "new\n"}])
    assert result["changed"]
    assert read(target) == "old\n"
    assert applier.diffs == [{"before_header": str(target), "after_header": str(target), "before": "old\n", "after": "new\n"}]


def test_hidden_diff(tmp_path):
    applier, _ = apply(entries=[{"path": str(tmp_path / "secret"), "content": "hunter2", "diff": False}])
    assert "hunter2" not in str(applier.diffs)


def test_a_file_that_stops_being_a_secret_never_shows_its_old_content(tmp_path):
    """A config with an inline secret (e.g. a sigv4 key) that is then removed: --diff shows the new side only."""
    from monitoring_files import run as run_module
    conf, previous = str(tmp_path / "alertmanager.yml"), str(tmp_path / "state/previous/alertmanager")
    secret = {"secret_entries": [{"path": conf, "content": "secret_key: AKIA-s3cr3t\n"}], "previous": previous}
    assert "AKIA-s3cr3t" not in str(run_module(secret, False, True, run))
    plain = run_module({"entries": [{"path": conf, "content": "region: eu\n"}], "previous": previous}, True, True, run)
    assert plain["changed"] and "AKIA-s3cr3t" not in str(plain) and "region: eu" in str(plain["diff"])
    plain = run_module({"entries": [{"path": conf, "content": "region: eu\n"}], "previous": previous}, False, True, run)
    assert plain["changed"] and "AKIA-s3cr3t" not in str(plain)
    # From now on the file is an ordinary one: its next change shows both sides.
    again = run_module({"entries": [{"path": conf, "content": "region: us\n"}], "previous": previous}, False, True, run)
    assert "region: eu" in str(again["diff"]) and "AKIA" not in open(previous + ".secret-paths.json").read()


def test_mode_change_alone_is_a_change(tmp_path):
    target = tmp_path / "f"
    target.write_text("x")
    target.chmod(0o600)
    _, result = apply(entries=[{"path": str(target), "content": "x", "mode": "0644"}])
    assert result["changed"] and oct(target.stat().st_mode & 0o777) == "0o644"


def test_unset_mode_keeps_the_existing_one(tmp_path):
    target = tmp_path / "d"
    target.mkdir(mode=0o711)
    _, result = apply(entries=[{"path": str(target), "state": "directory"}])
    assert not result["changed"] and oct(target.stat().st_mode & 0o777) == "0o711"


def test_refused_file_undoes_the_whole_run(tmp_path):
    good, bad = tmp_path / "rules.yml", tmp_path / "main.yml"
    good.write_text("old rules\n")
    entries = [{"path": str(tmp_path / "new-dir"), "state": "directory"},
               {"path": str(good), "content": "new rules\n"},
               {"path": str(bad), "content": "broken\n", "validate": "grep -q valid %s"}]
    with pytest.raises(Failed, match="validation of .*main.yml"):
        apply(entries=entries)
    assert read(good) == "old rules\n"
    assert not bad.exists() and not (tmp_path / "new-dir").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.yml"]  # no temporary files left


def test_failed_check_command_undoes_the_run(tmp_path):
    target = tmp_path / "a.yml"
    target.write_text("before\n")
    with pytest.raises(Failed, match="complete configuration"):
        apply(entries=[{"path": str(target), "content": "after\n"}], check_command=["false"])
    assert read(target) == "before\n"


def test_check_command_runs_only_on_change(tmp_path):
    target = tmp_path / "a.yml"
    target.write_text("same\n")
    _, result = apply(entries=[{"path": str(target), "content": "same\n"}], check_command=["false"])
    assert not result["changed"]


def test_nothing_changes_until_the_release_is_unpacked(tmp_path):
    binary = tmp_path / "opt/app/1.0/app"
    entries = [{"path": str(tmp_path / "etc/app"), "state": "directory"},
               {"path": str(tmp_path / "current"), "state": "link", "src": str(binary.parent)}]
    _, first = apply(entries=entries, release=str(binary))
    assert first["deferred"] and not first["changed"] and list(tmp_path.iterdir()) == []
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    _, second = apply(entries=entries, release=str(binary))
    assert not second["deferred"] and (tmp_path / "etc/app").is_dir()
    assert os.readlink(tmp_path / "current") == str(binary.parent)


def test_check_mode_does_not_wait_for_the_release(tmp_path):
    _, result = apply(check_mode=True, entries=[{"path": str(tmp_path / "a"), "content": "x"}], release=str(tmp_path / "missing"))
    assert result["changed"] and not result["deferred"]


def test_prune_removes_unmanaged_files_only_in_listed_directories(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stale.yml").write_text("old")
    (rules / "kept.yml").write_text("k")
    (rules / "sub").mkdir()
    entries = [{"path": str(rules / "kept.yml"), "content": "k"}]
    _, result = apply(entries=entries, prune=[{"path": str(rules), "triggers": ["reload"]}])
    assert result["triggers"] == ["reload"]
    assert sorted(p.name for p in rules.iterdir()) == ["kept.yml", "sub"]


def test_recursive_prune_keeps_folders_with_managed_files(tmp_path):
    boards = tmp_path / "dashboards"
    for rel in ("Hosts/a.json", "Hosts/old.json", "Gone/b.json"):
        (boards / rel).parent.mkdir(parents=True, exist_ok=True)
        (boards / rel).write_text("{}")
    entries = [{"path": str(boards / "Hosts/a.json"), "content": "{}"}]
    apply(entries=entries, prune=[{"path": str(boards), "recurse": True}])
    assert sorted(str(p.relative_to(boards)) for p in boards.rglob("*")) == ["Hosts", "Hosts/a.json"]


def test_keep_protects_paths_written_by_another_call(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "token").write_text("t")
    _, result = apply(prune=[{"path": str(secrets), "keep": [str(secrets / "token")]}])
    assert not result["changed"] and (secrets / "token").exists()


def test_old_versions_are_removed_when_the_link_moves(tmp_path):
    root = tmp_path / "opt/app"
    for version, age in (("1.0", 300), ("1.5", 200), ("2.0", 100)):
        (root / version).mkdir(parents=True)
        os.utime(root / version, (os.path.getatime(root), os.path.getmtime(root) - age))
    (root / "current").symlink_to(root / "1.5")
    entries = [{"path": str(root / "current"), "state": "link", "src": str(root / "2.0")}]
    _, result = apply(entries=entries, versions={"root": str(root), "link": str(root / "current"), "keep": 2})
    assert sorted(p.name for p in root.iterdir()) == ["1.5", "2.0", "current"]
    assert any("1.0: old version removed" in c for c in result["changes"])


def test_a_directory_where_a_file_belongs_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(Failed, match="is a directory"):
        apply(entries=[{"path": str(tmp_path / "x"), "content": "y"}])


def test_bad_mode_is_a_clear_error(tmp_path):
    with pytest.raises(Failed, match="not an octal mode"):
        apply(entries=[{"path": str(tmp_path / "x"), "content": "y", "mode": "rw-r--r--"}])


def make_release(tmp_path, name="app-1.0.linux-amd64"):
    """A release archive with a top directory, as upstream publishes them."""
    import io
    import tarfile
    archive = tmp_path / "release.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for member, data, mode in ((f"{name}/app", b"#!/bin/sh\n", 0o755), (f"{name}/LICENSE", b"text", 0o644)):
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.uid, info.gid = len(data), mode, 1234, 1234
            tar.addfile(info, io.BytesIO(data))
    return archive


def sha256(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def staged(tmp_path, archive):
    """The archive copied into the staging directory, as the role's copy task leaves it."""
    staging = tmp_path / "staging"
    staging.mkdir(mode=0o700, exist_ok=True)
    copy = staging / "app-1.0.tar.gz"
    copy.write_bytes(archive.read_bytes())
    return copy


def test_unpacks_the_release_then_applies(tmp_path):
    archive, version_dir = make_release(tmp_path), tmp_path / "opt/app/1.0"
    copy = staged(tmp_path, archive)
    entries = [{"path": str(tmp_path / "current"), "state": "link", "src": str(version_dir)}]
    _, result = apply(entries=entries, release=str(version_dir / ".monitoring-release"),
                      unpack={"archive": str(copy), "dest": str(version_dir), "sha256": sha256(archive)})
    assert not result["deferred"] and (version_dir / "app").read_text() == "#!/bin/sh\n"
    assert oct((version_dir / "app").stat().st_mode & 0o777) == "0o755"
    assert (version_dir / "app").stat().st_uid == os.getuid()  # not the archive's owner
    assert (version_dir / ".monitoring-release").read_text() == sha256(archive) + "\n"
    assert not copy.exists() and not (tmp_path / "opt/app/1.0.unpacking").exists()
    assert os.readlink(tmp_path / "current") == str(version_dir)


def test_a_release_whose_binary_does_not_run_is_not_installed(tmp_path):
    archive, version_dir = tmp_path / "broken.tar.gz", tmp_path / "opt/app/2.0"
    with tarfile.open(archive, "w:gz") as tar:
        script = b"#!/bin/sh\necho 'illegal instruction' >&2\nexit 132\n"
        info = tarfile.TarInfo("app-2.0.linux-amd64/app")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    copy = staged(tmp_path, archive)
    with pytest.raises(Failed, match=r"app does not run \(app --version: exit 132\): illegal instruction"):
        apply(release=str(version_dir / ".monitoring-release"),
              unpack={"archive": str(copy), "dest": str(version_dir), "sha256": sha256(archive), "probe": ["app", "--version"]})
    assert not version_dir.exists() and not (tmp_path / "opt/app/2.0.unpacking").exists()


def test_a_flat_release_is_unpacked_as_it_is(tmp_path):
    """VictoriaMetrics' archives hold the binary at the top, without a directory to strip."""
    archive, version_dir = tmp_path / "flat.tar.gz", tmp_path / "opt/vm/1.0"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("victoria-metrics-prod")
        info.size, info.mode = 3, 0o755
        tar.addfile(info, io.BytesIO(b"bin"))
    copy = staged(tmp_path, archive)
    _, result = apply(release=str(version_dir / ".monitoring-release"),
                      unpack={"archive": str(copy), "dest": str(version_dir), "sha256": sha256(archive)})
    assert not result["deferred"] and (version_dir / "victoria-metrics-prod").read_bytes() == b"bin"


def test_a_release_without_its_marker_is_not_installed(tmp_path):
    """A power cut mid-unpack leaves files but no marker: the release is unpacked again, not trusted."""
    version_dir = tmp_path / "opt/app/1.0"
    version_dir.mkdir(parents=True)
    (version_dir / "app").write_text("trunc")
    _, result = apply(release=str(version_dir / ".monitoring-release"),
                      unpack={"archive": str(tmp_path / "staging/app-1.0.tar.gz"), "dest": str(version_dir)})
    assert result["deferred"]


def test_without_the_checksum_nothing_is_unpacked_and_planted_archives_go(tmp_path):
    """The first pass never unpacks: whatever waits in the staging directory was not copied by this run."""
    archive, version_dir = make_release(tmp_path), tmp_path / "opt/app/1.0"
    planted = staged(tmp_path, archive)
    (tmp_path / "staging").chmod(0o777)
    _, result = apply(entries=[{"path": str(tmp_path / "etc"), "state": "directory"}],
                      release=str(version_dir / ".monitoring-release"),
                      unpack={"archive": str(planted), "dest": str(version_dir)})
    assert result["deferred"] and not result["changes"]
    assert not planted.exists() and not version_dir.exists() and not (tmp_path / "etc").exists()
    assert "did not copy" in result["warnings"][0]
    assert oct((tmp_path / "staging").stat().st_mode & 0o777) == "0o700"


def test_an_archive_with_the_wrong_checksum_is_refused(tmp_path):
    archive, version_dir = make_release(tmp_path), tmp_path / "opt/app/1.0"
    copy = staged(tmp_path, archive)
    good = sha256(archive)
    with open(copy, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(Failed, match="does not match the release checksum"):
        apply(entries=[{"path": str(tmp_path / "etc"), "state": "directory"}],
              release=str(version_dir / ".monitoring-release"),
              unpack={"archive": str(copy), "dest": str(version_dir), "sha256": good})
    assert not copy.exists() and not version_dir.exists() and not (tmp_path / "etc").exists()


def test_a_linked_staging_directory_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "staging").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(Failed, match="staging directory is a link"):
        apply(release=str(tmp_path / "v/.monitoring-release"),
              unpack={"archive": str(tmp_path / "staging/app-1.0.tar.gz"), "dest": str(tmp_path / "v")})


def test_an_unsafe_archive_is_refused(tmp_path):
    import io
    import tarfile
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("top/../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    copy = staged(tmp_path, archive)
    with pytest.raises(Failed, match="unsafe path"):
        apply(release=str(tmp_path / "v/.monitoring-release"),
              unpack={"archive": str(copy), "dest": str(tmp_path / "v"), "sha256": sha256(archive)})
    assert not (tmp_path / "escape").exists() and not (tmp_path / "v").exists()


def test_directory_backups_do_not_outlive_the_run(tmp_path, monkeypatch):
    import tempfile
    backups = tmp_path / "tmp"
    backups.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(backups))
    pruned = tmp_path / "rules"
    (pruned / "old").mkdir(parents=True)
    (pruned / "old/a.yml").write_text("x")
    _, result = apply(prune=[{"path": str(pruned), "recurse": True}])
    assert result["changed"] and not (pruned / "old").exists()
    assert list(backups.iterdir()) == []


def test_health_is_checked_when_nothing_is_queued(tmp_path, monkeypatch):
    import monitoring_files
    calls = []
    monkeypatch.setattr(monitoring_files, "check_health", lambda spec: (calls.append(spec) or (True, "healthy", 200, 1)))
    target = tmp_path / "a.yml"
    target.write_text("same\n")
    _, quiet = apply(entries=[{"path": str(target), "content": "same\n"}], health={"url": "http://x/"})
    _, queued = apply(entries=[{"path": str(target), "content": "new\n", "triggers": ["reload"]}], health={"url": "http://x/"})
    assert quiet["healthy"] and not queued["healthy"] and len(calls) == 1


def test_a_first_start_does_not_wait_for_cluster_members_a_running_service_does(monkeypatch):
    """A new cluster is installed one member at a time: the first cannot find the others yet."""
    import monitoring_files
    calls = []
    monkeypatch.setattr(monitoring_files, "check_health", lambda spec: (calls.append(spec) or (True, "healthy", 200, 1)))
    health = {"url": "http://x/", "cluster_url": "http://x/api/v2/status", "cluster_peers": 2}
    for active in (False, True):
        Applier(lambda argv, a=active: ((0 if a or argv[1] != "is-active" else 3), "", "")).apply(
            service={"name": "am"}, health=health)
    assert [c["cluster_peers"] for c in calls] == [0, 2]


def test_an_unhealthy_service_fails_the_run(tmp_path, monkeypatch):
    import monitoring_files
    monkeypatch.setattr(monitoring_files, "check_health", lambda spec: (False, "no healthy answer from http://x/", 0, 30))
    with pytest.raises(Failed, match="is not healthy: no healthy answer"):
        apply(health={"url": "http://x/"})


def test_handlers_are_left_only_what_a_running_service_needs(tmp_path):
    def systemctl(active):
        def run_command(argv):
            return (0 if active or argv[1] != "is-active" else 3), "", ""
        return run_command
    cases = [(True, ["reload"], "reload"), (True, ["reload", "restart"], "restart"), (False, ["restart"], ""),
             (True, [], "")]
    for number, (active, triggers, pending) in enumerate(cases):
        entry = {"path": str(tmp_path / f"app{number}.yml"), "content": "a: 1\n", "triggers": triggers}
        result = Applier(systemctl(active)).apply(entries=[entry], service={"name": "app"})
        assert result["pending"] == pending, (active, triggers)
        assert result["service"]["started_now"] is not active


def test_a_unit_is_verified_under_its_own_name_before_it_replaces_the_old_one(tmp_path):
    unit = tmp_path / "app.service"
    unit.write_text("old\n")
    seen = []

    def systemd_analyze(argv):
        seen.append(argv)
        ok = argv[:2] == ["systemd-analyze", "verify"] and os.path.basename(argv[2]) == "app.service"
        return (0 if ok and "good" in open(argv[2]).read() else 1), "", "app.service: Command /x is not executable"
    applier = Applier(systemd_analyze)
    with pytest.raises(Failed, match="systemd-analyze verify of .*not executable"):
        applier.apply(entries=[{"path": str(unit), "content": "bad\n", "verify_unit": True}])
    assert unit.read_text() == "old\n"
    Applier(systemd_analyze).apply(entries=[{"path": str(unit), "content": "good\n", "verify_unit": True}])
    assert unit.read_text() == "good\n" and len(seen) == 2


def test_an_unhealthy_service_shows_the_journal_of_its_own_start(monkeypatch):
    """The old process's lines and the empty invocation of a pending restart are left out."""
    import json
    import monitoring_files
    monkeypatch.setattr(monitoring_files, "check_health", lambda spec: (False, "no answer", 0, 1))
    journal = [{"_SYSTEMD_INVOCATION_ID": "old", "MESSAGE": "old process: serving"},
               {"INVOCATION_ID": "new", "MESSAGE": "Started app.service."},
               {"_SYSTEMD_INVOCATION_ID": "new", "MESSAGE": "listen tcp :9100: bind: address already in use"},
               {"INVOCATION_ID": "new", "MESSAGE": "app.service: Main process exited, code=exited, status=1/FAILURE"},
               {"INVOCATION_ID": "pending", "MESSAGE": "app.service: Scheduled restart job."},
               # systemd's next retry has begun and logged a first line, not yet its own failure
               {"_SYSTEMD_INVOCATION_ID": "retry", "MESSAGE": "retry: starting"}]

    def run_command(argv):
        if argv[0] == "journalctl":
            return 0, "\n".join(json.dumps(e) for e in journal), ""
        return 0, "", ""
    with pytest.raises(Failed) as failure:
        Applier(run_command).apply(service={"name": "app", "started": False}, health={"url": "http://x/"})
    assert "address already in use" in str(failure.value) and "Started app.service." in str(failure.value)
    assert "old process" not in str(failure.value) and "Scheduled restart" not in str(failure.value)
    assert "retry: starting" not in str(failure.value)


def test_the_previous_state_is_kept_and_put_back(tmp_path, monkeypatch):
    """What a run replaced (files, links, pruned files) comes back, with a restart and the old health check."""
    import monitoring_files
    checked = []
    monkeypatch.setattr(monitoring_files, "check_health",
                        lambda spec: (checked.append((spec["url"], spec.get("password"))) or (True, "ok", 200, 1)))
    commands = []

    def run_command(argv):
        commands.append(argv)
        return 0, "", ""
    conf, link, rules = tmp_path / "app.yml", tmp_path / "current", tmp_path / "rules"
    rules.mkdir()
    (rules / "old.yml").write_text("old rule\n")
    previous = str(tmp_path / "state/previous/app")
    entries = lambda content, target: [{"path": str(conf), "content": content, "mode": "0640"},  # noqa: E731
                                       {"path": str(link), "state": "link", "src": target}]
    Applier(run_command).apply(entries=entries("port: 9090\n", "/opt/app/1.0"), previous=previous,
                               health={"url": "http://old/", "user": "health", "password": "He'al\\th-pw"})
    Applier(run_command).apply(entries=entries("port: 9091\n", "/opt/app/2.0"), prune=[{"path": str(rules)}],
                               previous=previous, health={"url": "http://new/", "user": "health", "password": "He'al\\th-pw"})
    # No password at rest: neither the kept health check nor anything else under the state directory holds it.
    kept = [p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert kept and not [k for k in kept if b"al\\th-pw" in k or b"He'al" in k]
    older = tmp_path / "state/previous/app.health.json"  # as an earlier release wrote it
    older.write_text(json.dumps({"url": "http://new/", "user": "health", "password": "He'al\\th-pw"}))
    Applier(run_command).apply(entries=entries("port: 9091\n", "/opt/app/2.0"), previous=previous,
                               health={"url": "http://new/", "user": "health", "password": "He'al\\th-pw"})
    assert "password" not in json.loads(older.read_text())
    assert conf.read_text() == "port: 9091\n" and not (rules / "old.yml").exists()
    assert oct(os.stat(previous).st_mode & 0o777) == "0o700"
    result = Applier(run_command).restore({"dir": previous, "service": "app", "password": "He'al\\th-pw"})
    assert result["healthy"] and "healthy again" in result["msg"]
    assert conf.read_text() == "port: 9090\n" and oct(conf.stat().st_mode & 0o777) == "0o640"
    assert os.readlink(link) == "/opt/app/1.0" and (rules / "old.yml").read_text() == "old rule\n"
    assert ["systemctl", "restart", "app"] in commands and checked[-1] == ("http://old/", "He'al\\th-pw")
    assert not os.path.exists(previous)
    assert Applier(run_command).restore({"dir": previous, "service": "app"})["restored"] == []


def test_a_checked_secret_entry_comes_after_the_files_it_is_checked_with(tmp_path):
    """A configuration that holds a secret is validated with the checker the same run installs (first install)."""
    from monitoring_files import run as run_module
    checker, config = tmp_path / "bin/check", tmp_path / "etc/app.yml"
    params = {"secret_entries": [{"path": str(tmp_path / "etc/token"), "content": "t0ken"},
                                 {"path": str(config), "content": "token: t0ken\n", "validate": f"{checker} %s"}],
              "entries": [{"path": str(checker), "content": "#!/bin/sh\ngrep -q token \"$1\"\n", "mode": "0755"}]}
    result = run_module(params, False, True, run)
    assert not result.get("failed"), result
    assert read(config) == "token: t0ken\n"
    assert "t0ken" not in str(result)


class SnapshotAPI:
    """A snapshot endpoint on loopback answering as Prometheus' admin API does (or 503 when it is off)."""

    def __init__(self, enabled=True):
        import http.server
        import json
        import threading
        self.posts = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                api.posts.append((self.path, self.headers.get("Authorization")))
                self.send_response(200 if enabled else 503)
                self.end_headers()
                self.wfile.write(json.dumps({"status": "success", "data": {"name": "20261203T000000Z-abc"}} if enabled
                                            else {"status": "error", "error": "admin APIs disabled"}).encode())

            def log_message(self, *args):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/admin/tsdb/snapshot"


def upgrade(tmp_path, api, old, new):
    """The version link at `old`, a run that moves it to `new` with the snapshot option."""
    for version in (old, new):
        (tmp_path / "opt" / version).mkdir(parents=True, exist_ok=True)
        (tmp_path / "opt" / version / ".monitoring-release").write_text("x\n")
    link = tmp_path / "current"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(tmp_path / "opt" / old)
    return apply(entries=[{"path": str(link), "state": "link", "src": str(tmp_path / "opt" / new), "triggers": ["restart"]}],
                 release=str(tmp_path / "opt" / new / ".monitoring-release"),
                 versions={"root": str(tmp_path / "opt"), "link": str(link)},
                 unpack={"archive": str(tmp_path / "staging/a.tar.gz"), "dest": str(tmp_path / "opt" / new),
                         "snapshot": {"url": api.url, "dir": "/var/lib/prometheus/data/snapshots"}},
                 health={"url": api.url, "user": "u", "password": "p"})[1]


def test_a_snapshot_is_taken_before_a_major_upgrade_only(tmp_path):
    api = SnapshotAPI()
    result = upgrade(tmp_path, api, "2.53.3", "3.5.3")
    assert result["snapshot"] == "/var/lib/prometheus/data/snapshots/20261203T000000Z-abc"
    assert api.posts == [("/api/v1/admin/tsdb/snapshot", "Basic dTpw")]
    for old, new in (("3.5.3", "3.6.0"), ("3.6.0", "3.5.3")):  # a minor upgrade, a downgrade
        assert "snapshot" not in upgrade(tmp_path, api, old, new)
    assert len(api.posts) == 1


def test_a_failed_snapshot_switches_nothing(tmp_path):
    with pytest.raises(Failed, match=r"snapshot before the upgrade from 2.53.3 to 3.5.3 failed .*admin APIs disabled"):
        upgrade(tmp_path, SnapshotAPI(enabled=False), "2.53.3", "3.5.3")
    assert os.readlink(tmp_path / "current") == str(tmp_path / "opt/2.53.3")
