"""A bulk file read into create bodies, one per line, each with its line number.

JSONL: one JSON object per line, either a whole create body (it has an ``input`` object) or just the
``input`` (its task type from a ``task_type`` key, else the default). Blank lines are skipped.
CSV: a header row naming input fields (and optionally ``task_type``), then one task per row; each cell
is read as the input model's field type (numbers, true/false), empty cells are left out.

A line that cannot be read becomes a ``BadLine`` with its number and the reason; it never stops the
others. Whether a body is a valid task is the server's to say.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aceserve.domain.inputs_models import INPUT_MODELS
from aceserve.domain.states import MODEL_NAME, TaskType


@dataclass(frozen=True)
class BulkLine:
    line: int
    """1-based line number in the file (for CSV, the row's first line)."""
    body: dict[str, Any]
    """The create body (``model``, ``task_type``, ``input``, maybe ``config``)."""
    idempotency_key: str
    """Derived from the file's name, the line number and the line's text: a rerun creates nothing new."""

    @property
    def input(self) -> dict[str, Any]:
        value = self.body.get("input")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str


Parsed = BulkLine | BadLine


def read_bulk_file(path: Path, *, default_task_type: TaskType = TaskType.TXT2AUDIO) -> list[Parsed]:
    """Every task line of the file, in order. Raises ``ValueError`` when the file as a whole is unreadable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text: {exc}") from exc
    if path.suffix.lower() == ".csv":
        return parse_csv(text, name=path.name, default_task_type=default_task_type)
    return parse_jsonl(text, name=path.name, default_task_type=default_task_type)


def parse_jsonl(text: str, *, name: str, default_task_type: TaskType = TaskType.TXT2AUDIO) -> list[Parsed]:
    parsed: list[Parsed] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            parsed.append(BadLine(number, f"not JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(value, dict):
            parsed.append(
                BadLine(number, f"must be a JSON object (a create body or its input); got {raw.strip()[:60]}")
            )
            continue
        parsed.append(_line(number, raw, name, _as_body(value, default_task_type)))
    return parsed


def parse_csv(text: str, *, name: str, default_task_type: TaskType = TaskType.TXT2AUDIO) -> list[Parsed]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    parsed: list[Parsed] = []
    for cells in reader:
        number = reader.line_num  # the line the row ends on
        if header is None:
            header = [cell.strip() for cell in cells]
            if not any(header):
                header = None  # leading blank lines
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            parsed.append(BadLine(number, f"has {len(cells)} cells but the header names {len(header)} columns"))
            continue
        row = {column: cell for column, cell in zip(header, cells, strict=False) if column and cell != ""}
        task_type = _task_type(row.pop("task_type", None), default_task_type)
        fields = {column: _cell(task_type, column, cell) for column, cell in row.items()}
        body = {"model": MODEL_NAME, "task_type": task_type, "input": fields}
        parsed.append(_line(number, ",".join(cells), name, body))
    return parsed


def _as_body(value: dict[str, Any], default_task_type: TaskType) -> dict[str, Any]:
    if isinstance(value.get("input"), dict):
        return {"model": MODEL_NAME, "task_type": default_task_type.value, **value}
    fields = dict(value)
    task_type = fields.pop("task_type", None)
    return {
        "model": MODEL_NAME,
        "task_type": task_type if isinstance(task_type, str) else default_task_type.value,
        "input": fields,
    }


def _task_type(value: str | None, default: TaskType) -> str:
    return value.strip() if value and value.strip() else default.value


def _cell(task_type: str, column: str, cell: str) -> Any:
    """A CSV cell as the field's JSON type, where the cell reads as one; else the text (the server then
    says what is wrong with it)."""
    kinds = _field_kinds(task_type).get(column, frozenset({"string"}))
    text = cell.strip()
    if "boolean" in kinds and text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if "integer" in kinds:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in kinds:
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    return cell


_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


@functools.cache
def _field_kinds(task_type: str) -> dict[str, frozenset[str]]:
    """The JSON types each input field of a task type takes, from its model's schema (with aliases)."""
    try:
        model = INPUT_MODELS[TaskType(task_type)]
    except ValueError:
        return {}
    kinds: dict[str, frozenset[str]] = {}
    for name, prop in model.model_json_schema()["properties"].items():
        found = frozenset(_types(prop))
        kinds[name] = found
        for alias in prop.get("x-aliases", []):
            kinds[alias] = found
    return kinds


def _types(node: Any) -> list[str]:
    if isinstance(node, list):
        return [kind for item in node for kind in _types(item)]
    if not isinstance(node, dict):
        return []
    found = [node["type"]] if isinstance(node.get("type"), str) else []
    for key in ("anyOf", "oneOf", "allOf"):
        found += _types(node.get(key))
    return found


def _line(number: int, raw: str, name: str, body: dict[str, Any]) -> BulkLine:
    digest = hashlib.sha256(f"{name}\n{number}\n{raw.strip()}".encode()).hexdigest()
    return BulkLine(number, body, f"bulk-{digest[:48]}")
