"""The optional `config` object: service mode and webhook settings, always echoed in full."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import assert_invalid, body, parse

DEFAULT_CONFIG = {"service_mode": "", "webhook_config": {"endpoint": "", "secret": ""}}


def with_config(config: object) -> dict[str, Any]:
    request = body()
    request["config"] = config
    return request


def test_absent_config_echoes_the_defaults() -> None:
    assert parse(body()).config_echo == DEFAULT_CONFIG


@pytest.mark.parametrize(
    "config",
    [
        None,
        {},
        {"service_mode": None},
        {"webhook_config": None},
        {"webhook_config": {}},
        {"webhook_config": {"endpoint": None, "secret": None}},
    ],
)
def test_empty_or_null_config_parts_echo_the_defaults(config: object) -> None:
    assert parse(with_config(config)).config_echo == DEFAULT_CONFIG


def test_full_config_is_echoed_and_unknown_keys_dropped() -> None:
    config = {
        "service_mode": "private",
        "webhook_config": {"endpoint": "https://hooks.example.com/ace?x=1", "secret": "s3cret!", "extra": 1},
        "other": True,
    }
    command = parse(with_config(config))
    assert command.config_echo == {
        "service_mode": "private",
        "webhook_config": {"endpoint": "https://hooks.example.com/ace?x=1", "secret": "s3cret!"},
    }
    assert (command.service_mode, command.webhook_endpoint, command.webhook_secret) == (
        "private",
        "https://hooks.example.com/ace?x=1",
        "s3cret!",
    )


@pytest.mark.parametrize("mode", ["", "public", "private"])
def test_service_mode_values_are_echoed(mode: str) -> None:
    assert parse(with_config({"service_mode": mode})).config_echo["service_mode"] == mode


@pytest.mark.parametrize(
    ("mode", "shown"), [("Public", '"Public"'), ("shared", '"shared"'), (1, "1"), (False, "false")]
)
def test_service_mode_must_be_empty_public_or_private(mode: object, shown: str) -> None:
    assert_invalid(
        with_config({"service_mode": mode}),
        "config.service_mode",
        f'must be one of "", "public", "private"; got {shown}',
    )


@pytest.mark.parametrize("config", ["private", ["x"], 0])
def test_config_must_be_an_object(config: object) -> None:
    assert_invalid(with_config(config), "config", "must be an object")


@pytest.mark.parametrize("webhook", ["https://h.example", [], 1])
def test_webhook_config_must_be_an_object(webhook: object) -> None:
    assert_invalid(with_config({"webhook_config": webhook}), "config.webhook_config", "must be an object")


@pytest.mark.parametrize(
    "endpoint",
    ["https://hooks.example.com/a", "http://localhost:9000/hook", "HTTP://EXAMPLE.com", "https://[::1]:8443/x"],
)
def test_webhook_endpoint_accepts_absolute_http_urls(endpoint: str) -> None:
    assert parse(with_config({"webhook_config": {"endpoint": endpoint}})).webhook_endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("hooks.example.com/a", 'must be "" or an absolute http(s) URL; got "hooks.example.com/a"'),
        ("/relative/path", "absolute http(s) URL"),
        ("ftp://example.com/x", "absolute http(s) URL"),
        ("https://", "absolute http(s) URL"),
        ("https://exa mple.com", "without spaces or control characters"),
        (" https://example.com", "without spaces or control characters"),
        ("https://example.com/" + "x" * 2029, "at most 2048 characters; got 2049"),
        (5, 'must be a string: "" or an absolute http(s) URL; got 5'),
    ],
)
def test_webhook_endpoint_must_be_empty_or_an_absolute_http_url(endpoint: object, fragment: str) -> None:
    assert_invalid(with_config({"webhook_config": {"endpoint": endpoint}}), "config.webhook_config.endpoint", fragment)


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        (123, "must be a string; got 123"),
        ("line\nbreak", "must be printable ASCII"),
        ("tab\there", "must be printable ASCII"),
        ("naïve", "must be printable ASCII"),
        (" padded", "without leading or trailing spaces"),
        ("x" * 1025, "must be at most 1024 characters; got 1025"),
    ],
)
def test_webhook_secret_must_be_safe_to_send_as_a_header(secret: object, fragment: str) -> None:
    assert_invalid(with_config({"webhook_config": {"secret": secret}}), "config.webhook_config.secret", fragment)


def test_webhook_secret_keeps_inner_spaces_and_symbols() -> None:
    secret = "a b~!@#$%^&*()_+{}|:<>?"
    assert parse(with_config({"webhook_config": {"secret": secret}})).webhook_secret == secret
