"""Every code the gate emits has words in both languages, with the same parameters."""

import re
import string
from pathlib import Path

import pytest

from edge.decision import OUTCOME_CODES
from edge.events import AlarmKind
from edge.messages import LANGUAGES, catalogue, text
from edge.prompt import PROMPT_CODES

EDGE = Path(__file__).resolve().parents[2] / "edge"


def emitted_actions() -> set[str]:
    source = "\n".join(path.read_text() for path in EDGE.rglob("*.py"))
    return set(re.findall(r'"action": "([a-z_]+)"', source))


CODES = {
    "outcome": set(OUTCOME_CODES),
    "alarm": {kind.value for kind in AlarmKind},
    "action": emitted_actions(),
    "status": {"started", "stopped", "recovered", "cleared", "released"},
    "prompt": set(PROMPT_CODES),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("group", sorted(CODES))
def test_every_code_has_words(language, group):
    missing = CODES[group] - set(catalogue()[language][group])
    assert not missing, f"{language}.{group} lacks {sorted(missing)}"


def test_both_languages_take_the_same_parameters():
    def fields(template):
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    zh, en = catalogue()["zh"], catalogue()["en"]
    for group in en:
        assert set(zh[group]) == set(en[group]), group
        for code in en[group]:
            assert fields(zh[group][code]) == fields(en[group][code]), (group, code)


def test_chinese_words_are_chinese():
    for group, messages in catalogue()["zh"].items():
        for code, template in messages.items():
            words = re.sub(r"\{[a-z_]+\}|°C", "", template)
            assert not re.search(r"[A-Za-z]{3,}", words), (group, code, template)


def test_parameters_are_filled_in_and_a_missing_one_is_not_an_error():
    assert text("alarm", "fever", "zh", temperature_c=38.2) == "发烧报警 38.2 °C，请用体温计复测"
    assert text("outcome", "fever", "en", temperature_c=38.2, threshold_c=37.3) == \
        "temperature 38.2 °C, above 37.3 °C"
    assert text("outcome", "fever", "en") == "temperature {temperature_c} °C, above {threshold_c} °C"
    assert text("outcome", "no_such_code", "zh") == "no_such_code"


def test_the_command_line_speaks_the_locale_and_words_each_check(monkeypatch):
    from edge.messages import check_lines, cli_language

    for variable in ("GATEPOST_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    assert cli_language() == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert cli_language() == "zh"
    monkeypatch.setenv("GATEPOST_LANG", "en")
    assert cli_language() == "en"
    checks = {"face": {"status": "pass", "code": "resident", "params": {"name": "Bob"}},
              "temperature": {"status": "fail", "code": "fever", "params": {"temperature_c": 38.2, "threshold_c": 37.3}},
              "qr": {"status": "pending", "code": "no_code", "params": {}}}
    assert check_lines(checks, "zh") == ["✔ 住户 Bob", "✘ 体温 38.2 °C，超过 37.3 °C", "… 请出示健康码或通行码"]
    assert check_lines(checks, "en")[1] == "✘ temperature 38.2 °C, above 37.3 °C"
