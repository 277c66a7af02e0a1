"""Static checks of the roles: documented inputs, prefixes, versions the mirror provides."""
from pathlib import Path

import mirror
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
COMPONENT_ROLES = [r for r in ROLES if r != "monitoring_common"]


def load(path):
    return yaml.safe_load(path.read_text()) or {}


def test_every_role_has_argument_specs():
    assert sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir()) == ROLES


@pytest.mark.parametrize("role", COMPONENT_ROLES)
def test_every_default_is_documented(role):
    defaults = load(ROOT / f"roles/{role}/defaults/main.yml")
    options = load(ROOT / f"roles/{role}/meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(set(defaults) - set(options)) == []
    assert sorted(set(options) - set(defaults)) == []


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role):
    for kind in ("defaults", "vars"):
        path = ROOT / f"roles/{role}/{kind}/main.yml"
        if path.exists():
            assert [v for v in load(path) if not v.startswith(role + "_")] == []


@pytest.mark.parametrize("role", [r for r in COMPONENT_ROLES if r in mirror.COMPONENTS])
def test_default_version_is_the_one_the_mirror_builds(role):
    assert load(ROOT / f"roles/{role}/defaults/main.yml")[f"{role}_version"] == mirror.COMPONENTS[role][1]
