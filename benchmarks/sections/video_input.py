# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections video-input`: the video processor on 640x360 H.264 clips of --video-input-seconds (one view, 15 views)
against Transformers' `load_video` with the same frames and against decoding every frame; time and peak memory,
each case in a fresh process per round (the `video-input` worker)."""

from __future__ import annotations

import importlib.util
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import REPO_ROOT, run_worker

# The cases the `video-input` worker runs (benchmarks/workers.py), by name: what each calls.
VIDEO_INPUT_CASES = {
    "hiera_hf processor, 1 view": "HieraVideoProcessor()(path): the centered 16-frame clip",
    "hiera_hf processor, 15 views (5 clips x 3 crops)": "HieraVideoProcessor(num_clips=5, num_crops=3)(path)",
    "hiera_hf decode_video alone, the same 16 frames": "decode_video(path, <those indices>): the processor's decoding",
    "transformers load_video (pyav), the same 16 frames": "load_video(path, sample_indices_fn=<those indices>)",
    "every frame decoded, then the clip (the old processor's path)": "decode_video(path) then the processor",
}


def video_input_section(args) -> list[dict]:
    """Videos of several lengths (640x360 H.264 at 30 fps, a keyframe every 250 frames, made here): every case of
    `VIDEO_INPUT_CASES` in a fresh process per round, rounds interleaved; medians of time and memory."""
    spec = importlib.util.spec_from_file_location("make_demo_data", REPO_ROOT / "examples/make_demo_data.py")
    make_demo_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_demo_data)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.video_input_seconds:
            size = (160, 96) if args.quick else (640, 360)
            path = make_demo_data.write_long_clip(Path(folder) / f"clip{seconds}.mp4", seconds, *size)
            cases = [
                c for c in VIDEO_INPUT_CASES if not (c.startswith("every frame") and seconds > args.full_decode_max)
            ]
            results = {case: [] for case in cases}
            for _ in range(args.rounds):
                for case in cases:
                    results[case].append(run_worker("video-input", case, str(path)))
            section = f"video input: {seconds} s of {size[0]}x{size[1]} H.264 at 30 fps"
            rows += case_rows(section, results)
    return rows


def case_rows(section: str, results: dict[str, list[dict]]) -> list[dict]:
    """A row per case: medians over the rounds, times also against `load_video`'s."""
    load_video_case = next(case for case in results if case.startswith("transformers load_video"))
    reference = statistics.median(r["seconds"] for r in results[load_video_case])
    rows = []
    for case, measured in results.items():
        median = statistics.median(r["seconds"] for r in measured)
        rows.append(
            {
                "section": section,
                "peer": case,
                "batch": 1,
                "median_s": median,
                "rate": 1 / median,
                "unit": "calls/s",
                "speedup_vs_fastest_peer": reference / median if case.startswith("hiera_hf") else None,
                "time_vs_load_video": median / reference,
                "rounds": len(measured),
                "peak_MB": statistics.median(r["peak_MB"] for r in measured),
                "growth_MB": statistics.median(r["growth_MB"] for r in measured),
            }
        )
    return rows
