"""What a study YAML says: a base per training phase, variants as overlays, seeds, step budgets.

A study file (``configs/studies/*.yaml``)::

    name: tokenizer
    seeds: [0, 1]
    data:                          # shared by every run
      dir: null                    # default: OUT/data, recorded there when it holds no video
      configs: [../quickstart/atari_data.yaml]
      record: {games: battle_zone,private_eye,tutankham, episodes: 6, steps: 300}
    trainer: []                    # overlays layered on every run (e.g. ../trainer/ddp.yaml)
    phases:                        # in order; each is one `genie-lit fit`
      tokenizer: {configs: [../tokenizer/st_vivit.yaml, ../quickstart/tokenizer.yaml], steps: 400}
      world:
        configs: [../genie/cotrain.yaml, ../quickstart/world.yaml]
        steps: 300
        tokenizer_from: tokenizer  # --model.tokenizer_ckpt = that phase's checkpoints/last.ckpt
    variants:                      # name -> {phase: overlay}; an overlay is a YAML file or inline YAML
      st_vivit: {}
      vit: {tokenizer: ../tokenizer/vit.yaml}
    evaluation: {clips: 32, clip_length: 16, t: 4, maskgit_steps: 8, fvd: true}
    paper: {source: "...", figures: {st_vivit: {fvd: 81.4, delta_psnr: 1.66, memory_gb: 0.9}}}

Relative paths are relative to the study file. A variant holds only what differs from the
phase's base, so adding a variant is adding one YAML file (or a few inline lines) and no code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genie_lit.data.atari import DEFAULT_GAMES

PHASE_LINK = "tokenizer_from"  # a phase key naming the phase whose checkpoint is this phase's tokenizer
EVALUATION_DEFAULTS = {"clips": 32, "clip_length": 16, "t": 4, "maskgit_steps": 8, "temperature": 1.0, "fvd": True,
                       "fvd_weights": None, "fvd_size": 224, "batch_size": 8, "seed": 0, "shots": 200,
                       "bootstrap": 2000, "fvd_bootstrap": 200}
RECORD_DEFAULTS = {"games": DEFAULT_GAMES, "episodes": 6, "steps": 300}  # the quickstart's games


class StudyError(ValueError):
    """A study file or setting that cannot be run (one line naming the problem and the fix)."""


@dataclass
class Overlay:
    """One ``--config`` of a run: a file, or inline YAML written under the study folder first."""

    path: Path | None = None
    inline: dict | None = None

    def text(self) -> str:
        return self.path.read_text() if self.path is not None else yaml.safe_dump(self.inline, sort_keys=True)


@dataclass
class Phase:
    name: str
    configs: list[Overlay]
    steps: int
    tokenizer_from: str | None = None


@dataclass
class Study:
    path: Path
    name: str
    seeds: list[int]
    phases: list[Phase]
    variants: dict[str, dict[str, list[Overlay]]]
    data_dir: Path | None
    data_configs: list[Overlay]
    record: dict[str, Any]
    trainer: list[Overlay]
    evaluation: dict[str, Any]
    paper: dict[str, Any] = field(default_factory=dict)

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)

    def run_key(self, variant: str, seed: int, phase: str) -> str:
        """A digest of everything that defines the run: identical runs of two variants are one run
        (e.g. the tokenizer shared by LAM-input variants), trained once and reused."""
        spec = self.phase(phase)
        parts = [phase, str(seed), str(spec.steps), *(o.text() for o in self.data_configs),
                 *(o.text() for o in spec.configs), *(o.text() for o in self.variants[variant].get(phase, [])),
                 *(o.text() for o in self.trainer)]
        if spec.tokenizer_from:
            parts.append(self.run_key(variant, seed, spec.tokenizer_from))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _overlays(value: Any, base: Path, where: str) -> list[Overlay]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            path = (base / item).resolve() if not Path(item).is_absolute() else Path(item)
            if not path.is_file():
                raise StudyError(f"{where}: config {item} not found (looked for {path}); paths are relative to the "
                                 "study file")
            out.append(Overlay(path=path))
        elif isinstance(item, dict):
            out.append(Overlay(inline=item))
        else:
            raise StudyError(f"{where}: an overlay is a YAML file path or a mapping of config lines, got {item!r}")
    return out


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyError(f"{where} must be a whole number >= 1, got {value!r}")
    return value


def load_study(path: str | Path, steps: dict[str, int] | None = None, seeds: list[int] | None = None,
               trainer: list[str] | None = None) -> Study:
    """Parse and check a study file; ``steps``, ``seeds`` and ``trainer`` (extra overlay files)
    override or extend what it says."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"study file {path} does not exist; pass a YAML such as configs/studies/tokenizer.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise StudyError(f"{path} is not valid YAML: {' '.join(str(err).split())}") from err
    if not isinstance(raw, dict):
        raise StudyError(f"{path} must be a mapping with phases, variants and seeds")
    unknown = set(raw) - {"name", "description", "seeds", "data", "trainer", "phases", "variants", "evaluation",
                          "paper"}
    if unknown:
        raise StudyError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; allowed: name, description, seeds, "
                         "data, trainer, phases, variants, evaluation, paper")
    base = path.parent.resolve()
    phases_raw = raw.get("phases")
    if not isinstance(phases_raw, dict) or not phases_raw:
        raise StudyError(f"{path}: 'phases' must map phase names to {{configs, steps}}")
    phases = []
    for name, spec in phases_raw.items():
        if not isinstance(spec, dict) or "configs" not in spec or "steps" not in spec:
            raise StudyError(f"{path}: phase {name!r} needs 'configs' (its base YAML files) and 'steps'")
        step_count = (steps or {}).get(name, spec["steps"])
        link = spec.get(PHASE_LINK)
        if link is not None and link not in [p.name for p in phases]:
            raise StudyError(f"{path}: phase {name!r} takes its tokenizer from {link!r}, which is not an earlier phase")
        phases.append(Phase(name, _overlays(spec["configs"], base, f"phase {name}"),
                            _positive_int(step_count, f"steps of phase {name!r}"), link))
    unknown_steps = set(steps or {}) - set(phases_raw)
    if unknown_steps:
        raise StudyError(f"--steps names phase(s) {', '.join(sorted(unknown_steps))} that the study does not have "
                         f"(it has {', '.join(phases_raw)})")
    variants_raw = raw.get("variants")
    if not isinstance(variants_raw, dict) or not variants_raw:
        raise StudyError(f"{path}: 'variants' must map variant names to overlays per phase ({{}} for the base)")
    variants = {}
    for name, spec in variants_raw.items():
        if not str(name).replace("_", "").replace("-", "").isalnum():
            raise StudyError(f"{path}: variant name {name!r} must be letters, digits, '_' or '-' (it names a folder)")
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - set(phases_raw):
            raise StudyError(f"{path}: variant {name!r} must map phase names ({', '.join(phases_raw)}) to overlays")
        variants[str(name)] = {p: _overlays(v, base, f"variant {name}, phase {p}") for p, v in spec.items()}
    seed_list = seeds if seeds is not None else raw.get("seeds", [0])
    if not isinstance(seed_list, list) or not seed_list or not all(isinstance(s, int) for s in seed_list) \
            or len(set(seed_list)) != len(seed_list):
        raise StudyError(f"{path}: 'seeds' must be a list of distinct integers, got {seed_list!r}")
    data = raw.get("data") or {}
    data_dir = data.get("dir")
    evaluation = {**EVALUATION_DEFAULTS, **(raw.get("evaluation") or {})}
    unknown_eval = set(evaluation) - set(EVALUATION_DEFAULTS)
    if unknown_eval:
        raise StudyError(f"{path}: unknown evaluation setting(s) {', '.join(sorted(unknown_eval))}; allowed: "
                         f"{', '.join(EVALUATION_DEFAULTS)}")
    if evaluation["clip_length"] < evaluation["t"]:
        raise StudyError(f"{path}: evaluation.clip_length ({evaluation['clip_length']}) must be >= t "
                         f"({evaluation['t']})")
    trainer_overlays = _overlays(raw.get("trainer"), base, "trainer")
    for extra in trainer or []:
        trainer_overlays += _overlays(str(Path(extra).resolve()), base, "--trainer")
    return Study(path=path, name=str(raw.get("name") or path.stem), seeds=list(seed_list), phases=phases,
                 variants=variants, data_dir=None if data_dir is None else (base / data_dir).resolve(),
                 data_configs=_overlays(data.get("configs"), base, "data"),
                 record={**RECORD_DEFAULTS, **(data.get("record") or {})}, trainer=trainer_overlays,
                 evaluation=evaluation, paper=dict(raw.get("paper") or {}))


def parse_steps(text: str | None) -> dict[str, int]:
    """``"tokenizer=400,world=300"`` -> ``{"tokenizer": 400, "world": 300}``."""
    out: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        name, _, value = item.partition("=")
        if not value.strip().isdigit():
            raise StudyError(f"--steps takes PHASE=N[,PHASE=N], got {item!r}")
        out[name.strip()] = int(value)
    return out


def describe(study: Study) -> str:
    """One JSON line of what defines the study (for the state file: a changed study is noticed)."""
    return json.dumps({"name": study.name, "seeds": study.seeds, "phases": {p.name: p.steps for p in study.phases},
                       "variants": sorted(study.variants)})
