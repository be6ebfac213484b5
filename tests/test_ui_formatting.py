"""How the window writes shapes, counts and receptive fields (pure text)."""

from ui.formatting import format_count, format_receptive_field, format_shape


def test_shapes_and_counts_read_like_the_course():
    assert format_shape((32, 32, 10)) == "32×32×10"
    assert format_shape(None) == "?"
    assert format_count(760) == "760"
    assert format_count(36_928) == "36,928"


def test_every_count_has_one_style_with_the_exact_value_for_tooltips():
    from ui.formatting import exact_count

    assert [format_count(n) for n in (4_097_000, 102_764_544, 1_849_688_064, 15_470_264_320)] == \
        ["4.10 M", "103 M", "1.85 G", "15.5 G"]
    assert format_count(138_357_544) == "138 M"
    assert exact_count(1_849_688_064) == "1,849,688,064"


def test_a_receptive_field_inside_the_input_is_its_size():
    assert format_receptive_field((5, 5), (8, 8, 1)) == "5×5"
    assert format_receptive_field((), (8, 8, 1)) == ""


def test_a_field_spanning_the_input_says_it_sees_all_of_it():
    assert format_receptive_field((10, 10), (8, 8, 1)) == "10×10 (whole 8×8 input)"
    assert format_receptive_field((40,), (40, 1)) == "40 (whole 40 input)"
