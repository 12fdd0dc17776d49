"""How a field of a request model is declared: ``field(...)`` with its bounds, default, description,
aliases and echo rule; the kinds of field that need a reader of their own; and the JSON schema polish
that makes a model's schema say exactly what the parser (``domain/inputs.py``) takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticUndefined, core_schema

from aceserve.domain.inputs_fields import any_case_pattern
from aceserve.domain.text import NON_BLANK_TEXT_PATTERN, TEXT_PATTERN, check_text

# An absolute http(s) URL with a host name or IPv4 address (the server also takes IPv6 literals), a
# port from 1 to 65535, and no spaces or control characters.
_URL_CHAR = r"[^\s\x00-\x1f\x7f-\x9f]"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
HTTP_URL_PATTERN = (
    rf"[Hh][Tt][Tt][Pp][Ss]?://(?:[^\s\x00-\x1f\x7f-\x9f/?#@\[\]]+@)?[A-Za-z0-9][A-Za-z0-9.-]*(?::{_PORT})?"
    rf"(?:[/?#]{_URL_CHAR}*)?"
)
_DATA_URI_PATTERN = (
    r"[Dd][Aa][Tt][Aa]:(?:[Aa][Uu][Dd][Ii][Oo]/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*|application/octet-stream)"
    r"(?:;[^,;]*)*;[Bb][Aa][Ss][Ee]64,[\sA-Za-z0-9+/_-]*=*\s*"
)
_BASE64_PATTERN = r"\s*[A-Za-z0-9+/_-][\sA-Za-z0-9+/_-]*=*\s*"
AUDIO_SOURCE_PATTERN = f"^(?:{HTTP_URL_PATTERN}|{_DATA_URI_PATTERN}|{_BASE64_PATTERN})$"
# Printable ASCII without surrounding spaces: it is sent as an HTTP header.
HEADER_VALUE_PATTERN = r"^(?:[!-~](?:[ -~]*[!-~])?)?$"

Number = int | float
"""A JSON number: echoed as given (``30`` stays ``30``, ``30.0`` stays ``30.0``)."""

Echo = Literal["always", "given"]


# --- Field kinds that need more than a type and bounds ---------------------------------------------


@dataclass(frozen=True)
class AudioSourceKind:
    """An audio input: an http(s) URL, a ``data:`` URI or raw base64 (decoded at create)."""


@dataclass(frozen=True)
class TextKind:
    """Client text (prompts, lyrics): the text rule of ``domain/text.py``, checked by the parser and
    by the model (a stored input that breaks it does not load), and shown as the schema's ``pattern``.
    ``non_blank``: at least one character that is not white space."""

    non_blank: bool = False

    def check(self, value: str) -> str:
        check_text(value)
        if self.non_blank and not value.strip():
            raise ValueError("must not be empty or only white space")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = NON_BLANK_TEXT_PATTERN if self.non_blank else TEXT_PATTERN
        return json_schema


TEXT = TextKind()
NON_BLANK_TEXT = TextKind(non_blank=True)


@dataclass(frozen=True)
class WebhookUrlKind:
    """``""`` or an absolute http(s) URL."""


@dataclass(frozen=True)
class HeaderValueKind:
    """Printable ASCII without surrounding spaces (sent verbatim as an HTTP header)."""


@dataclass(frozen=True)
class EchoOnlyKind:
    """A field this task type does not use but echoes as its default; a given value is ignored."""


AUDIO_SOURCE = AudioSourceKind()
AudioSource = Annotated[str, AUDIO_SOURCE]


def field(
    default: Any = PydanticUndefined,
    *,
    description: str,
    echo: Echo = "always",
    aliases: Sequence[str] = (),
    unit: str = "",
    any_case: type[StrEnum] | None = None,
    schema_pattern: str | None = None,
    examples: Sequence[Any] | None = None,
    rule: str = "",
    **constraints: Any,
) -> Any:
    """A field of a task input model: its description, bounds and default, and how it is read and echoed.

    ``echo="given"`` marks an [ext] field: the echo shows it only when the client gave it.
    ``aliases`` are other names accepted on input (the echo uses the field's name). ``unit`` words
    range messages ("between 1 and 600 seconds"). ``any_case`` accepts an enum value in any letter
    case and lowercases it. ``schema_pattern`` documents a rule that the field's reader checks
    (the value stored may then differ: an inline audio field holds its stored file's path). ``rule``
    words what a string field's ``pattern`` constraint asks for, in the 400 a mismatch gets.
    """
    extra: dict[str, Any] = {}
    notes = []
    if aliases:
        extra["x-aliases"] = list(aliases)
        notes.append("Alias on input: " + ", ".join(f"`{alias}`" for alias in aliases) + ".")
    if unit:
        extra["x-unit"] = unit
    if echo == "given":
        extra["x-echo"] = "when-given"
    if any_case is not None:
        extra["x-any-case"] = f"^{any_case_pattern(member.value for member in any_case)}$"
    if schema_pattern is not None:
        extra["pattern"] = schema_pattern
    if rule:
        extra["x-rule"] = rule
    text = " ".join([description, *notes])
    return Field(
        default,
        description=text,
        json_schema_extra=extra or None,
        examples=list(examples) if examples is not None else None,
        **constraints,
    )


def field_extra(info: Any) -> dict[str, Any]:
    """The aceserve keys (``x-aliases``, ``x-echo`` …) of a model field."""
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


# --- JSON schema polish ----------------------------------------------------------------------------

_BOUND_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
_INT_OR_NUMBER = [{"type": "integer"}, {"type": "number"}]


_ANNOTATIONS = {"title", "description", "default", "examples"}


def _tidy_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Make each property's schema say exactly what the parser takes, in plain JSON Schema.

    ``int | float`` becomes one ``number`` with ``minimum``/``maximum`` (pydantic writes a union with
    raw ``ge``/``le`` keys); a field that takes any letter case also matches a case-blind pattern;
    an optional field also takes ``null`` (the parser reads a null as an absent field).
    """
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        for node in [prop, *prop.get("anyOf", [])]:
            if node.get("anyOf") == _INT_OR_NUMBER:
                del node["anyOf"]
                node["type"] = "number"
            for raw, keyword in _BOUND_KEYWORDS.items():
                if raw in node:
                    node[keyword] = node.pop(raw)
        branches = prop.pop("anyOf", None)
        if branches is None:
            core = [key for key in prop if key not in _ANNOTATIONS and not key.startswith("x-")]
            branches = [{key: prop.pop(key) for key in core}]
        if any_case := prop.get("x-any-case"):
            branches.insert(1, {"type": "string", "pattern": any_case})
        if name not in required and {"type": "null"} not in branches:
            branches.append({"type": "null"})
        if len(branches) == 1:
            prop.update(branches[0])
        else:
            prop["anyOf"] = branches
    last: frozenset[str] = getattr(model, "shown_last", frozenset())
    if last and "properties" in schema:  # e.g. a task type's own fields before those every type has
        order = sorted(schema["properties"], key=lambda name: name in last)
        schema["properties"] = {name: schema["properties"][name] for name in order}


class WireModel(BaseModel):
    """Frozen, strict, unknown keys ignored (the parser names them in the task's logs)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore", json_schema_extra=_tidy_schema)
    shown_last: ClassVar[frozenset[str]] = frozenset()
    """Fields the JSON schema lists after the others."""
