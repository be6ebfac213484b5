"""Shape exercises like the course's: "What are the dimensions of the output feature map?"

An :class:`Exercise` hides the output shapes and parameter counts of a network (a preset,
the user's own, or one :func:`generate` makes at a difficulty) and asks for them, one
:class:`Question` per layer and count. :meth:`Exercise.answer` checks a typed answer; a
wrong one is explained with the layer's formula and its numbers, as the analysis computes
them (the one source of both the answer and the explanation). Pure Python.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from cnnstudio.analysis.analyze import infer
from cnnstudio.analysis.shapes import LayerInfo
from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec

OUTPUT_SHAPE = "output_shape"
PARAMS = "params"
DIFFICULTIES = {1: "one convolution and a pooling layer, stride 1",
                2: "two or three layers with strides and explicit padding",
                3: "dilation, strides that do not fit, then Flatten and Dense"}


@dataclass(frozen=True)
class Question:
    """One thing to work out: a layer's output shape or its parameter count."""

    layer: str
    kind: str
    answer: tuple[int, ...] | int
    explanation: str
    """How the answer follows from the layer's hyperparameters, with the numbers put in."""

    @property
    def prompt(self) -> str:
        if self.kind == OUTPUT_SHAPE:
            return f'What is the output shape of "{self.layer}"? (e.g. 12x12x10)'
        return f'How many parameters (weights and biases) does "{self.layer}" have?'


@dataclass(frozen=True)
class Verdict:
    correct: bool
    expected: str
    message: str


@dataclass
class Exercise:
    """A network with its shapes and counts hidden, the questions, and the running score."""

    spec: NetworkSpec
    questions: list[Question]
    answered: dict[int, bool] = field(default_factory=dict)
    """Question index -> whether the last answer to it was right."""

    @property
    def score(self) -> tuple[int, int]:
        """(right answers, questions answered)."""
        return sum(self.answered.values()), len(self.answered)

    def answer(self, index: int, text: str) -> Verdict:
        """Check ``text`` against question ``index`` and keep the result in the score."""
        question = self.questions[index]
        expected = _format(question.answer)
        try:
            given = parse_answer(text, question.kind)
        except ValueError as exc:
            return Verdict(False, expected, str(exc))
        correct = given == question.answer
        self.answered[index] = correct
        if correct:
            return Verdict(True, expected, f"Right: {expected}.")
        return Verdict(False, expected, f"Not quite: you answered {_format(given)}, the answer is {expected}.\n"
                                        f"{question.explanation}")


def parse_answer(text: str, kind: str) -> tuple[int, ...] | int:
    """A typed shape ("12x12x10", "12, 12, 10", "(12,12,10)") or count ("1,950", "1950")."""
    cleaned = text.strip()
    if kind == PARAMS:
        digits = cleaned.replace(",", "").replace("_", "").replace(" ", "")
        if not digits.isdigit():
            raise ValueError(f"A parameter count is a whole number. Expected digits such as 1950. "
                             f"Received: {text!r}")
        return int(digits)
    parts = [p for p in re.split(r"[x×*,\s()\[\]]+", cleaned.lower()) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"A shape is sizes separated by x or commas. Expected for example 12x12x10. "
                         f"Received: {text!r}")
    return tuple(int(p) for p in parts)


def _format(value) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, tuple) else f"{value:,}"


def exercise_for(spec: NetworkSpec) -> Exercise:
    """Questions on every layer of a valid ``spec``: output shapes, and counts where there are weights."""
    summary = infer(spec)
    if not summary.ok:
        first = summary.errors()[0]
        raise ValueError(f"An exercise needs a network without errors, so every answer exists. "
                         f"Fix it first. Received: {first}")
    shapes = {INPUT: tuple(spec.input_shape)}
    questions = []
    for info in summary.layers:
        source = shapes[info.inputs[0]] if info.inputs else None
        questions.append(Question(info.name, OUTPUT_SHAPE, tuple(info.output_shape),
                                  _shape_explanation(info, source)))
        if info.params:
            questions.append(Question(info.name, PARAMS, info.params, _params_explanation(info, source)))
        shapes[info.name] = tuple(info.output_shape)
    return Exercise(spec, questions)


def _shape_explanation(info: LayerInfo, source: tuple[int, ...] | None) -> str:
    lines = [f"{info.name} ({info.type}) reads {_format(source)}." if source else f"{info.name} ({info.type})."]
    if info.formulas:
        lines += [f"  {f}" for f in info.formulas]
        lines.append("  Size = floor((W - F_eff + 2P) / S) + 1, with F_eff = D*(F - 1) + 1 for dilation D.")
        channels = info.config.get("filters")
        lines.append(f"  Depth: {channels} filters." if channels else "  Depth: pooling keeps the channels.")
    else:
        lines.append(f"  It gives {_format(tuple(info.output_shape))}.")
    return "\n".join(lines)


def _params_explanation(info: LayerInfo, source: tuple[int, ...] | None) -> str:
    config = info.config
    biases = info.output_shape[-1] if config.get("use_bias", True) else 0
    weights = info.params - biases
    if "filters" in config and source is not None:
        kernel = config["kernel_size"]
        kernel = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel] * (len(source) - 1)
        factors = "*".join(str(k) for k in kernel + [source[-1]])
        text = f"({factors}) * {config['filters']} = {weights:,} weights (F*F*D1 per filter, K filters)"
    elif "units" in config and source is not None:
        text = f"{math.prod(source)} * {config['units']} = {weights:,} weights (every input to every unit)"
    else:
        text = f"{weights:,} weights"
    return f"{info.name}: {text} + {biases} biases = {info.params:,}."


def generate(difficulty: int = 1, seed: int | None = None) -> Exercise:
    """A new valid network at ``difficulty`` (1, 2 or 3), with its questions."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"Unknown difficulty. Expected one of {sorted(DIFFICULTIES)}. Received: difficulty={difficulty!r}")
    rng = random.Random(seed)
    for _ in range(200):
        spec = _random_network(rng, difficulty)
        if infer(spec).ok:
            return exercise_for(spec)
    raise RuntimeError("Could not generate a valid network; this is a bug in the generator.")


def _random_network(rng: random.Random, difficulty: int) -> NetworkSpec:
    """A network drawn like the course's exercises (the layer types are exercise data, as in presets)."""
    size = rng.choice([7, 9, 12, 16, 28, 32] if difficulty > 1 else [8, 12, 16, 28, 32])
    spec = NetworkSpec(name=f"exercise-{difficulty}", input_shape=(size, size, rng.choice([1, 3])), layers=[])
    convs = 1 if difficulty == 1 else rng.choice([2, 3])
    for i in range(convs):
        stride = 1 if difficulty == 1 else rng.choice([1, 1, 2, 3])
        kernel = rng.choice([1, 3, 5])
        params = {
            "filters": rng.choice([4, 5, 6, 8, 10, 16]),
            "kernel_size": kernel,
            "strides": stride,
            "padding": rng.choice(["valid", "same"] if difficulty == 1 else ["valid", 0, 1, 2, "same"]),
            "dilation_rate": rng.choice([1, 1, 2]) if difficulty == 3 and stride == 1 and kernel > 1 else 1,
            "activation": "relu",
        }
        spec.layers.append(LayerSpec(name=f"conv{i + 1}", type="Conv2D", params=params))
        if difficulty == 1 or rng.random() < 0.5:
            spec.layers.append(LayerSpec(name=f"pool{i + 1}", type="MaxPool2D", params={"pool_size": 2, "strides": 2}))
    if difficulty == 3:
        spec.layers.append(LayerSpec(name="flatten", type="Flatten", params={}))
        spec.layers.append(LayerSpec(name="output", type="Dense", params={"units": 10, "activation": "softmax"}))
    return spec
