import pytest

from soulchat.construction.privacy import PiiScrubber


@pytest.mark.parametrize(
    "text, expected, kind",
    [
        ("我的手机是13812345678，晚上打", "我的手机是[电话]，晚上打", "phone"),
        ("电话 +86 139-1234-5678 找我", "电话 [电话] 找我", "phone"),
        ("座机010-87654321", "座机[电话]", "phone"),
        ("身份证11010519491231002X丢了", "身份证[身份证号]丢了", "id_card"),
        ("发到 zhang.san+1@mail.example.cn 吧", "发到 [邮箱] 吧", "email"),
        ("我住在中山路12号3栋502室，离学校近", "我住在[地址]，离学校近", "address"),
        ("就在阳光小区5栋2单元", "就在[地址]", "address"),
    ],
)
def test_each_kind_is_scrubbed(text, expected, kind):
    scrubbed, found = PiiScrubber().scrub(text)
    assert scrubbed == expected and dict(found) == {kind: 1}


def test_an_id_number_is_not_also_counted_as_a_phone():
    scrubbed, found = PiiScrubber().scrub("号码110105199003071378")
    assert scrubbed == "号码[身份证号]" and dict(found) == {"id_card": 1}


@pytest.mark.parametrize(
    "text",
    ["我今年25岁，工作3年了", "2023年12月我开始失眠", "每天睡4到5个小时", "考了600分", "1234567890", "走在路上很难受"],
)
def test_ordinary_numbers_are_left_alone(text):
    assert PiiScrubber().scrub(text) == (text, {})


def test_kinds_can_be_restricted_and_unknown_kinds_fail():
    assert PiiScrubber(kinds=("email",)).scrub("13812345678 a@b.cn")[0] == "13812345678 [邮箱]"
    with pytest.raises(ValueError, match="unknown PII kind"):
        PiiScrubber(kinds=("passport",))
