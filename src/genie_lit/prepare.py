"""``genie-lit prepare``: a video folder -> streamable shards, optionally filtered for quality.

    genie-lit prepare --data data/atari --out shards/atari                       # clips as mp4 in litdata chunks
    genie-lit prepare --data data/atari --auto-labels data/atari/quality_labels.csv   # bootstrap labels only
    genie-lit prepare --data data/atari --out shards/clean --quality-ckpt Q.ckpt --min-score 3
    genie-lit prepare --data data/atari --out shards/tokens --tokenizer-ckpt T.ckpt --lam-ckpt L.ckpt

The shards are read by :class:`genie_lit.data.StreamingVideoDataModule` (and the token variant);
the layout is described in :mod:`genie_lit.data.shards`. Checkpoints (the quality classifier,
tokenizer, latent action model) are loaded here, above the data layer, and handed to it as
functions of a clip's frames.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from genie_lit.commands import CommandError, new_parser, resolve_device, run_command

EPILOG = """examples:
  genie-lit prepare --data data/atari --out shards/atari
  genie-lit prepare --data data/atari --auto-labels data/atari/quality_labels.csv
  genie-lit fit --config configs/quality/classifier.yaml --data.data_dir data/atari
  genie-lit prepare --data data/atari --out shards/clean --quality-ckpt runs/quality/checkpoints/last.ckpt --min-score 3
  genie-lit fit --config configs/tokenizer/st_vivit.yaml --data genie_lit.data.StreamingVideoDataModule \
      --data.shards_dir shards/clean
"""


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("prepare", "Convert a video folder (with its action sidecars and manifest.json) into "
                        "streamable chunked shards (litdata), or write automatic quality labels.", EPILOG, device=True)
    parser.add_argument("--data", type=Path, required=True, help="folder of video files (searched recursively)")
    parser.add_argument("--out", type=Path, default=None, help="folder to write the shards to (train/, val/, test/)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    clips = parser.add_argument_group("clips (as the video data module cuts them)")
    clips.add_argument("--clip-length", type=int, default=16, help="frames per clip (default 16)")
    clips.add_argument("--resolution", type=int, nargs="+", default=[64], metavar="N",
                       help="frame size: N or HEIGHT WIDTH (default 64)")
    clips.add_argument("--fps", type=float, default=None, help="target frame rate (default: each file's own)")
    clips.add_argument("--clip-stride", type=int, default=None,
                       help="frames between training clip starts (default: the clip length, no overlap)")
    clips.add_argument("--val-fraction", type=float, default=0.1, help="share of files held out (default 0.1)")
    clips.add_argument("--test-fraction", type=float, default=0.0, help="share of files for test (default 0)")
    clips.add_argument("--seed", type=int, default=0, help="seed of the split by file (default 0)")
    store = parser.add_argument_group("storage")
    store.add_argument("--crf", type=int, default=None,
                       help="store clips as lossy H.264 at this CRF (default: lossless RGB H.264, exact pixels)")
    store.add_argument("--chunk-bytes", default="64MB", help="target size of one chunk file (default 64MB)")
    store.add_argument("--tokenizer-ckpt", type=Path, default=None, help="also store each clip's tokens")
    store.add_argument("--lam-ckpt", type=Path, default=None, help="also store each clip's latent actions")
    quality = parser.add_argument_group("quality filter (Genie §3 'Data')")
    quality.add_argument("--auto-labels", type=Path, default=None, metavar="CSV",
                         help="write automatic clip,score labels (black, static, menu, scene cut, play) to CSV")
    quality.add_argument("--quality-ckpt", type=Path, default=None, help="trained QualityClassifier checkpoint")
    quality.add_argument("--min-score", type=float, default=None, help="drop clips the classifier scores below this")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.out is None and args.auto_labels is None:
        raise CommandError("nothing to do: pass --out SHARDS to write shards and/or --auto-labels CSV to write labels")
    if (args.min_score is None) != (args.quality_ckpt is None):
        raise CommandError("--quality-ckpt and --min-score go together: the classifier scores, the threshold filters")
    if not args.data.is_dir():
        raise CommandError(f"--data {args.data} is not a folder; pass a folder of video files")
    if len(args.resolution) not in (1, 2):
        raise CommandError(f"--resolution takes N or HEIGHT WIDTH, got {len(args.resolution)} numbers")
    size = (args.resolution[0],) * 2 if len(args.resolution) == 1 else tuple(args.resolution)
    if args.auto_labels is not None:
        write_auto_labels(args, size)
    if args.out is None:
        return 0
    from genie_lit.data.shards import prepare_shards

    score, extras, extras_meta = model_functions(args)
    report = prepare_shards(args.data, args.out, args.clip_length, size, args.fps, args.clip_stride,
                            args.val_fraction, args.test_fraction, args.seed, args.crf, args.chunk_bytes,
                            score=score, min_score=args.min_score, extras=extras, extras_meta=extras_meta,
                            overwrite=args.overwrite)
    print(report.summary())
    print(f"shards in {args.out}; train on them with --data genie_lit.data.StreamingVideoDataModule "
          f"--data.shards_dir {args.out}")
    return 0


def write_auto_labels(args: argparse.Namespace, size: tuple[int, int]) -> None:
    """Score every clip of the folder with the bootstrap rules and write ``clip,score,reason``."""
    from collections import Counter

    from genie_lit.data.clips import ClipDataset, source_indices
    from genie_lit.data.index import scan_folder
    from genie_lit.media.read import VideoReadError, read_frames
    from genie_lit.quality.bootstrap import auto_label, write_labels

    scan = scan_folder(args.data)
    clips = ClipDataset(scan.videos, args.clip_length, size, args.fps, args.clip_stride)
    rows = []
    for vi, start in clips.clips:
        video = clips.videos[vi]
        try:
            frames = read_frames(video.path, source_indices(start, args.clip_length, clips.step(video)), size,
                                 fps=video.info.fps)
        except VideoReadError:
            continue
        rows.append((f"{video.relpath}#{start}", *auto_label(frames)))
    write_labels(args.auto_labels, rows)
    counts = Counter(reason for _, _, reason in rows)
    print(f"wrote {len(rows)} automatic labels to {args.auto_labels}: "
          + ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
          + (f" ({len(scan.skipped)} unreadable file(s) skipped)" if scan.skipped else ""))


def model_functions(args: argparse.Namespace):
    """The quality score and the stored extras (tokens, latent actions) as functions of ``t h w 3`` uint8
    frames, and what the shards' metadata records of them."""
    if args.quality_ckpt is None and args.tokenizer_ckpt is None and args.lam_ckpt is None:
        return None, {}, {}
    import numpy as np
    import torch

    from genie_lit.models.checkpoints import load_module

    device = resolve_device(args.device)

    def as_video(frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div(255)[None]

    score, extras, meta = None, {}, {}
    if args.quality_ckpt is not None:
        from genie_lit.quality.model import QualityClassifier

        classifier = load_module(args.quality_ckpt, QualityClassifier, "quality classifier checkpoint").to(device)
        score = lambda frames: classifier.score(as_video(frames)).item()  # noqa: E731
    if args.lam_ckpt is not None and args.tokenizer_ckpt is None:
        raise CommandError("--lam-ckpt needs --tokenizer-ckpt: latent actions are stored beside tokens")
    if args.tokenizer_ckpt is not None:
        from genie_lit.models.tokenizer import VideoTokenizer

        tokenizer = load_module(args.tokenizer_ckpt, VideoTokenizer, "tokenizer checkpoint").to(device)
        dtype = np.uint16 if tokenizer.codebook_size <= 65536 else np.int32

        @torch.no_grad()
        def tokens(frames: np.ndarray) -> np.ndarray:
            indices = tokenizer.quantize(as_video(frames)).indices
            return indices.reshape(len(frames), *tokenizer.grid).cpu().numpy().astype(dtype)

        extras["tokens"] = tokens
        meta["tokenizer"] = {"codebook_size": int(tokenizer.codebook_size), "grid": list(tokenizer.grid)}
    if args.lam_ckpt is not None:
        from genie_lit.models.lam import LatentActionModel

        lam = load_module(args.lam_ckpt, LatentActionModel, "latent action checkpoint").to(device)
        if lam.input_type == "tokens":
            lam.attach_tokenizer(tokenizer)
        extras["lam_actions"] = lambda frames: lam.infer_actions(as_video(frames))[0].cpu().numpy().astype(np.int16)
        meta["lam_num_actions"] = int(lam.num_actions)
    return score, extras, meta


def _errors() -> tuple[type[BaseException], ...]:
    from genie_lit.models.checkpoints import CheckpointError

    return FileNotFoundError, FileExistsError, ValueError, CheckpointError


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv, errors=_errors)
