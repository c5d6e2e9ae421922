"""The scaffold language of the embedded default: every program it handles -- a downstream solution or an
improver -- is ordinary Python with exactly one settings line, `SETTINGS = dict(knob=value, ...)`, and one
`DOMAIN = dict(knob=(values...), ...)` line that lists each knob's allowed integers. The language a model
speaks is that one settings line: an edit is a new line, parsed strictly (the program's knobs, in order,
each value in its domain; anything else is unparseable) and rendered back into the program.

Why: STOP (Zelikman et al. 2024) asks a model to rewrite whole programs, which needs a strong code model (a
135M model wrote no working Python in the runs measured in the README). A line over a few integer knobs is small enough for a
tiny model to learn from a corpus the world generates with ground truth (selfimprove.stop.proposer), and
the recursion stays real: the improver is itself a scaffold program, so running it on its own source under
the meta-utility edits its own settings (calls, responses per call, temperature, keep, chain).

The utilities move with the knobs (each task's grid measured once on 8 train-stream instances; the proposer's
ground truth is this same measurement): lpn 0.51 at weight 0, 0.60 at 1, 0.71-0.75 at 2, 0.85-0.89 at 3,
0.82 (10 samples) to 0.96 (100 samples) at 5-6, where weight 6 with 100 samples takes about 42 ms of LPN's
100 ms per instance on an idle core; three_sat 0 without flips, 0.38 with 1000 greedy flips (noise 0), 1.0
with 1000 flips at noise >= 2; max_cut 0.42 (one random split) to 1.0 (8 restarts, 2 sweeps); grid_dist
0.52 (one random string) to 1.0 (4 or more improving steps).

The templates are files in selfimprove/stop/programs (scaffold_<kind>.py), their knobs and domains in the
files themselves; the improver in the sandbox parses with its own copy of `parse` (it may import nothing
from this package), and tests/test_stop_scaffold.py checks that both read every line alike.
"""

from __future__ import annotations

import ast
import itertools
import random
import re
from dataclasses import dataclass
from typing import Any

from selfimprove.stop.channel import Model
from selfimprove.stop.programs import read_program

KIND_NAMES = ("lpn", "three_sat", "max_cut", "grid_dist", "improver")
EXPERTISE = "scaffold"  # the improver's expertise line: the proposer's prompt starts with it
LINE = re.compile(r"^SETTINGS = dict\((.*)\)$", re.MULTILINE)
KNOB = re.compile(r"([a-z_]+)=([0-9]+)")

Settings = dict[str, int]
Domain = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Kind:
    """One kind of scaffold program: its template (with the seed settings) and its knobs' domains."""

    name: str
    template: str
    seed: Settings
    domain: Domain

    def grid(self) -> list[Settings]:
        """Every valid settings of this kind, in domain order."""
        return [dict(zip(self.domain, values, strict=True)) for values in itertools.product(*self.domain.values())]

    def neighbours(self, settings: Settings) -> list[Settings]:
        """Settings one step away in one knob's domain."""
        out = []
        for knob, values in self.domain.items():
            at = values.index(settings[knob])
            out += [{**settings, knob: values[j]} for j in (at - 1, at + 1) if 0 <= j < len(values)]
        return out


def read_dict_line(program: str, name: str) -> dict[str, Any] | None:
    """The program's `name = dict(...)` line as a dict; None when it has none or it does not read."""
    found = re.search(rf"^{name} = (dict\(.*\))$", program, re.MULTILINE)
    if not found:
        return None
    try:
        call = ast.parse(found.group(1), mode="eval").body
        return {k.arg: ast.literal_eval(k.value) for k in call.keywords}  # type: ignore[attr-defined]
    except (SyntaxError, ValueError, AttributeError):
        return None


def kind(name: str) -> Kind:
    template = read_program(f"scaffold_{name}.py")
    seed, domain = read_dict_line(template, "SETTINGS"), read_dict_line(template, "DOMAIN")
    assert seed is not None and domain is not None, f"scaffold_{name}.py lacks its SETTINGS or DOMAIN line"
    return Kind(name, template, seed, {k: tuple(v) for k, v in domain.items()})


def kinds() -> dict[str, Kind]:
    return {name: kind(name) for name in KIND_NAMES}


def line(settings: Settings) -> str:
    return "SETTINGS = dict(" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")"


def parse(text: str, domain: Domain) -> Settings | None:
    """The settings a response proposes: its first line must be `SETTINGS = dict(k=v, ...)` with exactly the
    knobs of `domain`, in order, each value one of its knob's values; anything else is None (unparseable)."""
    lines = text.strip().splitlines()
    found = LINE.fullmatch(lines[0].strip()) if lines else None
    if not found:
        return None
    knobs = [KNOB.fullmatch(p.strip()) for p in found.group(1).split(",")]
    if not all(knobs) or [k.group(1) for k in knobs if k] != list(domain):
        return None
    settings = {k.group(1): int(k.group(2)) for k in knobs if k}
    return settings if all(settings[name] in values for name, values in domain.items()) else None


def render(program: str, settings: Settings) -> str:
    """The program with its settings line replaced."""
    return LINE.sub(lambda _: line(settings), program, count=1)


def message(settings_line: str) -> str:
    """What the improver asks the proposer: the current settings line, then an arrow."""
    return f"{settings_line}\n->"


def prompt(settings_line: str) -> str:
    """The whole prompt the proposer sees (selfimprove.stop.model joins expertise and message so)."""
    return f"{EXPERTISE}\n\n{message(settings_line)}"


def kind_of(text: str) -> Kind | None:
    """The kind whose knobs a prompt's (or a program's) settings line names, if any."""
    found = LINE.search(text)
    if not found:
        return None
    names = [k.group(1) for k in KNOB.finditer(found.group(1))]
    return next((k for k in kinds().values() if list(k.domain) == names), None)


def seed_solutions() -> dict[str, str]:
    """Each downstream task's seed solution in the scaffold language: its template at the weak settings."""
    return {name: kind(name).template for name in KIND_NAMES if name != "improver"}


def random_model(seed: int, stage: int = 0) -> Model:
    """The control proposer: for each message, a settings line drawn uniformly from the valid lines of the
    message's kind (no model); 'unparseable' when the message names no kind. Its draws depend on `seed` and
    `stage` alone (a run's stages each make their own, so a resumed stage draws the same lines)."""
    rng = random.Random(f"stop/random-proposer/{seed}/{stage}")

    def model(expertise: str, messages: list[str], temperature: float) -> list[str]:
        found = [kind_of(m) for m in messages]
        return [" " + line(rng.choice(k.grid())) if k else "unparseable" for k in found]

    return model


class ParseTally:
    """A Model that counts the responses it passes on and how many parse as a settings line of the
    message's kind (the proposer's validity rate)."""

    def __init__(self, model: Model) -> None:
        self.model, self.counts = model, {"responses": 0, "valid": 0}

    def __call__(self, expertise: str, messages: list[str], temperature: float) -> list[str]:
        out = self.model(expertise, messages, temperature)
        for text, msg in zip(out, messages, strict=False):
            k = kind_of(msg)
            self.counts["responses"] += 1
            self.counts["valid"] += int(k is not None and parse(text, k.domain) is not None)
        return out

    def take(self) -> dict[str, int]:
        """The counts since the last take."""
        out, self.counts = self.counts, {"responses": 0, "valid": 0}
        return out
