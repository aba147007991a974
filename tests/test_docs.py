"""The documentation site builds without a warning: a dead link, a missing page or a broken anchor fails."""

import shutil
import subprocess
import sys

from tests.conftest import ROOT


def test_the_documentation_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(ROOT / ".venv" / "bin")) or shutil.which("mkdocs")
    command = [mkdocs] if mkdocs else [sys.executable, "-m", "mkdocs"]
    result = subprocess.run(command + ["build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "thermal" / "index.html").is_file()


def test_the_readme_stays_short_and_links_only_to_pages_that_exist():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count("\n") <= 200
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).is_file(), target


def test_the_configuration_reference_is_the_schemas_own():
    from edge.config import GateConfig, reference_markdown

    text = (ROOT / "docs" / "configuration-reference.md").read_text(encoding="utf-8")
    assert text == reference_markdown(), "regenerate: gatepost config reference > docs/configuration-reference.md"
    for section in GateConfig.model_fields:
        if section not in ("state_dir", "log_level"):
            assert f"## `{section}" in text
