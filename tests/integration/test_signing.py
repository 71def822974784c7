"""webhooks/content/signing.py against docs/contract.md sections 2 and 3 (canonical JSON as Gson writes it, HMAC)."""

import hashlib
import hmac
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.content.signing import canonical_json, sign, verify

SECRET = "s3cr3t-密钥"


# --- canonical_json: strings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x00\x01\x1f", '"\\u0000\\u0001\\u001f"'),
        ("<>&='", '"\\u003c\\u003e\\u0026\\u003d\\u0027"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("中文 会员", '"中文 会员"'),
        ("emoji 😀", '"emoji 😀"'),
        ("\x7f/é", '"\x7f/é"'),
    ],
)
def test_strings_escape_as_gson(text, expected):
    assert canonical_json(text) == expected


def test_control_escapes_are_lowercase_hex():
    assert canonical_json("\x1b\x0b") == '"\\u001b\\u000b"'


# --- canonical_json: structure -------------------------------------------------------------------


def test_members_keep_their_order_and_no_whitespace_between_tokens():
    payload = {"z": 1, "a": [1, 2, {"y": True, "b": False}], "m": {"k": "v"}}
    assert canonical_json(payload) == '{"z":1,"a":[1,2,{"y":true,"b":false}],"m":{"k":"v"}}'


def test_null_members_are_dropped_at_every_depth_but_nulls_in_arrays_stay():
    payload = {"a": None, "b": {"c": None, "d": 1}, "e": [None, {"f": None}, [None]], "g": None}
    assert canonical_json(payload) == '{"b":{"d":1},"e":[null,{},[null]]}'


def test_object_of_only_nulls_is_empty():
    assert canonical_json({"a": None}) == "{}"
    assert canonical_json([]) == "[]"


def test_keys_are_escaped_like_values():
    assert canonical_json({'a"<b': 1, "名字": 2}) == '{"a\\"\\u003cb":1,"名字":2}'


def test_tuples_are_arrays():
    assert canonical_json({"t": (1, "x")}) == '{"t":[1,"x"]}'


def test_unknown_types_are_refused():
    with pytest.raises(TypeError):
        canonical_json({"when": object()})


# --- canonical_json: numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (-7, "-7"),
        (2**31, "2147483648"),  # beyond 32 bits: Jackson reads a Long
        (12345678901, "12345678901"),
        (2**63, "9223372036854775808"),  # beyond 64 bits: Jackson reads a BigInteger
        (-(2**70), "-1180591620717411303424"),
        (True, "true"),
        (False, "false"),
    ],
)
def test_integers_and_booleans(value, expected):
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Java's Double.toString: plain between 10^-3 and 10^7, else computerized scientific notation.
        (1.5, "1.5"),
        (100000.0, "100000.0"),
        (1.0, "1.0"),
        (0.1, "0.1"),
        (0.001, "0.001"),
        (9999999.0, "9999999.0"),
        (9999999.5, "9999999.5"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (1.2345e-4, "1.2345E-4"),
        (0.000999, "9.99E-4"),
        (1e22, "1.0E22"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (-2.5e-10, "-2.5E-10"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (-1.5, "-1.5"),
        (3.14159, "3.14159"),
    ],
)
def test_floats_as_java_double_to_string(value, expected):
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused(value):
    with pytest.raises(ValueError, match="NaN and infinities cannot be sent in JSON"):
        canonical_json({"x": [value]})


# --- sign / verify -------------------------------------------------------------------------------


def _expected_signature(stripped: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), stripped.encode(), hashlib.sha256).hexdigest()


def test_sign_is_lowercase_hex_hmac_sha256_of_the_stripped_body():
    body = '{"name":"张 三","note":"a\tb\nc"}'
    signature = sign(body, SECRET)
    assert signature == _expected_signature('{"name":"张三","note":"abc"}')
    assert len(signature) == 64
    assert signature == signature.lower()


def test_sign_accepts_bytes_like_text():
    body = '{"name":"张 三"}'
    assert sign(body.encode(), SECRET) == sign(body, SECRET)


def test_only_java_ascii_whitespace_is_stripped():
    # Java's \s is [ \t\n\x0B\f\r]: U+3000 (ideographic space), NBSP and U+2028 stay in what is signed.
    body = "a b\t\n\x0b\f\rc\u3000d\u00a0e\u2028f"
    assert sign(body, SECRET) == _expected_signature("abc\u3000d\u00a0e\u2028f")
    assert sign(body, SECRET) != sign("abcdef", SECRET)


def test_whitespace_placement_does_not_change_the_signature():
    compact = canonical_json({"a": "x y", "b": [1, 2]})
    spaced = '{ "a" : "x y" ,\n "b" : [ 1 , 2 ] }'
    assert sign(compact, SECRET) == sign(spaced, SECRET)


def test_verify_accepts_the_signature_in_any_case_and_padded():
    body = canonical_json({"中文": "值"})
    signature = sign(body, SECRET)
    assert verify(body, signature, SECRET)
    assert verify(body, signature.upper(), SECRET)
    assert verify(body, f" {signature}\n", SECRET)


@pytest.mark.parametrize("signature", ["", None, "0" * 64, "nothex"])
def test_verify_refuses_wrong_or_missing_signatures(signature):
    assert not verify('{"a":1}', signature, SECRET)


def test_verify_refuses_another_secret():
    body = '{"a":1}'
    assert not verify(body, sign(body, SECRET), SECRET + "x")


# --- Property-based: the canonical form round-trips ----------------------------------------------

# Text a receiver can get: any Unicode scalar value (no lone surrogates, which UTF-8 cannot carry).
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
payloads = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=25,
)


def _without_null_members(value):
    if isinstance(value, dict):
        return {k: _without_null_members(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_null_members(v) for v in value]
    return value


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_canonical_json_parses_back_to_the_payload_without_null_members(payload):
    text = canonical_json(payload)
    assert json.loads(text) == _without_null_members(payload)
    # Nothing a JSON parser could read differently: no raw control characters or HTML-unsafe ones.
    assert not any(ch in text for ch in "<>&='\u2028\u2029")
    assert all(ord(ch) >= 0x20 for ch in text)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_canonical_json_is_a_fixed_point_of_a_json_round_trip(payload):
    text = canonical_json(payload)
    assert canonical_json(json.loads(text)) == text


@settings(max_examples=200, deadline=None)
@given(payloads, st.text(min_size=1, max_size=16), st.data())
def test_signature_verifies_and_any_one_character_change_fails(payload, secret, data):
    body = canonical_json(payload)
    signature = sign(body, secret)
    assert verify(body, signature, secret)
    # Change one non-whitespace character (whitespace changes are meant not to count).
    positions = [i for i, ch in enumerate(body) if ch not in " \t\n\x0b\f\r"]
    if not positions:
        return
    index = data.draw(st.sampled_from(positions))
    replacement = data.draw(
        st.characters(exclude_categories=("Cs",)).filter(lambda ch: ch != body[index] and ch not in " \t\n\x0b\f\r")
    )
    tampered = body[:index] + replacement + body[index + 1 :]
    assert not verify(tampered, signature, secret)
