import tarfile

import mirror
import pytest
from common import sha256_file
from monitoring_testlib import parse_metrics, values
from run_tests import check_mode_clean


@pytest.mark.parametrize("debian, upstream", [("3.5.3+ds1-6", "3.5.3"), ("0.33.1-5", "0.33.1"), ("1.11.1~rc1-1", "1.11.1")])
def test_upstream_version(debian, upstream):
    assert mirror.upstream_version(debian) == upstream


def test_archives_are_reproducible(tmp_path):
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF fake")
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    mirror._reproducible_targz(first, "tool-1.0.0.linux-amd64", {"tool": binary})
    mirror._reproducible_targz(second, "tool-1.0.0.linux-amd64", {"tool": binary})
    assert sha256_file(first) == sha256_file(second)
    with tarfile.open(first) as tar:
        member = tar.getmember("tool-1.0.0.linux-amd64/tool")
        assert member.mode == 0o755
        assert tar.extractfile(member).read() == b"\x7fELF fake"


RECAP = """PLAY RECAP ****
deb12                      : ok=30   changed={a}    unreachable=0    failed=0    skipped=7    rescued=0    ignored=0
deb13                      : ok=30   changed={b}    unreachable=0    failed={f}    skipped=7    rescued=0    ignored=0
"""


def test_check_mode_recap():
    assert check_mode_clean(RECAP.format(a=0, b=0, f=0))
    assert not check_mode_clean(RECAP.format(a=0, b=1, f=0))
    assert not check_mode_clean(RECAP.format(a=0, b=0, f=1))
    assert not check_mode_clean("no recap at all")


def test_metrics_parser():
    text = '# HELP x y\nnode_cpu_seconds_total{cpu="0",mode="idle"} 12.5\nup 1\nesc{a="q\\"x"} 2\n'
    samples = parse_metrics(text)
    assert values(samples, "node_cpu_seconds_total", mode="idle") == [12.5]
    assert values(samples, "up") == [1.0]
    assert values(samples, "esc", a='q\\"x') == [2.0]
    assert values(samples, "missing") == []


def test_verify_needs_a_passed_test():
    from run_tests import verified_something
    assert verified_something("===== 6 passed in 0.4s =====")
    assert verified_something("===== 1 failed, 12 passed, 2 skipped in 3s =====")
    assert not verified_something("===== 6 skipped in 0.42s =====")
    assert not verified_something("===== no tests ran in 0.1s =====")
