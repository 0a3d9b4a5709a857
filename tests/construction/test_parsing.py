import pytest

from soulchat.construction.parsing import INVALID_OUTPUT, Turn, check_turns, parse_turns
from soulchat.construction.templates import load_template

EMPATHY = load_template("empathy")


def roles_and_contents(text: str, template=EMPATHY) -> list[tuple[str, str]]:
    return [(t.role, t.content) for t in parse_turns(text, template)]


def dialogue(rounds: int, *, user: str = "用户", counsellor: str = "心理咨询师") -> str:
    return "\n".join(f"{user}：第{i}句话。\n{counsellor}：我听到了第{i}句。" for i in range(rounds))


def test_half_and_full_width_colons_blank_lines_and_spaces():
    text = "用户:  你好\n\n\n心理咨询师 ： 你好呀\n  用户：在吗  \n心理咨询师:在的"
    assert roles_and_contents(text) == [
        ("user", "你好"), ("assistant", "你好呀"), ("user", "在吗"), ("assistant", "在的"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "prefix",
    ["1. ", "2、", "3) ", "(4) ", "（5）", "[6] ", "第7轮：", "第十轮 ", "Round 8: ", "- ", "* ", "> ", "12．"],
)
def test_numbering_and_bullets_before_labels(prefix):
    text = f"{prefix}用户：我睡不着\n{prefix}心理咨询师：多久了？"
    assert roles_and_contents(text) == [("user", "我睡不着"), ("assistant", "多久了？")]


def test_markdown_bold_labels():
    text = "**用户：** 我很难过\n**心理咨询师**：我在听。"
    assert roles_and_contents(text) == [("user", "我很难过"), ("assistant", "我在听。")]


def test_analysis_before_the_marker_is_skipped_even_with_labels_inside():
    text = (
        "分析：\n用户：需要被理解（这是分析里的一行）\n心理咨询师：应当共情\n\n"
        "改写后的对话：\n用户：我和室友闹矛盾了\n心理咨询师：听起来你很委屈。"
    )
    assert roles_and_contents(text) == [("user", "我和室友闹矛盾了"), ("assistant", "听起来你很委屈。")]


def test_a_marker_mentioned_after_the_dialogue_is_ignored():
    text = "分析。\n改写后的对话：\n用户：你好\n心理咨询师：你好\n以上就是改写后的对话。"
    assert roles_and_contents(text) == [("user", "你好"), ("assistant", "你好")]
    text = "下面给出改写后的对话。\n用户：你好\n心理咨询师：你好"
    assert roles_and_contents(text) == [("user", "你好"), ("assistant", "你好")]


def test_marker_on_the_same_line_as_the_first_utterance():
    text = "一些分析。\n改写后的对话：用户：你好\n心理咨询师：你好"
    assert roles_and_contents(text) == [("user", "你好"), ("assistant", "你好")]


def test_stray_text_without_marker_is_skipped_up_to_the_first_label():
    text = "好的，下面是改写结果。\n\n用户：你好\n心理咨询师：你好"
    assert roles_and_contents(text) == [("user", "你好"), ("assistant", "你好")]


def test_unlabelled_lines_continue_the_utterance_and_a_note_ends_the_dialogue():
    text = "用户：第一行\n第二行\n心理咨询师：回应\n\n---\n以上对话体现了共情。\n用户：这行在分隔线之后"
    assert roles_and_contents(text) == [("user", "第一行\n第二行"), ("assistant", "回应")]
    for note in ("注：本对话为改写。", "（注：以上为示例）", "以上是改写后的多轮对话。", "### 说明"):
        assert roles_and_contents(f"用户：你好\n心理咨询师：你好\n{note}") == [("user", "你好"), ("assistant", "你好")]


def test_aliases_and_smile_labels():
    assert roles_and_contents("来访者：你好\n咨询师：你好") == [("user", "你好"), ("assistant", "你好")]
    smile = load_template("smile")
    assert roles_and_contents("求助者：你好\n支持者：你好", smile) == [("user", "你好"), ("assistant", "你好")]
    # The SMILE template does not know the empathy labels: such lines are not utterances.
    assert roles_and_contents("用户：你好\n心理咨询师：你好", smile) == []


def test_line_numbers_point_into_the_whole_output():
    turns = parse_turns("分析\n改写后的对话：\n用户：a\n心理咨询师：b", EMPATHY)
    assert [t.line for t in turns] == [2, 3]


def test_valid_dialogue_passes():
    assert check_turns(parse_turns(dialogue(8), EMPATHY), min_rounds=8, max_rounds=20) is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("没有任何说话人标签的一段话。", "no_dialogue"),
        ("心理咨询师：你好\n" + dialogue(8), "starts_with_counsellor"),
        (dialogue(8) + "\n用户：谢谢", "ends_with_user"),
        (dialogue(4) + "\n用户：还有\n" + dialogue(4), "not_alternating"),
        (dialogue(7), "too_few_rounds"),
        (dialogue(21), "too_many_rounds"),
        ("用户：\n" + dialogue(8), "empty_utterance"),
        (dialogue(8).replace("我听到了第3句。", "求助者：我听到了"), "speaker_prefix_in_content"),
        (dialogue(8).replace("我听到了第3句。", "好的\n支持者：我听到了"), "speaker_prefix_in_content"),
        (dialogue(8) + " I hope this helps you today.", "english_in_last_utterance"),
        (dialogue(8).replace("第2句话。", "很长" * 400), "long_utterance"),
    ],
)
def test_every_invalid_output_reason(text, reason):
    problem = check_turns(parse_turns(text, EMPATHY), min_rounds=8, max_rounds=20, max_utterance_chars=600)
    assert problem is not None and problem[0] == reason, problem
    assert reason in INVALID_OUTPUT


def test_english_words_that_are_not_a_sentence_pass():
    text = dialogue(8) + "可以试试CBT，OK？"
    assert check_turns(parse_turns(text, EMPATHY), min_rounds=8, max_rounds=20) is None


def test_round_bounds_are_inclusive_and_max_can_be_open():
    turns = [Turn(role, "话", i) for i, role in enumerate(["user", "assistant"] * 20)]
    assert check_turns(turns, min_rounds=20, max_rounds=20) is None
    assert check_turns(turns, min_rounds=10, max_rounds=None) is None
    assert check_turns(turns, min_rounds=21, max_rounds=None)[0] == "too_few_rounds"
