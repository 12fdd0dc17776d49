"""A crafted file that crashes the audio decoder while the API measures it fails its own request with
a 400 naming the field; the API process and every later request carry on.

The API's prober is swapped for one whose real helper processes run ``tests.media.test_probing``'s
``misbehave`` target (a segfault when the data ends with its marker, a real probe otherwise), since no
known file crashes today's FFmpeg.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from aceserve.media.probing import IsolatedProber
from tests.api.server import RunningServer
from tests.media.test_probing import SEGFAULT, misbehave

CRASHED = "could not be decoded: the audio decoder crashed on this file"


@pytest.fixture
def crashing_api(api_server: RunningServer) -> Iterator[RunningServer]:
    submitter = api_server.app.state.services.submitter
    real = submitter.prober
    submitter.prober = IsolatedProber(processes=1, timeout_seconds=30, _target=misbehave)
    try:
        yield api_server
    finally:
        submitter.prober.close()
        submitter.prober = real


def upload(server: RunningServer, data: bytes) -> tuple[int, dict[str, object]]:
    response = server.client.post(
        "/api/ephemeral_resource", json={"file_name": "take.wav", "file_data": base64.b64encode(data).decode()}
    )
    return response.status_code, response.json()


def test_an_upload_that_crashes_the_decoder_is_a_400_and_the_next_one_works(
    crashing_api: RunningServer, wav_bytes: bytes
) -> None:
    status, body = upload(crashing_api, wav_bytes + SEGFAULT)
    assert status == 400 and body["message"] == f"`file_data` {CRASHED}", body
    status, body = upload(crashing_api, wav_bytes)
    assert status == 200, body


def test_inline_audio_that_crashes_the_decoder_is_a_400_naming_the_field(
    crashing_api: RunningServer, wav_bytes: bytes
) -> None:
    def create(data: bytes) -> tuple[int, dict[str, object]]:
        body = {
            "model": "Qubico/ace-step",
            "task_type": "extend",
            "input": {"audio": base64.b64encode(data).decode(), "style_prompt": "jazz"},
        }
        response = crashing_api.client.post("/api/v1/task", json=body)
        return response.status_code, response.json()

    status, body = create(wav_bytes + SEGFAULT)
    assert status == 400 and body["message"] == f"`input.audio` {CRASHED}", body
    status, body = create(wav_bytes)
    assert status == 200, body
