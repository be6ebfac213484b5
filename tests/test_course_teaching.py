"""Why convolution (the fully connected comparison) and the shape exercises, as the course sets them."""

import json

import pytest

from cnnstudio.analysis.analyze import infer
from cnnstudio.analysis.dense_equivalent import compare_with_dense, dense_params
from cnnstudio.network import presets
from cnnstudio.network.spec import LayerSpec, NetworkSpec
from cnnstudio.teaching import exercises


def test_the_course_figure_a_224x224_rgb_image_into_a_layer_of_the_same_size():
    spec = NetworkSpec((224, 224, 3), [LayerSpec("conv", "Conv2D", {"filters": 3, "kernel_size": 3,
                                                                     "padding": "same"})])
    comparison = compare_with_dense(infer(spec))["conv"]
    assert 224 * 224 * 3 == 150_528
    assert comparison.dense_params == 150_528 * 150_528 + 150_528  # about 22 billion
    assert comparison.params == 3 * 3 * 3 * 3 + 3
    assert comparison.formula == "(224*224*3) * (224*224*3) + 224*224*3 = 22,658,829,312"
    assert comparison.ratio == pytest.approx(22_658_829_312 / 84)


def test_every_convolution_of_a_preset_gets_the_formula_of_its_shapes():
    summary = infer(presets.get("lenet5"))
    comparisons = compare_with_dense(summary)
    convolutions = [i.name for i in summary.layers if i.type.startswith("Conv")]
    assert list(comparisons) == convolutions
    for name, c in comparisons.items():
        h, w, c_in = c.input_shape
        h2, w2, c_out = c.output_shape
        assert c.dense_params == (h * w * c_in) * (h2 * w2 * c_out) + h2 * w2 * c_out
        assert c.params == summary.layer(name).params
    assert dense_params((5, 5, 16), (1, 1, 120)) == 400 * 120 + 120


def test_an_exercise_on_a_preset_asks_every_shape_and_count_and_explains_a_wrong_answer():
    exercise = exercises.exercise_for(presets.get("lenet5"))
    kinds = [(q.layer, q.kind) for q in exercise.questions]
    assert kinds[:3] == [("c1", "output_shape"), ("c1", "params"), ("s2", "output_shape")]
    assert ("s2", "params") not in kinds
    right = exercise.answer(0, "28 x 28 x 6")
    assert right.correct and right.message == "Right: 28x28x6."
    wrong = exercise.answer(2, "(13, 13, 6)")
    assert not wrong.correct
    assert "you answered 13x13x6, the answer is 14x14x6" in wrong.message
    assert "height: floor((28 - 2) / 2) + 1 = 14" in wrong.message
    count = exercise.answer(1, "150")
    assert not count.correct and "(5*5*1) * 6 = 150 weights" in count.message and "+ 6 biases = 156" in count.message
    assert exercise.answer(1, "1,56").correct
    assert exercise.score == (2, 3)
    unreadable = exercise.answer(0, "twelve")
    assert not unreadable.correct and "Expected for example 12x12x10. Received: 'twelve'" in unreadable.message
    assert exercise.score == (2, 3)


def test_an_exercise_refuses_a_network_with_errors():
    spec = NetworkSpec((4, 4, 1), [LayerSpec("conv", "Conv2D", {"filters": 2, "kernel_size": 7})])
    with pytest.raises(ValueError, match="An exercise needs a network without errors"):
        exercises.exercise_for(spec)


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_generated_exercises_always_have_a_valid_answer_and_cover_the_course_cases(difficulty):
    seen = {"stride": False, "padding": False, "dilation": False, "pool": False, "unused": False}
    for seed in range(40):
        exercise = exercises.generate(difficulty, seed)
        summary = infer(exercise.spec)
        assert summary.ok
        for q in exercise.questions:
            info = summary.layer(q.layer)
            assert q.answer == (tuple(info.output_shape) if q.kind == "output_shape" else info.params)
            assert exercise.answer(exercise.questions.index(q), exercises._format(q.answer)).correct
        for layer in exercise.spec.layers:
            p = layer.params
            seen["stride"] |= p.get("strides", 1) not in (1, None) and "filters" in p
            seen["padding"] |= p.get("padding") not in (None, "valid", 0)
            seen["dilation"] |= p.get("dilation_rate", 1) > 1
            seen["pool"] |= "pool_size" in p
        seen["unused"] |= any("unused" in w.message for w in summary.warnings())
    assert seen["pool"] and seen["padding"]
    if difficulty >= 2:
        assert seen["stride"] and seen["unused"]
    if difficulty == 3:
        assert seen["dilation"]
    assert exercises.generate(difficulty, 7).spec.to_dict() == exercises.generate(difficulty, 7).spec.to_dict()
    with pytest.raises(ValueError, match="Expected one of \\[1, 2, 3\\]. Received: difficulty=4"):
        exercises.generate(4)


def test_the_summary_command_shows_the_comparison_in_text_and_json(capsys):
    from cnnstudio.cli import main

    network = ["summary", "--input", "224,224,3", "Conv2D(filters=3, kernel_size=3, padding='same')"]
    main(network)
    text = capsys.readouterr().out
    assert "Why convolution" in text
    assert "(224*224*3) * (224*224*3) + 224*224*3 = 22,658,829,312 parameters, 269,747,968x its 84" in text
    main([*network, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["dense_equivalent"]["conv2d_1"]["dense_params"] == 22_658_829_312
