"""Shape arithmetic of convolution and pooling, shared by the layers and the GUI's preview.

Pure Python (no Keras, no TensorFlow), so that the GUI can show output shapes and the
formula behind each one without loading a backend. Every length may be ``None`` (unknown);
the result is then ``None`` too. The formulas are the course's:
``W2 = floor((W1 - F_eff + 2P) / S) + 1`` with ``F_eff = D*(F - 1) + 1``, and for "same"
``W2 = ceil(W1 / S)`` with the zeros split like TensorFlow (the extra one after).
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral

AXIS_NAMES = {1: ("length",), 2: ("height", "width")}

_PADDING_WORDS = ("valid", "same")


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _tuple_of(rank: int) -> str:
    return "a tuple of one integer" if rank == 1 else f"a tuple of {rank} integers"


def normalize_tuple(value, rank, arg_name, layer_name, minimum=1) -> tuple[int, ...]:
    """One int per spatial axis from an int or a sequence of ``rank`` ints, each >= minimum.

    Errors start with ``layer_name``; an empty name leaves just the argument's.
    """
    prefix = f"{layer_name}: " if layer_name else ""
    expected = f"an integer >= {minimum} or {_tuple_of(rank)} >= {minimum}"
    if _is_int(value):
        values = (int(value),) * rank
    elif isinstance(value, Iterable) and not isinstance(value, str):
        values = tuple(value)
        if len(values) != rank:
            raise ValueError(
                f"{prefix}{arg_name} needs one value per spatial axis "
                f"({', '.join(AXIS_NAMES.get(rank, ()))}). Expected {expected}. "
                f"Received: {arg_name}={value!r}"
            )
        if not all(_is_int(v) for v in values):
            raise ValueError(
                f"{prefix}{arg_name} must hold integers. Expected {expected}. "
                f"Received: {arg_name}={value!r}"
            )
        values = tuple(int(v) for v in values)
    else:
        raise ValueError(
            f"{prefix}{arg_name} must be an integer or a tuple of integers. "
            f"Expected {expected}. Received: {arg_name}={value!r}"
        )
    if any(v < minimum for v in values):
        raise ValueError(
            f"{prefix}{arg_name} must be at least {minimum} on every axis. "
            f"Expected {expected}. Received: {arg_name}={value!r}"
        )
    return values


def normalize_padding(padding, rank, layer_name) -> str | tuple[int, ...]:
    """"valid", "same", or one explicit zero padding (on each side) per spatial axis."""
    expected = f'"valid", "same", an integer >= 0 or {_tuple_of(rank)} >= 0'
    if isinstance(padding, str):
        word = padding.lower()
        if word not in _PADDING_WORDS:
            raise ValueError(
                f"{layer_name}: padding {padding!r} is not a padding mode. Expected {expected}. "
                f"Received: padding={padding!r}"
            )
        return word
    try:
        return normalize_tuple(padding, rank, "padding", layer_name, minimum=0)
    except ValueError:
        raise ValueError(
            f"{layer_name}: padding must be a mode or a number of zeros per side that is not "
            f"negative. Expected {expected}. Received: padding={padding!r}"
        ) from None


def effective_kernel_size(kernel, dilation) -> int:
    """The extent a dilated kernel covers: ``D*(F - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def axis_padding(length, kernel, stride, dilation, padding) -> tuple[int, int] | None:
    """Zeros added (before, after) on one axis; None when "same" needs an unknown length."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        if length is None:
            return None
        output = -(-length // stride)
        total = max((output - 1) * stride + effective_kernel_size(kernel, dilation) - length, 0)
        return (total // 2, total - total // 2)
    return (padding, padding)


def axis_output_length(length, kernel, stride, dilation, padding) -> int | None:
    """Output length on one axis (None if unknown); <= 0 when the window does not fit."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    explicit = 0 if padding == "valid" else padding
    return (length - effective_kernel_size(kernel, dilation) + 2 * explicit) // stride + 1


def axis_formula(length, kernel, stride, dilation, padding) -> str:
    """The course formula with this axis' numbers, e.g. "floor((32 - 5 + 2*2) / 1) + 1 = 32"."""
    result = axis_output_length(length, kernel, stride, dilation, padding)
    if padding == "same":
        return f"ceil({length} / {stride}) = {result}"
    extent = effective_kernel_size(kernel, dilation)
    zeros = "" if padding == "valid" else f" + 2*{padding}"
    return f"floor(({length} - {extent}{zeros}) / {stride}) + 1 = {result}"


def _check_input_rank(input_shape, rank, layer_name, what):
    input_shape = tuple(input_shape)
    if len(input_shape) != rank + 2:
        axes = ", ".join(("batch",) + AXIS_NAMES[rank] + ("channels",))
        raise ValueError(
            f"{layer_name}: {what} takes inputs of rank {rank + 2} ({axes}). "
            f"Expected an input shape with {rank + 2} entries. Received: input_shape={input_shape}"
        )
    return input_shape


def require_known_channels(input_shape, rank, layer_name) -> None:
    """Refuse to build weights on an unknown number of channels (height and width may be None)."""
    if tuple(input_shape)[-1] is None:
        names = ", ".join(AXIS_NAMES[rank])
        raise ValueError(
            f"{layer_name}: the input's channels must be known to build the layer's weights. "
            f"Expected an input shape like (batch, {names}, channels) with a number of channels "
            f"(the {names} may be None). Received: input_shape={tuple(input_shape)}"
        )


def _spatial_rank(input_shape, window, layer_name) -> int:
    rank = len(tuple(input_shape)) - 2 if _is_int(window) else len(tuple(window))
    if rank not in AXIS_NAMES:
        raise ValueError(
            f"{layer_name}: only 1D and 2D windows exist here. Expected inputs of rank 3 or 4. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return rank


def _checked_window_arguments(
    input_shape, filters, kernel_size, strides, dilation_rate, padding, layer_name, what
) -> tuple:
    """The checks and normalisation shared by the convolution and transposed-convolution shapes.

    Returns (rank, input_shape, kernel, stride, dilation, padding) with each argument a tuple per axis.
    """
    rank = _spatial_rank(input_shape, kernel_size, layer_name)
    input_shape = _check_input_rank(input_shape, rank, layer_name, what)
    if not _is_int(filters) or filters < 1:
        raise ValueError(
            f"{layer_name}: filters must be a positive integer. Expected filters >= 1. "
            f"Received: filters={filters!r}"
        )
    kernel = normalize_tuple(kernel_size, rank, "kernel_size", layer_name)
    stride = normalize_tuple(strides, rank, "strides", layer_name)
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate", layer_name)
    return rank, input_shape, kernel, stride, dilation, normalize_padding(padding, rank, layer_name)


def conv_output_shape(
    input_shape, filters, kernel_size, strides, dilation_rate, padding, layer_name
) -> tuple:
    """(batch, *spatial, filters) of a convolution; ValueError if the kernel does not fit."""
    rank, input_shape, kernel, stride, dilation, padding = _checked_window_arguments(
        input_shape, filters, kernel_size, strides, dilation_rate, padding, layer_name,
        "a convolution",
    )
    spatial = []
    for axis, name in enumerate(AXIS_NAMES[rank]):
        pad = padding if isinstance(padding, str) else padding[axis]
        length = input_shape[axis + 1]
        extent = effective_kernel_size(kernel[axis], dilation[axis])
        if length is not None and pad != "same":
            padded = length + 2 * (0 if pad == "valid" else pad)
            if extent > padded:
                raise ValueError(
                    f"{layer_name}: the dilated kernel of extent {extent} exceeds the padded "
                    f"input of {padded} on axis {name}. Expected dilation_rate*(kernel_size-1)+1 "
                    f"<= input + 2*padding: use a smaller kernel_size or dilation_rate, more "
                    f"padding, or padding=\"same\". Received: input_shape={input_shape}, "
                    f"kernel_size={kernel}, dilation_rate={dilation}, padding={padding!r}"
                )
        spatial.append(axis_output_length(length, kernel[axis], stride[axis], dilation[axis], pad))
    return (input_shape[0], *spatial, filters)


def pool_output_shape(input_shape, pool_size, strides, padding, layer_name) -> tuple:
    """(batch, *spatial, channels) of a pooling; ValueError if the window does not fit.

    ``strides=None`` means "as pool_size". Explicit padding must stay below the window size
    on each axis, so that every window holds at least one real cell.
    """
    rank = _spatial_rank(input_shape, pool_size, layer_name)
    input_shape = _check_input_rank(input_shape, rank, layer_name, "a pooling")
    window = normalize_tuple(pool_size, rank, "pool_size", layer_name)
    stride = window if strides is None else normalize_tuple(strides, rank, "strides", layer_name)
    padding = normalize_padding(padding, rank, layer_name)
    spatial = []
    for axis, name in enumerate(AXIS_NAMES[rank]):
        pad = padding if isinstance(padding, str) else padding[axis]
        length = input_shape[axis + 1]
        if not isinstance(pad, str) and pad >= window[axis]:
            raise ValueError(
                f"{layer_name}: padding of {pad} would make windows of padding only on axis "
                f"{name}. Expected padding < pool_size ({window[axis]}) on every axis. "
                f"Received: padding={padding!r}, pool_size={window}"
            )
        if length is not None and pad != "same":
            padded = length + 2 * (0 if pad == "valid" else pad)
            if window[axis] > padded:
                raise ValueError(
                    f"{layer_name}: the pool window of {window[axis]} exceeds the padded input "
                    f"of {padded} on axis {name}. Expected pool_size <= input + 2*padding: use a "
                    f"smaller pool_size or padding=\"same\". Received: input_shape={input_shape}, "
                    f"pool_size={window}, padding={padding!r}"
                )
        spatial.append(axis_output_length(length, window[axis], stride[axis], 1, pad))
    return (input_shape[0], *spatial, input_shape[-1])


DATA_FORMATS = ("channels_last", "channels_first")


def normalize_data_format(data_format, layer_name) -> str:
    """"channels_last" or "channels_first" (the configs of keras.layers always carry one)."""
    word = data_format.lower() if isinstance(data_format, str) else data_format
    if word not in DATA_FORMATS:
        raise ValueError(
            f"{layer_name}: data_format {data_format!r} is not a data format. Expected "
            f'"channels_last" (batch, spatial..., channels) or "channels_first" (batch, '
            f"channels, spatial...). Received: data_format={data_format!r}"
        )
    return word


def normalize_output_padding(output_padding, rank, strides, layer_name):
    """None (the padding mode decides) or one int >= 0 per axis, each below that axis' stride.

    Keras' rule: output padding only picks among the output lengths that a stride leaves
    ambiguous, so it must stay under the stride.
    """
    if output_padding is None:
        return None
    values = normalize_tuple(output_padding, rank, "output_padding", layer_name, minimum=0)
    for axis, (extra, stride) in enumerate(zip(values, strides, strict=True)):
        if extra >= stride:
            raise ValueError(
                f"{layer_name}: output_padding must be smaller than the stride on axis "
                f"{AXIS_NAMES[rank][axis]}. Expected output_padding < strides ({stride}): use "
                f"a smaller output_padding or a larger stride. Received: "
                f"output_padding={values}, strides={tuple(strides)}"
            )
    return values


def transpose_axis_geometry(kernel, stride, dilation, padding, output_padding) -> tuple[int, int]:
    """(crop, offset) of a transposed convolution on one axis.

    The full result of scattering ``n`` inputs has ``(n - 1)*S + D*(F - 1) + 1`` cells; the
    output is its cells ``crop ... crop + L - 1`` with ``L = n*S + offset`` (cells past the
    full result are zeros). "valid" crops nothing, an explicit P crops P on each side, and
    "same" crops like TensorFlow's convolution gradient (the smaller half before), so that
    ``L = n*S``. ``output_padding`` (< S) adds cells at the end.
    """
    extent = effective_kernel_size(kernel, dilation)
    if padding == "valid":
        extra = max(extent, stride) - extent if output_padding is None else output_padding
        return 0, extent + extra - stride
    if padding == "same":
        offset = 0 if output_padding is None else extent % 2 + output_padding - stride
        return max(extent - stride - offset, 0) // 2, offset
    return padding, extent - 2 * padding + (output_padding or 0) - stride


def axis_transpose_output_length(
    length, kernel, stride, dilation, padding, output_padding=None
) -> int | None:
    """Output length of a transposed convolution on one axis (None if unknown)."""
    if length is None:
        return None
    _, offset = transpose_axis_geometry(kernel, stride, dilation, padding, output_padding)
    return length * stride + offset


def axis_transpose_formula(length, kernel, stride, dilation, padding, output_padding=None) -> str:
    """The course formula W2 = (W1 - 1)*S - 2P + D*(F - 1) + output_padding + 1 with numbers.

    "same" without output_padding is shown as ``W1*S``; an unknown length is written W1.
    """
    result = axis_transpose_output_length(length, kernel, stride, dilation, padding, output_padding)
    shown = "W1" if length is None else str(length)
    tail = "" if result is None else f" = {result}"
    if padding == "same" and output_padding is None:
        return f"{shown}*{stride}{tail}"
    crop, offset = transpose_axis_geometry(kernel, stride, dilation, padding, output_padding)
    extra = offset - (effective_kernel_size(kernel, dilation) - 2 * crop - stride)
    zeros = f" - 2*{crop}" if crop else ""
    if extra < 0:
        return f"({shown} - 1)*{stride}{zeros} + {dilation}*({kernel} - 1) - {-extra} + 1{tail}"
    return f"({shown} - 1)*{stride}{zeros} + {dilation}*({kernel} - 1) + {extra} + 1{tail}"


def conv_transpose_output_shape(
    input_shape, filters, kernel_size, strides, dilation_rate, padding, output_padding, layer_name
) -> tuple:
    """(batch, *spatial, filters) of a transposed convolution; ValueError if nothing is left."""
    rank, input_shape, kernel, stride, dilation, padding = _checked_window_arguments(
        input_shape, filters, kernel_size, strides, dilation_rate, padding, layer_name,
        "a transposed convolution",
    )
    extra = normalize_output_padding(output_padding, rank, stride, layer_name)
    spatial = []
    for axis, name in enumerate(AXIS_NAMES[rank]):
        pad = padding if isinstance(padding, str) else padding[axis]
        op = None if extra is None else extra[axis]
        length = axis_transpose_output_length(
            input_shape[axis + 1], kernel[axis], stride[axis], dilation[axis], pad, op
        )
        if length is not None and length < 1:
            raise ValueError(
                f"{layer_name}: cropping {pad} cells from each side of axis {name} leaves no "
                f"output. Expected (W1 - 1)*S - 2P + D*(F - 1) + output_padding + 1 >= 1: use "
                f"less padding. Received: input_shape={input_shape}, kernel_size={kernel}, "
                f"strides={stride}, padding={padding!r}"
            )
        spatial.append(length)
    return (input_shape[0], *spatial, filters)


def axis_symbol(symbol: str, kernel, stride, dilation, padding) -> str:
    """The output length of a window over an axis of unknown length ``symbol``, as a formula.

    E.g. ``ceil(H / 2)`` for "same" at stride 2, ``H - 2`` for a valid 3-wide kernel at
    stride 1, ``floor((H - 5 + 2*1) / 2) + 1`` in general.
    """
    if padding == "same":
        return symbol if stride == 1 else f"ceil({_grouped(symbol)} / {stride})"
    explicit = 0 if padding == "valid" else padding
    shrink = effective_kernel_size(kernel, dilation) - 1 - 2 * explicit
    if stride == 1:
        return symbol if shrink == 0 else f"{symbol} {'-' if shrink > 0 else '+'} {abs(shrink)}"
    zeros = f" + 2*{explicit}" if explicit else ""
    return f"floor(({symbol} - {effective_kernel_size(kernel, dilation)}{zeros}) / {stride}) + 1"


def axis_transpose_symbol(symbol: str, kernel, stride, dilation, padding, output_padding=None) -> str:
    """The output length of a transposed convolution over an axis of unknown length ``symbol``."""
    _, offset = transpose_axis_geometry(kernel, stride, dilation, padding, output_padding)
    scaled = symbol if stride == 1 else f"{_grouped(symbol)}*{stride}"
    return scaled if offset == 0 else f"{scaled} {'-' if offset < 0 else '+'} {abs(offset)}"


def _grouped(symbol: str) -> str:
    """``symbol`` in parentheses unless it is one name or one call, so that it can be multiplied."""
    if symbol.isidentifier():
        return symbol
    head, _, _ = symbol.partition("(")
    if head.isidentifier() and symbol.endswith(")"):
        depth = 0
        for position, char in enumerate(symbol):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and char == ")":
                if position == len(symbol) - 1:
                    return symbol
                break
    return f"({symbol})"
