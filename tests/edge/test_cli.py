import json
import subprocess
import sys

from tests.conftest import ROOT, SCENARIOS

FACES = SCENARIOS / "faces"


def gatepost(*args, state=None):
    command = [sys.executable, "-m", "edge.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_residents_add_list_import_remove(tmp_path):
    state = str(tmp_path / "state")
    added = gatepost("residents", "--state-dir", state, "add", "--name", "Alice", "--unit", "3-201",
                     str(FACES / "resident_a/01.jpg"), str(FACES / "resident_a/02.jpg"))
    assert added.returncode == 0, added.stderr
    folder = tmp_path / "people"
    (folder / "Bob").mkdir(parents=True)
    (folder / "Bob" / "1.jpg").write_bytes((FACES / "resident_b/01.jpg").read_bytes())
    (folder / "Nobody").mkdir()
    (folder / "Nobody" / "bad.jpg").write_bytes(b"not an image")
    imported = gatepost("residents", "--state-dir", state, "import", str(folder))
    assert imported.returncode == 3  # partly done; 2 is a usage error
    assert "enrolled 1 of 2 people" in imported.stdout
    assert "refused Nobody:" in imported.stderr and "not a readable image" in imported.stderr
    listed = gatepost("residents", "list", "--state-dir", state)  # the option after the command word too
    lines = listed.stdout.strip().splitlines()
    as_json = gatepost("--state-dir", state, "residents", "list", "--json")
    assert [(r["name"], r["templates"]) for r in json.loads(as_json.stdout)] == [("Alice", 2), ("Bob", 1)]
    assert [line.split("\t")[1:] for line in lines] == [["Alice", "3-201", "2 template(s)"], ["Bob", "", "1 template(s)"]]
    removed = gatepost("residents", "--state-dir", state, "remove", lines[0].split("\t")[0])
    assert removed.returncode == 0
    assert "Alice" not in gatepost("residents", "--state-dir", state, "list").stdout
    missing = gatepost("residents", "--state-dir", state, "remove", "999")
    assert missing.returncode == 1 and "no resident 999" in missing.stderr


def test_under_systemd_log_lines_carry_their_priority_and_no_timestamp():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = "from edge.cli.logs import setup_logging; import logging; setup_logging('INFO'); logging.getLogger('gate').error('relay %s', 'gone')"
    journal = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             env={"JOURNAL_STREAM": "8:1234", "PATH": "/usr/bin:/bin"})
    assert journal.stderr.strip() == "<3>gate: relay gone"
    terminal = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"})
    assert terminal.stderr.strip().endswith("ERROR gate: relay gone") and terminal.stderr[:4].isdigit()


def test_guards_and_passes_are_listed_without_secrets(tmp_path):
    state = str(tmp_path / "state")
    assert gatepost("guards", "--state-dir", state, "add", "--id", "7", "--name", "Wang", "--pin", "2468").returncode == 0
    listed = gatepost("guards", "list", "--state-dir", state, "--json")
    assert json.loads(listed.stdout) == [{"guard_id": "7", "name": "Wang"}]  # never the PIN's hash or salt
    assert gatepost("guards", "list", "--state-dir", state).stdout == "7\tWang\n"
    passes = gatepost("passes", "list", "--state-dir", state, "--json")
    assert passes.returncode == 0 and json.loads(passes.stdout) == []
