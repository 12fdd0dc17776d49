"""Audio fields: URL, data: URI or raw base64; decoding, limits, and the placeholder in the echo."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from aceserve.domain.inputs import InlineAudio, inline_audio_placeholder

from .helpers import assert_invalid, body, parse

AUDIO_FIELDS = [("audio2audio", "style_audio"), ("edit", "audio"), ("extend", "audio")]
# Bytes whose base64 uses '+' and '/' (so the URL-safe form differs) and needs padding.
PAYLOAD = b"ID3\x03\x00\xfb\xff\xfe\xfa\x00\x01"
STANDARD = base64.b64encode(PAYLOAD).decode()
URL_SAFE = base64.urlsafe_b64encode(PAYLOAD).decode()
FORMS_RULE = "must be an http(s) URL, a data: URI or base64-encoded audio"


def test_fixture_payload_exercises_both_alphabets_and_padding() -> None:
    assert STANDARD != URL_SAFE and STANDARD.endswith("=")


@pytest.mark.parametrize(("task_type", "name"), AUDIO_FIELDS)
def test_missing_audio_field_is_refused(task_type: str, name: str) -> None:
    request = body(task_type)
    del request["input"][name]
    assert_invalid(request, f"input.{name}", f'is required for task_type "{task_type}"')


@pytest.mark.parametrize(("task_type", "name"), AUDIO_FIELDS)
@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/in.mp3",
        "http://10.0.0.2:8080/a.wav?sig=abc&x=1#frag",
        "HTTPS://Example.COM/A.MP3",
        "https://user:pw@[2001:db8::1]/a.flac",
    ],
)
def test_url_audio_is_kept_in_the_echo_as_given(task_type: str, name: str, url: str) -> None:
    command = parse(body(task_type, **{name: url}))
    assert command.echo[name] == url
    assert command.inline_audio == {}


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://", "must be an absolute http(s) URL with a host"),
        ("https:///path/only.mp3", "with a host"),
        ("https://exa mple.com/a.mp3", "without spaces or control characters"),
        ("https://example.com/a\n.mp3", "without spaces or control characters"),
        ("https://[::1/a.mp3", "with a host"),
        ("https://example.com:99999/a.mp3", "with a host"),
        ("https://example.com/" + "a" * 2030, "must be a URL of at most 2048 characters; got 2050"),
    ],
)
def test_bad_url_audio_is_refused(url: str, fragment: str) -> None:
    assert_invalid(body("edit", audio=url), "input.audio", fragment)


def test_url_audio_of_exactly_2048_characters_is_accepted() -> None:
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    assert parse(body("edit", audio=url)).echo["audio"] == url


@pytest.mark.parametrize(("task_type", "name"), AUDIO_FIELDS)
@pytest.mark.parametrize(
    "encoded",
    [
        STANDARD,
        STANDARD.rstrip("="),
        URL_SAFE,
        URL_SAFE.rstrip("="),
        "\n".join([STANDARD[:4], STANDARD[4:8], STANDARD[8:]]),
        f"  {STANDARD}\r\n",
    ],
    ids=["standard", "standard-unpadded", "urlsafe", "urlsafe-unpadded", "line-broken", "surrounding-space"],
)
def test_raw_base64_audio_is_decoded_and_replaced_by_a_placeholder(task_type: str, name: str, encoded: str) -> None:
    command = parse(body(task_type, **{name: encoded}))
    assert command.inline_audio == {name: InlineAudio(data=PAYLOAD, mime_type=None)}
    assert command.echo[name] == inline_audio_placeholder(name)


@pytest.mark.parametrize(
    ("uri", "mime"),
    [
        (f"data:audio/mpeg;base64,{STANDARD}", "audio/mpeg"),
        (f"data:AUDIO/WAV;BASE64,{URL_SAFE}", "audio/wav"),
        (f"DATA:audio/x-flac;base64,{STANDARD.rstrip('=')}", "audio/x-flac"),
        (f"data:audio/ogg;codecs=opus;base64,{STANDARD}", "audio/ogg"),
        (f"data:application/octet-stream;base64,{STANDARD}", "application/octet-stream"),
        (f"data:audio/mp4;base64,\n{STANDARD}\n", "audio/mp4"),
    ],
)
def test_data_uri_audio_is_decoded_with_its_declared_type(uri: str, mime: str) -> None:
    command = parse(body("extend", audio=uri))
    assert command.inline_audio == {"audio": InlineAudio(data=PAYLOAD, mime_type=mime)}
    assert command.echo["audio"] == inline_audio_placeholder("audio")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        (f"data:text/plain;base64,{STANDARD}", 'with an audio/* or application/octet-stream type; got "text/plain"'),
        (f"data:video/mp4;base64,{STANDARD}", 'got "video/mp4"'),
        (f"data:application/json;base64,{STANDARD}", 'got "application/json"'),
        (f"data:;base64,{STANDARD}", 'with an audio/* or application/octet-stream type; got ""'),
        (f"data:audio/;base64,{STANDARD}", 'got "audio/"'),
        ("data:audio/mpeg,ID3%03", "must be a data: URI of the form data:<audio type>;base64,<payload>"),
        (f"data:audio/mpeg;base64{STANDARD}", "of the form"),
        ("data:audio/mpeg;base64,not*base64!", "must be a data: URI whose payload is valid base64"),
        ("data:audio/mpeg;base64,", "must not be empty once decoded; got 0 bytes"),
    ],
)
def test_bad_data_uri_audio_is_refused(uri: str, fragment: str) -> None:
    assert_invalid(body("edit", audio=uri), "input.audio", fragment)


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        "abcde",  # one character past a whole group can never be base64
        "QUJD=A==",  # padding in the middle
        "QUJDRA===",  # too much padding
        "QUJDR===",
        "ftp://example.com/a.mp3",
        "file:///etc/passwd",
        "example.com/a.mp3",
        "s3://bucket/key.mp3",
        "====",
    ],
)
def test_text_that_is_no_url_data_uri_or_base64_is_refused(value: str) -> None:
    assert_invalid(body("audio2audio", style_audio=value), "input.style_audio", FORMS_RULE)


@pytest.mark.parametrize(("value", "shown"), [(3, "got 3"), ({"url": "x"}, "got an object"), (True, "got true")])
def test_non_string_audio_is_refused(value: object, shown: str) -> None:
    assert_invalid(body("edit", audio=value), "input.audio", f"{FORMS_RULE}; {shown}")


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_blank_audio_is_refused(value: str) -> None:
    assert_invalid(body("edit", audio=value), "input.audio", "must not be empty")


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def as_data_uri(data: bytes) -> str:
    return "data:audio/wav;base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize("encode", [as_base64, as_data_uri])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 99, 100])
def test_decoded_audio_up_to_the_limit_is_accepted(encode: Callable[[bytes], str], size: int) -> None:
    data = bytes(range(size))
    command = parse(body("edit", audio=encode(data)), max_inline_audio_bytes=100)
    assert command.inline_audio["audio"].data == data


@pytest.mark.parametrize(
    "encoded", [base64.b64encode(b"x" * 101).decode(), base64.b64encode(b"x" * 102).decode().rstrip("=")]
)
@pytest.mark.parametrize("wrap", [str, lambda text: f"data:audio/wav;base64,{text}"])
def test_decoded_audio_over_the_limit_is_refused_naming_the_limit(encoded: str, wrap: Callable[[str], str]) -> None:
    assert_invalid(
        body("edit", audio=wrap(encoded)),
        "input.audio",
        "must be at most 100 bytes once decoded; got 10",
        max_inline_audio_bytes=100,
        status=413,
    )


def test_default_limit_is_50_mib() -> None:
    just_over = "A" * ((50 * 1024 * 1024 // 3 + 1) * 4)
    assert_invalid(body("edit", audio=just_over), "input.audio", "must be at most 52428800 bytes (50 MiB)", status=413)


def test_placeholder_cannot_be_sent_as_input() -> None:
    assert_invalid(body("edit", audio=inline_audio_placeholder("audio")), "input.audio", FORMS_RULE)
