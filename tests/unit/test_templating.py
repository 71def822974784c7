"""webhooks/content/templating.py against docs/contract.md section 6 (message body templates of non-fixed webhooks)."""

import json

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from webhooks.content.signing import canonical_json
from webhooks.content.templating import TemplateError, compile_template, template_check
from webhooks.models import DEFAULT_BODY_TEMPLATE


def render(source, context=None, **options):
    return compile_template(source, **options).render(context or {})


# --- Placeholders --------------------------------------------------------------------------------


def test_placeholder_inside_a_string_is_substituted():
    assert render('{"name":"${customer.name}"}', {"customer.name": "张三"}) == '{"name":"张三"}'


def test_placeholder_with_spaces_inside_the_braces():
    assert render('{"id":"${ customerId }"}', {"customerId": 7}) == '{"id":"7"}'


def test_every_documented_name_is_accepted():
    names = [
        "customerId",
        "flowId",
        "flowStep",
        "sendId",
        "customer.name",
        "customer.mobile",
        "customer.email",
        "customer.wechatNickname",
        "customer.activityScore",
        "customer.vipTier",
        "member.membershipId",
        "member.level",
        "member.levelId",
        "member.points",
        "form.phone",
    ]
    source = "{" + ",".join(f'"k{i}":"${{{name}}}"' for i, name in enumerate(names)) + "}"
    template = compile_template(source)
    assert template.names == names
    rendered = json.loads(template.render({name: f"v-{name}" for name in names}))
    assert list(rendered.values()) == [f"v-{name}" for name in names]


@pytest.mark.parametrize("name", ["bogus", "member.unknown", "customer.", "form."])
def test_unknown_names_are_refused_with_the_name(name):
    with pytest.raises(TemplateError, match=name.replace(".", r"\.")):
        compile_template(f'{{"a":"${{{name}}}"}}')


def test_fallback_applies_to_its_placeholder_alone():
    source = '{"a":"${customer.name!"朋友"}","b":"${customer.email}"}'
    assert render(source, {}, empty_text="无") == '{"a":"朋友","b":"无"}'
    assert render(source, {"customer.name": "张三", "customer.email": "z@x.cn"}) == '{"a":"张三","b":"z@x.cn"}'


def test_fallback_may_hold_escaped_quotes():
    assert render('{"a":"${customer.name!"say \\"hi\\""}"}', {}) == '{"a":"say \\"hi\\""}'


def test_empty_fallback_beats_the_empty_text():
    assert render('{"a":"${customer.name!""}"}', {}, empty_text="无") == '{"a":""}'


@pytest.mark.parametrize("missing", [{}, {"customer.name": ""}, {"customer.name": None}])
def test_missing_or_empty_value_renders_as_the_empty_text(missing):
    assert render('{"a":"${customer.name}"}', missing, empty_text="(空)") == '{"a":"(空)"}'
    assert render('{"a":"${customer.name}"}', missing) == '{"a":""}'


def test_zero_and_false_are_values_not_empty():
    source = '{"a":${customer.activityScore},"b":${customer.vip}}'
    assert render(source, {"customer.activityScore": 0, "customer.vip": False}, empty_text="x") == '{"a":0,"b":false}'


# --- JSON escaping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ['张"三', "back\\slash", 'close"}', "line\nbreak\ttab", "<script>&='", "\u2028", '"},"admin":true,"x":{"'],
)
def test_a_value_cannot_break_the_document(name):
    body = render('{"name":"${customer.name}","id":1}', {"customer.name": name})
    assert json.loads(body) == {"name": name, "id": 1}
    assert body == canonical_json({"name": name, "id": 1})


def test_value_inside_a_longer_string_is_escaped_in_place():
    body = render(
        '{"greeting":"您好, ${customer.name}! 积分 ${member.points}"}', {"customer.name": 'A"B', "member.points": 12}
    )
    assert json.loads(body) == {"greeting": '您好, A"B! 积分 12'}


def test_quotes_escaped_in_the_literal_text_do_not_confuse_string_tracking():
    # The \" inside the literal keeps the scanner inside the string: the placeholder is in a string.
    body = render('{"a":"x\\"${customer.name}","b":${customerId}}', {"customer.name": 'q"', "customerId": 3})
    assert json.loads(body) == {"a": 'x"q"', "b": 3}


# --- Whole-value placeholders --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, "42"),
        (12345678901, "12345678901"),
        (1.5, "1.5"),
        (1e7, "1.0E7"),
        (True, "true"),
        (False, "false"),
        ("张三", '"张三"'),
        ('a"b', '"a\\"b"'),
        ("123", '"123"'),  # a string stays a string: the type is the value's, not its look
    ],
)
def test_whole_value_placeholder_renders_as_a_json_value(value, expected):
    assert render('{"v":${customer.x}}', {"customer.x": value}) == '{"v":' + expected + "}"


def test_whole_value_placeholder_in_an_array():
    body = render('{"ids":[${customerId},${member.levelId}]}', {"customerId": 5, "member.levelId": 2})
    assert body == '{"ids":[5,2]}'


def test_empty_whole_value_is_the_empty_text_as_a_string():
    assert render('{"v":${customer.x}}', {}, empty_text="无") == '{"v":"无"}'
    assert render('{"v":${customer.x}}', {}) == '{"v":""}'


# --- The rendered document is canonical ----------------------------------------------------------


def test_literal_nested_objects_arrays_floats_and_nulls_are_sent_canonical():
    source = """{
      "name": "${customer.name}",
      "nested": {"list": [1, 2.50, null, {"deep": "a b"}], "none": null},
      "float": 1.2345e-4, "big": 1e7, "int": 4294967296
    }"""
    body = render(source, {"customer.name": "张三"})
    assert body == (
        '{"name":"张三","nested":{"list":[1,2.5,null,{"deep":"a b"}]},"float":1.2345E-4,"big":1.0E7,"int":4294967296}'
    )


def test_members_keep_the_templates_order():
    assert render('{"z":1,"a":2,"m":3}') == '{"z":1,"a":2,"m":3}'


# --- TEXT bodies ---------------------------------------------------------------------------------


def test_text_body_is_plain_substitution_sent_as_is():
    source = 'Hello ${customer.name!"friend"}, "score" ${customer.activityScore} <b>\n${customer.email}'
    body = render(source, {"customer.activityScore": 9, "customer.email": ""}, message_type="text", empty_text="-")
    assert body == 'Hello friend, "score" 9 <b>\n-'


def test_text_body_does_not_need_to_be_json():
    assert template_check("not json at all ${customerId}", message_type="text") == "not json at all <customerId>"


def test_text_body_renders_booleans_like_json():
    assert render("vip=${customer.vip}", {"customer.vip": True}, message_type="text") == "vip=true"


# --- template_check: refused when saved, with the reason -----------------------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ('{"a":${customerId}', "not valid JSON"),
        ('{"a":"${customerId}"', "not valid JSON"),
        ("{'a': 1}", "not valid JSON"),
        ('{"a":${customerId}${flowId}}', "not valid JSON"),
        ('{"a":"${nope}"}', "nope"),
        ("", "needs a body"),
        ("   ", "needs a body"),
        ('{"a":NaN}', "number"),
    ],
)
def test_template_check_refuses_with_a_reason(source, reason):
    with pytest.raises(TemplateError, match=reason):
        template_check(source)


def test_template_check_reports_where_the_json_breaks():
    with pytest.raises(TemplateError, match=r"line 2, column"):
        template_check('{"a": 1,\n "b" 2}')


def test_template_check_returns_a_preview():
    preview = template_check('{"name":"${customer.name}","id":${customerId}}')
    assert json.loads(preview) == {"name": "<customer.name>", "id": "<customerId>"}


def test_refused_on_webhook_save(db):
    from django.core.exceptions import ValidationError

    from webhooks.models import Webhook

    webhook = Webhook(name="w", url="https://example.com/hook", body_template='{"a":${customerId}')
    with pytest.raises(ValidationError) as info:
        webhook.full_clean()
    assert "body_template" in info.value.message_dict
    assert "not valid JSON" in info.value.message_dict["body_template"][0]


# --- The default template ------------------------------------------------------------------------


def test_default_template_is_the_contracts():
    assert DEFAULT_BODY_TEMPLATE == '{"flowId":"${flowId}","flowStep":"${flowStep}","customerId":"${customerId}"}'
    template_check(DEFAULT_BODY_TEMPLATE)
    body = render(DEFAULT_BODY_TEMPLATE, {"flowId": "f-1", "flowStep": 3, "customerId": 42})
    assert body == '{"flowId":"f-1","flowStep":"3","customerId":"42"}'
    assert render(DEFAULT_BODY_TEMPLATE, {"customerId": 42}) == '{"flowId":"","flowStep":"","customerId":"42"}'


# --- The compiled (skeleton) render must equal the full parse-and-serialize render -----------------

SKELETON_TEMPLATES = [
    DEFAULT_BODY_TEMPLATE,
    '{"id": ${customerId}, "name": "Hi ${customer.name!"朋友"}!", "score": ${customer.activityScore},'
    ' "tags": ["${customer.city}", 1.5, null, {"k": "${member.level}"}], "x": ${customer.x}, "n": null}',
    '{"${customer.name}": "${customer.name}", "same": "${customer.name}${customer.name}"}',
    '["${customer.name}", ${customer.activityScore}]',
]
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


@pytest.mark.parametrize("source", SKELETON_TEMPLATES)
def test_common_templates_compile_to_a_skeleton(source):
    assert compile_template(source, empty_text="空")._skeleton is not None


@pytest.mark.parametrize("source", SKELETON_TEMPLATES)
@hypothesis_settings(max_examples=150, deadline=None)
@given(
    context=st.dictionaries(
        st.sampled_from(
            [
                "customerId",
                "customer.name",
                "customer.activityScore",
                "customer.city",
                "member.level",
                "customer.x",
                "flowId",
                "flowStep",
            ]
        ),
        values,
    )
)
def test_skeleton_render_equals_the_full_render(source, context):
    template = compile_template(source, empty_text="空")
    assert template.render(context) == template._render_full(context)
