"""Reading a bulk file: JSONL and CSV into create bodies with line numbers and stable idempotency keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from aceserve.bulk.manifest import COMPLETED, Entry, Manifest, is_done
from aceserve.bulk.parse import BadLine, BulkLine, parse_csv, parse_jsonl, read_bulk_file
from aceserve.bulk.run import check_name_template, slug
from aceserve.domain.states import TaskType

JSONL = """{"style_prompt": "lofi", "duration": 5}

{"model": "Qubico/ace-step", "task_type": "extend", "input": {"audio": "https://x/a.mp3", "style_prompt": "rock"}}
{"style_prompt": "jazz", oops}
["not", "an", "object"]
{"task_type": "audio2audio", "style_audio": "https://x/b.mp3", "style_prompt": "folk"}
"""


def good(parsed: list[BulkLine | BadLine]) -> list[BulkLine]:
    return [line for line in parsed if isinstance(line, BulkLine)]


def test_jsonl_lines_are_bodies_or_inputs_and_bad_ones_say_their_line() -> None:
    parsed = parse_jsonl(JSONL, name="list.jsonl")
    assert [line.line for line in parsed] == [1, 3, 4, 5, 6]
    first, extend, syntax, array, restyle = parsed
    assert isinstance(first, BulkLine) and first.body == {
        "model": "Qubico/ace-step",
        "task_type": "txt2audio",
        "input": {"style_prompt": "lofi", "duration": 5},
    }
    assert isinstance(extend, BulkLine) and extend.body["task_type"] == "extend"
    assert extend.input == {"audio": "https://x/a.mp3", "style_prompt": "rock"}
    assert isinstance(syntax, BadLine) and syntax.error.startswith("not JSON: ")
    assert isinstance(array, BadLine) and "must be a JSON object" in array.error
    assert isinstance(restyle, BulkLine) and restyle.body["task_type"] == "audio2audio"
    assert "task_type" not in restyle.input


def test_the_default_task_type_applies_to_lines_that_name_none() -> None:
    (line,) = good(
        parse_jsonl('{"audio": "https://x/a.mp3", "style_prompt": "s"}', name="f", default_task_type=TaskType.EXTEND)
    )
    assert line.body["task_type"] == "extend"


def test_idempotency_keys_depend_on_file_name_line_and_text_only() -> None:
    keys = [line.idempotency_key for line in good(parse_jsonl(JSONL, name="list.jsonl"))]
    assert keys == [line.idempotency_key for line in good(parse_jsonl(JSONL, name="list.jsonl"))]
    assert len(set(keys)) == len(keys) and all(key.startswith("bulk-") and len(key) <= 255 for key in keys)
    assert keys[0] not in {line.idempotency_key for line in good(parse_jsonl(JSONL, name="other.jsonl"))}
    edited = JSONL.replace('"duration": 5', '"duration": 6')
    assert good(parse_jsonl(edited, name="list.jsonl"))[0].idempotency_key != keys[0]
    assert [line.idempotency_key for line in good(parse_jsonl(edited, name="list.jsonl"))][1:] == keys[1:]


def test_csv_cells_take_the_input_fields_types_and_empty_cells_are_left_out() -> None:
    text = (
        "style_prompt,duration,seed,thinking,time_signature,lyrics,guidance_scale,task_type,infer_step\n"
        'synthwave,12.5,42,true,3,"[verse]\nneon, lights",7,,8\n'
        "jazz,ten,,no,,,,txt2audio,\n"
        "only,one,too,many,cells,here,x,y,z,w\n"
    )
    first, second, bad = parse_csv(text, name="list.csv")
    assert isinstance(first, BulkLine) and first.line == 3  # the quoted lyrics span lines 2 and 3
    assert first.input == {
        "style_prompt": "synthwave",
        "duration": 12.5,
        "seed": 42,
        "thinking": True,
        "time_signature": 3,
        "lyrics": "[verse]\nneon, lights",
        "guidance_scale": 7,
        "infer_step": 8,
    }
    assert isinstance(second, BulkLine) and second.input == {
        "style_prompt": "jazz",
        "duration": "ten",
        "thinking": False,
    }
    assert isinstance(bad, BadLine) and bad.line == 5 and "10 cells" in bad.error


def test_a_file_is_read_by_its_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("style_prompt\nrock\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text('{"style_prompt": "rock"}\n', encoding="utf-8")
    assert [line.input for line in good(read_bulk_file(tmp_path / "a.csv"))] == [{"style_prompt": "rock"}]
    assert [line.input for line in good(read_bulk_file(tmp_path / "a.jsonl"))] == [{"style_prompt": "rock"}]
    (tmp_path / "b.jsonl").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_bulk_file(tmp_path / "b.jsonl")


def test_the_manifest_survives_a_reload_and_knows_what_is_done(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "manifest.jsonl")
    manifest.record(2, task_id="t2", status="processing", idempotency_key="k2")
    manifest.record(1, task_id="t1", status=COMPLETED, output="001.mp3", idempotency_key="k1")
    reloaded = Manifest.load(tmp_path / "manifest.jsonl")
    assert reloaded.entries() == [
        Entry(1, "t1", COMPLETED, "001.mp3", None, "k1"),
        Entry(2, "t2", "processing", None, None, "k2"),
    ]
    assert not is_done(reloaded.get(1), "k1", tmp_path)  # its file is missing
    (tmp_path / "001.mp3").write_bytes(b"x")
    assert is_done(reloaded.get(1), "k1", tmp_path) and not is_done(reloaded.get(1), "edited", tmp_path)
    assert not is_done(reloaded.get(2), "k2", tmp_path)


def test_name_templates_make_plain_file_names() -> None:
    check_name_template("{line:03d}-{slug}-{seed}.{ext}")
    for template in ("{nope}.mp3", "{line}/{slug}.mp3", "{0}"):
        with pytest.raises(ValueError, match="name template"):
            check_name_template(template)
    assert slug({"style_prompt": "Upbeat Synth-Pop, 120 BPM!"}) == "upbeat-synth-pop-120-bpm"
    assert slug({"audio": "x"}) == "untitled"
