"""Compare the planner's prompts, chain of thought, parser and value sets with ACE-Step 1.5's own code.

    make upstream-check ACESTEP_SRC=/path/to/ACE-Step-1.5      (a checkout; nothing is downloaded)
    python bench/upstream_check.py --src /path/to/ACE-Step-1.5

Opt-in and offline: upstream's package needs a GPU stack to import, so this reads the few pure
functions it needs straight out of the checkout's source (``acestep/llm_inference.py``,
``acestep/constrained_logits_processor.py``, ``acestep/constants.py``), runs them on a stand-in
handler that carries the tiny LM's tokenizer, and compares what they return with aceserve's
``engine/planner`` for the same inputs. Nothing of upstream is copied into aceserve; the checkout is
only executed here. Prints one line per check and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from aceserve.domain import music
from aceserve.engine.planner import prompts
from aceserve.engine.planner.parse import parse_metadata
from aceserve.engine.planner.tiny_lm import build_tokenizer

CAPTIONS = ["calm piano", "A gentle acoustic ballad with fingerpicked guitar, soft strings and a warm female vocal."]
LYRICS = ["[Instrumental]", "[verse]\nrain on the window\n[chorus]\nstay, stay"]
METADATA: list[dict[str, Any]] = [
    {"bpm": 120, "caption": "calm piano", "duration": 30, "keyscale": "C major", "language": "en", "timesignature": 4},
    {
        "bpm": 72,
        "caption": CAPTIONS[1],
        "duration": 215,
        "keyscale": "B♭ major",
        "language": "ja",
        "timesignature": "3",
    },
    {"bpm": 96, "duration": 12, "keyscale": "F# minor", "timesignature": "6/4"},
]


def _functions(source: str, owner: str, names: set[str]) -> str:
    """The source of methods ``names`` of class ``owner`` in ``source``, dedented to module level."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == owner:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in names:
                    start = min([d.lineno for d in item.decorator_list] + [item.lineno]) - 1
                    found.append(textwrap.dedent("\n".join(lines[start : item.end_lineno])))
    missing = names - {re.search(r"def (\w+)", f).group(1) for f in found}  # type: ignore[union-attr]
    if missing:
        raise SystemExit(f"upstream's {owner} has no {sorted(missing)}: this checkout is not one this check knows")
    return "\n\n".join(found)


def upstream(src: Path, tokenizer: Any) -> tuple[Any, dict[str, Any]]:
    """A stand-in for upstream's LLM handler with its prompt, chain-of-thought and parse methods."""
    package = src / "acestep"
    constants: dict[str, Any] = {}
    exec(compile((package / "constants.py").read_text(), "acestep/constants.py", "exec"), constants)
    handler_source = _functions(
        (package / "llm_inference.py").read_text(),
        "LLMHandler",
        {
            "_has_meaningful_negative_prompt",
            "build_formatted_prompt",
            "build_formatted_prompt_with_cot",
            "build_formatted_prompt_for_inspiration",
            "_format_metadata_as_cot",
            "parse_lm_output",
            "_extract_lyrics_from_output",
        },
    )
    caption_source = _functions(
        (package / "constrained_logits_processor.py").read_text(),
        "MetadataConstrainedLogitsProcessor",
        {"postprocess_caption"},
    )
    namespace: dict[str, Any] = {**constants, "logger": _Silent()}
    exec("import re, yaml\nfrom typing import *\n", namespace)
    exec("class MetadataConstrainedLogitsProcessor:\n" + textwrap.indent(caption_source, "    "), namespace)
    exec("class Handler:\n" + textwrap.indent(handler_source, "    "), namespace)
    handler = namespace["Handler"]()
    handler.llm_tokenizer = tokenizer
    return handler, constants


class _Silent:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, required=True, help="an ACE-Step 1.5 checkout")
    args = parser.parse_args(argv)
    tokenizer = build_tokenizer()
    theirs, constants = upstream(args.src, tokenizer)
    ours = prompts.Renderer(tokenizer)
    failures = 0

    def check(name: str, mine: object, upstream_value: object) -> None:
        nonlocal failures
        same = mine == upstream_value
        failures += not same
        print(f"{'ok  ' if same else 'DIFF'} {name}")
        if not same:
            print(f"     aceserve: {mine!r}\n     upstream: {upstream_value!r}")

    check("vocal languages", list(music.VOCAL_LANGUAGES), constants["VALID_LANGUAGES"])
    check("keys", set(music.KEY_SCALES), constants["VALID_KEYSCALES"])
    check("bpm range", (music.MIN_BPM, music.MAX_BPM), (constants["BPM_MIN"], constants["BPM_MAX"]))
    check(
        "durations",
        (music.MIN_PLAN_SECONDS, music.MAX_PLAN_SECONDS),
        (constants["DURATION_MIN"], constants["DURATION_MAX"]),
    )
    check("time signatures", list(music.TIME_SIGNATURES), constants["VALID_TIME_SIGNATURES"])
    check("LM instruction", prompts.LM_INSTRUCTION, constants["DEFAULT_LM_INSTRUCTION"])
    check("inspiration instruction", prompts.INSPIRATION_INSTRUCTION, constants["DEFAULT_LM_INSPIRED_INSTRUCTION"])
    for caption in CAPTIONS:
        for lyrics in LYRICS:
            case = f"({caption[:12]!r}, {lyrics[:12]!r})"
            check(
                f"chain-of-thought prompt {case}",
                ours.opening(prompts.thought_messages(caption, lyrics)),
                theirs.build_formatted_prompt(caption, lyrics),
            )
            check(
                f"its unconditional prompt {case}",
                ours.opening(prompts.unconditional_thought_messages(lyrics)),
                theirs.build_formatted_prompt(caption, lyrics, is_negative_prompt=True, generation_phase="cot"),
            )
            for metadata in METADATA:
                thought = prompts.format_chain_of_thought(metadata)
                as_parsed = {
                    k: str(v) if k == "timesignature" else v for k, v in metadata.items()
                }  # as upstream parses
                check(f"chain of thought {metadata}", thought, theirs._format_metadata_as_cot(as_parsed))
                check(
                    f"codes prompt {case}",
                    ours.continuing(prompts.codes_messages(caption, lyrics, thought)),
                    theirs.build_formatted_prompt_with_cot(caption, lyrics, thought),
                )
                mine = parse_metadata(thought).fields()
                theirs_parsed, _ = theirs.parse_lm_output(thought)
                if "timesignature" in theirs_parsed:
                    theirs_parsed["timesignature"] = int(theirs_parsed["timesignature"])
                check(f"parsed back {metadata.get('keyscale')}", mine, theirs_parsed)
            check(
                f"codes unconditional prompt {case}",
                ours.continuing(prompts.unconditional_codes_messages(caption, lyrics)),
                theirs.build_formatted_prompt_with_cot(caption, lyrics, "", is_negative_prompt=True),
            )
    for query in ["a soft Bengali love song for a quiet evening", ""]:
        for instrumental in (False, True):
            check(
                f"inspiration prompt ({query[:12]!r}, instrumental={instrumental})",
                ours.opening(prompts.inspiration_messages(query or prompts.NO_INPUT, instrumental=instrumental)),
                theirs.build_formatted_prompt_for_inspiration(query or "NO USER INPUT", instrumental=instrumental),
            )
    print(f"{failures} difference(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
