"""`genie-lit play`: prompts from any image or video, scripted rollouts to mp4/PNG with the action
drawn on every frame, clear errors for bad input, and the browser server over HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from videos import decode_all, expected_mask, label_mask, moving_square_frames, write_video

from genie_lit.cli import main as cli_main
from genie_lit.media import encode_png
from genie_lit.media.frames import draw_label
from genie_lit.models import DynamicsModel
from genie_lit.nn import STTransformer
from genie_lit.play import PromptError, default_prompt, load_prompt, load_world
from genie_lit.play.scripted import ActionError, parse_actions
from genie_lit.play.server import MAX_BODY, PlayServer
from genie_lit.play.session import PlaySession, parse_keys


def write_image(path: Path, image: np.ndarray, codec: str, pix_fmt: str) -> Path:
    """One still image through FFmpeg's encoder for ``codec`` (png, mjpeg, bmp, libwebp)."""
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = image.shape[1], image.shape[0], pix_fmt
    in_format = {3: "rgb24", 4: "rgba"}[image.shape[-1]]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=in_format).reformat(format=pix_fmt)
    path.write_bytes(b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)]))
    return path


def play(*args: str) -> int:
    return cli_main(["play", *map(str, args)])


# ----------------------------------------------------------------------------- prompts
def test_load_prompt_reads_images_of_any_format_and_size(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for name, codec, pix_fmt, tolerance in [("a.png", "png", "rgb24", 0), ("a.bmp", "bmp", "bgr24", 0),
                                            ("a.jpg", "mjpeg", "yuvj444p", 60), ("a.webp", "libwebp", "yuv420p", 90)]:
        prompt = load_prompt(write_image(tmp_path / name, image, codec, pix_fmt))
        assert prompt.shape == (1, 37, 53, 3) and prompt.dtype == np.uint8, name
        assert np.abs(prompt[0].astype(int) - image).mean() <= tolerance, name


def test_load_prompt_composites_alpha_over_black_and_reads_the_first_frames_of_videos(tmp_path):
    rgba = np.full((16, 24, 4), 200, np.uint8)
    rgba[..., 3] = 255
    rgba[:, :8, 3] = 0  # transparent left third
    prompt = load_prompt(write_image(tmp_path / "sketch.png", rgba, "png", "rgba"))[0]
    assert (prompt[:, :8] == 0).all() and (prompt[:, 8:] == 200).all()

    frames, _ = moving_square_frames(10, 40, 72)
    video = write_video(tmp_path / "clip.mp4", frames)
    assert np.array_equal(load_prompt(video, 3), frames[:3])  # lossless: exactly the first 3 frames
    assert load_prompt(video, 50).shape == (10, 40, 72, 3)  # a short video gives what it has
    gif = write_video(tmp_path / "anim.gif", frames, fps=10, codec="gif", pix_fmt="rgb8", options={})
    assert load_prompt(gif, 4).shape == (4, 40, 72, 3)


def test_load_prompt_refuses_what_is_not_an_image_or_video(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("a shopping list, not a picture\n" * 20)
    with pytest.raises(PromptError, match=r"notes\.txt is not an image or a video.*PNG, JPEG"):
        load_prompt(text)
    with pytest.raises(PromptError, match="does not exist"):
        load_prompt(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(PromptError, match="empty.png"):
        load_prompt(tmp_path / "empty.png")


# ----------------------------------------------------------------------------- rendering
def test_the_action_label_is_drawn_with_the_bitmap_font():
    image = np.full((64, 64, 3), 90, np.uint8)
    labelled = draw_label(image, "37", cell=2)
    assert np.array_equal(label_mask(labelled, "37", 2), expected_mask("37", 2))
    assert np.array_equal(labelled[20:], image[20:]), "only the corner changes"
    assert not np.array_equal(label_mask(draw_label(image, "38", cell=2), "37", 2), expected_mask("37", 2))
    with pytest.raises(ValueError, match="no glyph"):
        draw_label(image, "x")


def dynamics_with(num_actions: int) -> DynamicsModel:
    """A tiny dynamics model: its check_actions is the one range check that play goes through."""
    return DynamicsModel(STTransformer(dim=8, depth=1, num_heads=1), vocab_size=4, grid=(1, 1),
                         num_actions=num_actions)


def test_parse_actions():
    eight, four = dynamics_with(8), dynamics_with(4)
    assert parse_actions("0,3,3,1", eight) == [0, 3, 3, 1]
    assert parse_actions("2*3, 5", eight) == [2, 2, 2, 5]
    drawn = parse_actions("1,random:20", four, seed=7)
    assert drawn == parse_actions("1,random:20", four, seed=7) and len(drawn) == 21 and set(drawn) <= {0, 1, 2, 3}
    for bad, message in [("0,8", r"action 8 is outside the valid range 0\.\.7"), ("-1", "outside"),
                         ("left", "not an action index"), ("3*0", "at least 1"), ("random:x", "random:N")]:
        with pytest.raises(ActionError, match=message):
            parse_actions(bad, eight)


# ----------------------------------------------------------------------------- scripted CLI
def test_out_and_png_into_folders_that_do_not_exist_yet(world_ckpt, tmp_path, capsys):
    out = tmp_path / "not" / "yet" / "run.mp4"
    assert play("--ckpt", world_ckpt, "--actions", "1,2", "--out", out, "--png", tmp_path / "also" / "new",
                "--maskgit-steps", "1", "--quiet") == 0
    assert decode_all(out).shape[0] == 3 and out.with_suffix(".json").is_file()
    assert len(list((tmp_path / "also" / "new").glob("frame_*.png"))) == 3
    assert capsys.readouterr().out == ""  # --quiet


def test_scripted_rollout_from_a_png_of_another_size(world_ckpt, tmp_path, capsys):
    prompt = write_image(tmp_path / "photo.png", moving_square_frames(1, 48, 80)[0][0], "png", "rgb24")
    out = tmp_path / "run" / "run.mp4"
    assert play("--ckpt", world_ckpt, "--prompt", prompt, "--actions", "0,3,3,1,2*2", "--out", out,
                "--png", tmp_path / "frames", "--maskgit-steps", "2") == 0
    assert "wrote" in capsys.readouterr().out
    video = decode_all(out)
    assert video.shape == (7, 256, 256, 3)  # prompt + 6 actions, 64x64 upscaled 4x
    pngs = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(pngs) == 7
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["actions"] == [None, 0, 3, 3, 1, 2, 2] and record["frames"] == 7
    for png, action in zip(pngs, record["actions"]):
        frame = load_prompt(png)[0]
        assert frame.shape == (256, 256, 3)
        text = "P" if action is None else str(action)
        assert np.array_equal(label_mask(frame, text, 4), expected_mask(text, 4)), f"{png.name} must show {text}"
    # the mp4 shows the same frames (H.264 is lossy: compare loosely)
    assert np.abs(video.astype(int) - np.stack([load_prompt(p)[0] for p in pngs]).astype(int)).mean() < 6


def test_scripted_rollout_from_the_first_frames_of_a_video(world_ckpt, tmp_path):
    frames, _ = moving_square_frames(12, 40, 72)
    prompt = write_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "run.mp4"
    assert play("--ckpt", world_ckpt, "--prompt", prompt, "--prompt-frames", 3, "--actions", "4*5",
                "--out", out, "--scale", 2, "--no-overlay", "--seed", 3) == 0
    assert decode_all(out).shape == (6, 128, 128, 3)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["prompt_frames"] == 3 and record["seed"] == 3 and record["actions"] == [None] + [4] * 5


@pytest.mark.parametrize("case", ["action", "text_prompt", "tokenizer_ckpt", "missing_ckpt"])
def test_bad_input_gives_one_clear_error_and_exit_code_1(case, world_ckpt, tokenizer_ckpt, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    args = {"ckpt": world_ckpt, "prompt": None, "actions": "0,3"}
    expected = {"action": r"action 8 is outside the valid range 0\.\.7",
                "text_prompt": r"prompt .*notes\.txt is not an image or a video",
                "tokenizer_ckpt": "not a co-training checkpoint",
                "missing_ckpt": "does not exist"}[case]
    if case == "action":
        args["actions"] = "0,3,8"
    elif case == "text_prompt":
        args["prompt"] = text
    elif case == "tokenizer_ckpt":
        args["ckpt"] = tokenizer_ckpt
    else:
        args["ckpt"] = tmp_path / "nope.ckpt"
    out = tmp_path / "run.mp4"
    argv = ["--ckpt", args["ckpt"], "--actions", args["actions"], "--out", out]
    argv += ["--prompt", args["prompt"]] if args["prompt"] else []
    assert play(*argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("genie-lit play: error: ") and err.count("\n") == 1, err
    assert re.search(expected, err), err
    assert "Traceback" not in err and not out.exists()


def test_play_help_documents_the_modes_and_the_key_map(capsys):
    with pytest.raises(SystemExit) as exit_info:
        play("--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for phrase in ["--serve", "--random-agent", "--maskgit-steps", "--compile", "--threads", "key map", "random:N"]:
        assert phrase in text


# ----------------------------------------------------------------------------- server
@pytest.fixture(scope="module")
def server(world_ckpt):
    world = load_world(str(world_ckpt), maskgit_steps=2)
    session = PlaySession(world, default_prompt(world.image_size), seed=0, scale=2)
    server = PlayServer(session, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def request(server, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, (json.loads(data) if is_json else data), response


def step(server, action) -> dict:
    status, answer, _ = request(server, "POST", "/api/step", json.dumps({"action": action}))
    assert status == 200, answer
    return answer


def test_server_resets_and_steps_over_http(server):
    status, answer, _ = request(server, "POST", "/api/reset", json.dumps({"seed": 1}))
    assert status == 200 and answer["action"] is None and answer["frame_index"] == 0
    for index, action in enumerate([3, 0, 7], start=1):
        answer = step(server, action)
        assert answer["action"] == action and answer["frame_index"] == index and answer["step_ms"] > 0
        frame = av.CodecContext.create("png", "r").decode(av.Packet(base64.b64decode(answer["frame"])))
        assert frame[0].to_ndarray(format="rgb24").shape == (64, 64, 3)
    status, png, response = request(server, "GET", "/api/frame.png")
    assert status == 200 and response.getheader("Content-Type") == "image/png" and png.startswith(b"\x89PNG")
    status, info, _ = request(server, "GET", "/api/info")
    assert info["num_actions"] == 8 and info["frame_index"] == 3 and info["keys"]["arrowright"] == 2
    status, page, _ = request(server, "GET", "/")
    assert status == 200 and b"<canvas id=\"world\"" in page and b"pixelated" in page


@pytest.mark.parametrize("method, path, body, headers, status, message", [
    ("POST", "/api/step", "{not json", None, 400, "not valid JSON"),
    ("POST", "/api/step", "[3]", None, 400, "JSON object"),
    ("POST", "/api/step", "{}", None, 400, "'action' must be an integer"),
    ("POST", "/api/step", '{"action": "3"}', None, 400, "must be an integer"),
    ("POST", "/api/step", '{"action": true}', None, 400, "must be an integer"),
    ("POST", "/api/step", '{"action": 2.5}', None, 400, "must be an integer"),
    ("POST", "/api/step", '{"action": 8}', None, 400, r"outside the valid range 0\.\.7"),
    ("POST", "/api/step", '{"action": -1}', None, 400, "outside the valid range"),
    ("POST", "/api/step", b"\xff\xfe", None, 400, "not valid JSON"),
    ("POST", "/api/step", "x" * (MAX_BODY + 1), None, 413, "at most"),
    ("POST", "/api/reset", '{"seed": "a"}', None, 400, "'seed' must be an integer"),
    ("POST", "/api/step", "{}", {"Content-Length": "abc"}, 400, "Content-Length"),
    ("GET", "/api/step", None, None, 405, "use POST"),
    ("DELETE", "/", None, None, 405, "use GET"),
    ("GET", "/etc/passwd", None, None, 404, "no such path"),
    ("GET", "/../../secret", None, None, 404, "no such path"),
])
def test_server_rejects_malformed_requests_and_keeps_serving(server, method, path, body, headers, status, message):
    got, answer, _ = request(server, method, path, body, headers)
    assert got == status and re.search(message, answer["error"]), answer
    assert step(server, 1)["action"] == 1  # still serving


def test_server_survives_garbage_and_dropped_connections(server):
    host, port = server.server_address[:2]
    for garbage, status in [(b"\x00\x01 not http at all\r\n\r\n", b"400"),
                            (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
                            (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", b"431")]:
        with socket.create_connection((host, port), timeout=10) as raw:
            raw.sendall(garbage)
            answer = b""
            while chunk := raw.recv(4096):  # the server closes the connection after an error
                answer += chunk
            assert answer.split(b" ")[1] == status and b'"error"' in answer, answer
    with socket.create_connection((host, port), timeout=10) as raw:  # announces a body, then hangs up
        raw.sendall(b"POST /api/step HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"act")
    assert step(server, 2)["action"] == 2


def test_concurrent_steps_are_played_one_after_the_other(server):
    request(server, "POST", "/api/reset", "{}")
    answers: list[dict] = []
    threads = [threading.Thread(target=lambda a=a: answers.append(step(server, a))) for a in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a["frame_index"] for a in answers) == [1, 2, 3, 4, 5, 6]
    _, history, _ = request(server, "GET", "/api/session.json")
    by_index = {a["frame_index"]: a["action"] for a in answers}
    assert [f["action"] for f in history["frames"]] == [None] + [by_index[i] for i in range(1, 7)]


def test_session_downloads_as_mp4_with_every_frame(server, tmp_path):
    request(server, "POST", "/api/reset", "{}")
    for action in [0, 5, 5, 2]:
        step(server, action)
    status, data, response = request(server, "GET", "/api/session.mp4")
    assert status == 200 and response.getheader("Content-Type") == "video/mp4"
    assert "attachment" in response.getheader("Content-Disposition")
    (tmp_path / "session.mp4").write_bytes(data)
    video = decode_all(tmp_path / "session.mp4")
    assert video.shape == (5, 128, 128, 3)  # the prompt's rendition + 4 steps, upscaled 2x
    for frame, text in zip(video, ["P", "0", "5", "5", "2"]):  # H.264 is lossy: nearly every glyph pixel
        assert (label_mask(frame, text, 2) == expected_mask(text, 2)).mean() > 0.97, text


def test_key_map_option():
    eight = dynamics_with(8)
    assert parse_keys("left=3,space=0", eight) == {"arrowleft": 3, " ": 0}
    assert parse_keys(None, dynamics_with(4)) == {" ": 0, "arrowleft": 1, "a": 1, "arrowright": 2, "d": 2,
                                                  "arrowup": 3, "w": 3}
    for bad in ["left", "left=x", "1=2", "r=1", "left=9"]:
        with pytest.raises(ValueError, match="--keys"):
            parse_keys(bad, eight)


def test_png_encoding_round_trips():
    image = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    frame = av.CodecContext.create("png", "r").decode(av.Packet(encode_png(image)))[0]
    assert np.array_equal(frame.to_ndarray(format="rgb24"), image)


# ----------------------------------------------------------------------------- speed settings
def test_a_compiler_failure_is_one_clear_error(world_ckpt, monkeypatch, capsys, tmp_path):
    def broken_compile(self, *args, **kwargs):
        def fail(*a, **k):
            raise RuntimeError("inductor: no C++ compiler found")
        self.forward = fail

    monkeypatch.setattr(torch.nn.Module, "compile", broken_compile)
    assert play("--ckpt", world_ckpt, "--compile", "--actions", "1", "--out", tmp_path / "x.mp4") == 1
    err = capsys.readouterr().err
    assert "torch.compile failed" in err and "no C++ compiler" in err and "without --compile" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_settings_that_cannot_be_honoured_are_refused(world_ckpt, capsys, tmp_path):
    for args, message in [(["--device", "cuda"], "CUDA is not available"), (["--maskgit-steps", "0"], "at least 1"),
                          (["--threads", "0"], "at least 1"), (["--temperature", "-1"], ">= 0")]:
        assert play("--ckpt", world_ckpt, "--actions", "1", "--out", tmp_path / "x.mp4", *args) == 1
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_world_plays(world_ckpt):
    world = load_world(str(world_ckpt), maskgit_steps=2, compile=True)
    world.reset(default_prompt(world.image_size), seed=0)
    frames = [world.step(a) for a in (0, 1, 2, 3, 4, 5)]  # past the context: the cache slides
    assert all(f.shape == (3, 64, 64) for f in frames)
