import pytest

from soulchat.construction.templates import BUILTIN_TEMPLATES, PromptTemplate, load_template


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
def test_every_shipped_template_loads_and_renders(name):
    template = load_template(name)
    text = template.render(question="〔q1〕我和父母总吵架。", answer="试着先倾听他们。", topic="家庭")
    assert "〔q1〕我和父母总吵架。" in text and "试着先倾听他们。" in text
    assert "{question}" not in text and "{answer}" not in text and "{topic}" not in text
    # The prompt names the labels the parser expects.
    assert f"{template.user_label}：" in text and f"{template.assistant_label}：" in text


def test_empathy_template_states_the_papers_constraints():
    template = load_template("empathy")
    assert (template.user_label, template.assistant_label) == ("用户", "心理咨询师")
    assert (template.min_rounds, template.max_rounds) == (8, 20)
    for phrase in ("倾听", "安慰", "理解", "信任", "认可", "真诚", "情感支持", "8轮", "20轮", "逐步分析"):
        assert phrase in template.prompt, phrase
    assert template.dialogue_marker in template.prompt


def test_smile_template():
    template = load_template("smile")
    assert (template.user_label, template.assistant_label, template.min_rounds) == ("求助者", "支持者", 10)
    assert template.max_rounds is None and template.temperature == 1.0 and template.dialogue_marker is None


def test_render_is_one_pass_and_keeps_other_braces():
    template = PromptTemplate(name="t", prompt='{"q": "{question}"} / {answer} / {other}')
    assert template.render(question="含{answer}的问题", answer="答") == '{"q": "含{answer}的问题"} / 答 / {other}'


def test_missing_placeholder_and_bad_fields_are_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"\{answer\}"):
        PromptTemplate(name="t", prompt="只有 {question}")
    with pytest.raises(ValueError, match="round bounds"):
        PromptTemplate(name="t", prompt="{question}{answer}", min_rounds=5, max_rounds=3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompt: '{question} {answer}'\nrounds: 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown key"):
        load_template(bad)
    with pytest.raises(FileNotFoundError):
        load_template("no-such-template")


def test_user_templates_yaml_and_txt(tmp_path):
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text(
        "prompt: '改写：{question} / {answer}'\nuser_label: 来访者\nassistant_label: 咨询师\nmin_rounds: 3\nmax_rounds: 5\n",
        encoding="utf-8",
    )
    template = load_template(yaml_file)
    assert (template.name, template.labels) == ("mine", {"咨询师": "assistant", "来访者": "user"})
    txt_file = tmp_path / "plain.txt"
    txt_file.write_text("请改写 {question} 和 {answer}", encoding="utf-8")
    template = load_template(txt_file)
    assert template.name == "plain" and template.user_label == "用户" and template.min_rounds == 8
