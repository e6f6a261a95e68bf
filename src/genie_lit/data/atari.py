"""Atari 2600 games through ale-py (the optional extra ``genie_lit[atari]``; its wheel ships the ROMs).

:class:`AtariGame` drives one emulator at the console's 60 Hz, one emulator frame per
:meth:`AtariGame.act` call, so the recorder decides how emulator frames, agent decisions (frame
skip) and video frames line up. Sticky actions are off (``repeat_action_probability = 0``): the
action recorded for a transition is always the action the emulator received.

:class:`HeldRandomPolicy` is the behaviour policy: a uniformly random action from an allowed set,
held for a uniformly random number of decisions. Held actions give sustained, visible motion (a
paddle that travels, a boxer that walks) instead of jitter, so the effect of each action shows in
the video, which is what a latent action model has to discover.

:class:`ScriptedExpert` plays Pong and Breakout well from the console's RAM: it moves the paddle
toward the ball (the demonstrations of behaviour cloning). The RAM addresses were found by
experiment (``EXPERT_GAMES``): regressing each RAM byte on the sprite positions read from the
screen over 3,000 random-play frames, the chosen bytes fit with slope 1 and correlation > 0.99.
The expert must beat every constant action (in Breakout, holding LEFT alone scores 11 points).
"""

from __future__ import annotations

import re

import numpy as np

ATARI_HZ = 60
ATARI_SCREEN = (210, 160)  # height, width of most games (some are taller: the emulator says)
INSTALL_HINT = "recording Atari games needs ale-py: pip install 'genie-lit[atari]'"
# The default games of `genie-lit record atari` and of the quickstart: among the games ale-py ships,
# those whose actions move the most of the 64x64 frame under the recorder's random policy
# (benchmarks/action_influence.py: Tutankham 31%, Battle Zone 14%, Private Eye 9% of the pixels,
# against 0.5-0.7% for Pong and Breakout): a first-person tank, a side-scroller and a scrolling maze.
DEFAULT_GAMES = "battle_zone,private_eye,tutankham"


def import_ale():
    """The ``ale_py`` module with its per-ROM banner silenced; a clear error when it is missing."""
    try:
        import ale_py
    except ImportError as err:
        raise ModuleNotFoundError(INSTALL_HINT) from err
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    return ale_py


def available_games() -> list[str]:
    """Names of the games whose ROMs ship with ale-py, e.g. ``pong``, ``ms_pacman``."""
    return sorted(import_ale().roms.get_all_rom_ids())


def resolve_game(name: str) -> str:
    """ALE's ROM id for ``name``; accepts ``pong``, ``Pong``, ``MsPacman``, ``ms-pacman``, ``ALE/Pong-v5``."""
    games = available_games()
    key = re.sub(r"-v\d+$", "", name.strip().split("/")[-1])
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).replace("-", "_").replace(" ", "_").lower()
    squashed = {game.replace("_", ""): game for game in games}
    if key in games:
        return key
    if key.replace("_", "") in squashed:
        return squashed[key.replace("_", "")]
    raise ValueError(f"unknown Atari game {name!r}; the available games are: {', '.join(games)}")


def movement_actions(names: list[str]) -> list[int]:
    """Indices of the actions without FIRE (NOOP and the directions), or all actions when fewer
    than two remain (a game that is played with the button alone)."""
    moves = [i for i, name in enumerate(names) if "FIRE" not in name]
    return moves if len(moves) >= 2 else list(range(len(names)))


class AtariGame:
    """One game in the Arcade Learning Environment, stepped one emulator frame (1/60 s) at a time.

    Args:
        game: ALE ROM id (see :func:`resolve_game`).
        seed: the emulator's seed (it reseeds on :meth:`reset`).
    """

    def __init__(self, game: str, seed: int) -> None:
        ale_py = import_ale()
        self.game = game
        self.ale = ale_py.ALEInterface()
        self.ale.setInt("random_seed", int(seed) % (2**31 - 1))
        self.ale.setFloat("repeat_action_probability", 0.0)
        self.ale.setInt("frame_skip", 1)
        self.ale.loadROM(ale_py.roms.get_rom_path(game))
        self.actions = list(self.ale.getMinimalActionSet())
        self.action_names = [action.name for action in self.actions]
        self.fire = self.action_names.index("FIRE") if "FIRE" in self.action_names else None
        height, width = self.ale.getScreenDims()  # 210 x 160 for most ROMs, up to 250 rows for some
        self._screen = np.empty((height, width, 3), dtype=np.uint8)

    def reset(self) -> None:
        self.ale.reset_game()

    def act(self, action: int) -> float:
        """Advance one emulator frame with ``action`` (an index into the minimal action set)."""
        return self.ale.act(self.actions[action])

    def screen(self) -> np.ndarray:
        """The current screen, ``h w 3`` uint8 RGB (210 x 160 for most games); the buffer is reused between calls."""
        self.ale.getScreenRGB(self._screen)
        return self._screen

    def lives(self) -> int:
        return self.ale.lives()

    def game_over(self) -> bool:
        return self.ale.game_over()


class HeldRandomPolicy:
    """Uniform random action from ``allowed``, held for ``U{hold_min..hold_max}`` decisions.

    Args:
        allowed: action indices the policy picks from.
        hold: (min, max) decisions an action is held, both inclusive.
        rng: the source of randomness (seeded per episode for reproducible recordings).
    """

    def __init__(self, allowed: list[int], hold: tuple[int, int], rng: np.random.Generator) -> None:
        if not allowed:
            raise ValueError("the policy needs at least one allowed action")
        if not 1 <= hold[0] <= hold[1]:
            raise ValueError(f"hold range must satisfy 1 <= min <= max, got {hold}")
        self.allowed, self.hold, self.rng = list(allowed), hold, rng
        self.action, self.left = self.allowed[0], 0

    def __call__(self) -> int:
        if self.left == 0:
            self.action = self.allowed[int(self.rng.integers(len(self.allowed)))]
            self.left = int(self.rng.integers(self.hold[0], self.hold[1] + 1))
        self.left -= 1
        return self.action


# game -> (RAM byte of the ball's position along the paddle's axis, RAM byte of the paddle, scale and
# offset mapping the paddle byte into the ball's units, action towards smaller / larger values, dead band)
# Pong: ball y = RAM[54] - 12.4 px, paddle y = 0.97 RAM[51] - 2.3 px (screen rows); the paddle is
#   steered in RAM units (RAM[54] - RAM[51]), which aims off centre and returns the ball at an angle.
# Breakout: ball x = RAM[99] - 48.5 px (2 px wide), paddle's left edge x = RAM[72] - 47 px (16 px
#   wide; screen columns), so the ball's centre minus the paddle's is RAM[99] - RAM[72] - 8.5.
EXPERT_GAMES = {
    "pong": {"ball": 54, "paddle": 51, "scale": 1.0, "offset": 0.0, "towards": ("RIGHT", "LEFT"), "band": 1.0},
    "breakout": {"ball": 99, "paddle": 72, "scale": 1.0, "offset": 8.5, "towards": ("LEFT", "RIGHT"), "band": 4.0},
}


class ScriptedExpert:
    """A paddle that follows the ball, read from the emulator's RAM (Pong and Breakout).

    Each decision compares the ball's position with the paddle's along the paddle's axis and moves
    towards the ball, or waits inside a small dead band. With probability ``epsilon`` it takes a
    uniformly random action from ``allowed`` instead, so recordings of one game differ (the
    emulator itself is deterministic) and every action is seen.

    Args:
        game: the running :class:`AtariGame` (its RAM is read at every call).
        rng: the source of the random actions.
        epsilon: probability of a random action.
        allowed: actions of the random choice (default: the game's movement actions).
    """

    def __init__(self, game: AtariGame, rng: np.random.Generator, epsilon: float = 0.05,
                 allowed: list[int] | None = None) -> None:
        if game.game not in EXPERT_GAMES:
            raise ValueError(f"the scripted expert plays {', '.join(sorted(EXPERT_GAMES))}, not {game.game!r}; "
                             "record other games with --policy random")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.game, self.rng, self.epsilon = game, rng, epsilon
        self.spec = EXPERT_GAMES[game.game]
        self.allowed = allowed if allowed is not None else movement_actions(game.action_names)
        self.less, self.more = (game.action_names.index(name) for name in self.spec["towards"])
        self.noop = game.action_names.index("NOOP")

    def __call__(self) -> int:
        if self.epsilon > 0 and self.rng.random() < self.epsilon:
            return self.allowed[int(self.rng.integers(len(self.allowed)))]
        ram = self.game.ale.getRAM()
        ball = float(ram[self.spec["ball"]])
        if ball == 0:  # no ball in play
            return self.noop
        error = ball - (self.spec["scale"] * float(ram[self.spec["paddle"]]) + self.spec["offset"])
        if error < -self.spec["band"]:
            return self.less
        if error > self.spec["band"]:
            return self.more
        return self.noop
