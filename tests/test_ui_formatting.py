"""How the window writes shapes, counts and receptive fields (pure text)."""

from ui.formatting import format_count, format_receptive_field, format_shape


def test_shapes_and_counts_read_like_the_course():
    assert format_shape((32, 32, 10)) == "32×32×10"
    assert format_shape(None) == "?"
    assert format_count(760) == "760"
    assert format_count(138_357_544) == "138.4M"


def test_a_receptive_field_inside_the_input_is_its_size():
    assert format_receptive_field((5, 5), (8, 8, 1)) == "5×5"
    assert format_receptive_field((), (8, 8, 1)) == ""


def test_a_field_spanning_the_input_says_it_sees_all_of_it():
    assert format_receptive_field((10, 10), (8, 8, 1)) == "10×10 (whole 8×8 input)"
    assert format_receptive_field((40,), (40, 1)) == "40 (whole 40 input)"
