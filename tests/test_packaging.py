"""A wheel built from the tree carries everything the installed gate reads at run time."""

import subprocess
import sys
import zipfile

from tests.conftest import ROOT


def test_the_wheel_holds_the_touchscreen_schemas_and_example_config(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("gatepost-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if n.endswith(".data/data/share/gatepost/config/gatepost.example.yaml"))
    expected = {"edge/ui/static/index.html", "edge/ui/static/app.js", "collector/web/static/fleet.html",
                "collector/web/static/fleet.js", "collector/web/static/messages.json", "edge/qr/dcc_schemas/1.3.3.json",
                "models/manifest.json", f"{data}/data/share/gatepost/schemas/event.schema.json",
                f"{data}/data/share/gatepost/schemas/telemetry.schema.json",
                f"{data}/data/share/gatepost/config/gatepost.real.yaml", "edge/cli/__main__.py",
                "edge/config/__init__.py", "edge/doctor/__init__.py"}
    assert expected <= names, sorted(expected - names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not any("opencv" in line or "insightface" in line for line in core)  # the collector installs without them
    assert "Version: 0.1.0" in metadata


def test_the_command_line_says_its_version():
    result = subprocess.run([sys.executable, "-m", "edge.cli", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip().startswith("gatepost 0.1.0")
