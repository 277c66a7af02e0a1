"""Each role's README is generated from its argument specs and docs/usage.md (tools/role_docs.py, `make docs`):
a committed README that differs, or a variable of the specs missing from it, fails here."""
from pathlib import Path

import role_docs
import yaml

ROOT = Path(role_docs.__file__).resolve().parents[1]


def test_every_role_readme_is_what_make_docs_generates():
    generated = role_docs.readmes()
    assert len(generated) == len(list((ROOT / "roles").glob("*/meta/argument_specs.yml")))
    assert [path for path, text in generated.items() if (ROOT / path).read_text() != text] == [], "run make docs"


def test_every_option_and_its_default_is_in_the_readme():
    for path, text in role_docs.readmes().items():
        role = ROOT / Path(path).parent
        specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
        for spec in specs.values():
            for name in spec.get("options") or {}:
                assert f"| `{name}` |" in text, (path, name)
        assert "## Usage" in text, path  # docs/usage.md: how to use it, with examples


def test_a_new_option_changes_the_readme(tmp_path):
    role = tmp_path / "roles/demo"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta/argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    short_description: Demo\n    options:\n"
        "      demo_port: {type: int, description: Port it listens on.}\n")
    (role / "defaults/main.yml").write_text("demo_port: 9999\n")
    assert "| `demo_port` | int | `9999` | Port it listens on. |" in role_docs.render(role)


def test_relative_links_of_the_docs_point_at_files_that_exist():
    import re
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "roles").glob("*/README.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
