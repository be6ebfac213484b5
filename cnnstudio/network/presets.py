"""Ready-made networks: the classics to study and two small ones to train in seconds.

Each factory takes ``input_shape`` and ``num_classes`` (None: the network's own) and returns
a fresh :class:`NetworkSpec` whose output is ``Dense(num_classes, softmax)``, except the
denoising autoencoder, whose output is an image of its input's shape. With their
published input and 1000 classes the classics match their published parameter counts:
LeNet-5 61,706 (32x32x1, 10 classes); AlexNet 61,100,840 (torchvision's single-tower layout:
11x11/4 pad 2, 64-192-384-256-256, the adaptive 6x6 pool being the identity at 224);
VGG16 138,357,544 (as ``keras.applications.VGG16``); ResNet-18 11,689,512 trainable
(torchvision's layout; Keras' batch normalization adds 9,600 non-trainable moving
statistics, 11,699,112 in all).
"""

from __future__ import annotations

from collections.abc import Callable

from cnnstudio.network.spec import LayerSpec, NetworkSpec, SpecError, suggest


class _Chain:
    """Builds a spec layer by layer; a layer without a name gets the next free one."""

    def __init__(self, input_shape, name):
        self.spec = NetworkSpec(input_shape=tuple(input_shape), layers=[], name=name)

    def add(self, type_name: str, name: str | None = None, inputs=(), **params) -> str:
        name = name or self.spec.unique_name(type_name)
        self.spec.layers.append(LayerSpec(name=name, type=type_name, params=params, inputs=list(inputs)))
        return name

    @property
    def last(self) -> str:
        return self.spec.layers[-1].name


def _shape(input_shape, default, rank: int | None = None) -> tuple[int, ...]:
    shape = tuple(default if input_shape is None else input_shape)
    if rank is not None and len(shape) != rank + 1:
        raise SpecError("input_shape", f"this preset takes {'(height, width, channels)' if rank == 2 else '(length, channels)'}, "
                                       f"received {shape!r}")
    return shape


def _classifier_head(c: _Chain, hidden: str, units: int, activation: str, num_classes) -> None:
    """Flatten, one hidden Dense layer and the softmax over the classes (10 unless told)."""
    c.add("Flatten", "flatten")
    c.add("Dense", hidden, units=units, activation=activation)
    c.add("Dense", "output", units=num_classes or 10, activation="softmax")


def lenet5(input_shape=None, num_classes=None) -> NetworkSpec:
    """LeCun et al. 1998: tanh convolutions and average pooling."""
    c = _Chain(_shape(input_shape, (32, 32, 1), 2), "lenet5")
    c.add("Conv2D", "c1", filters=6, kernel_size=5, activation="tanh")
    c.add("AvgPool2D", "s2", pool_size=2)
    c.add("Conv2D", "c3", filters=16, kernel_size=5, activation="tanh")
    c.add("AvgPool2D", "s4", pool_size=2)
    c.add("Conv2D", "c5", filters=120, kernel_size=5, activation="tanh")
    _classifier_head(c, "f6", 84, "tanh", num_classes)
    return c.spec


def alexnet(input_shape=None, num_classes=None) -> NetworkSpec:
    """Krizhevsky et al. 2012 as torchvision has it: one tower, no local response normalisation."""
    c = _Chain(_shape(input_shape, (224, 224, 3), 2), "alexnet")
    c.add("Conv2D", "conv1", filters=64, kernel_size=11, strides=4, padding=2)
    c.add("MaxPool2D", "pool1", pool_size=3, strides=2)
    c.add("Conv2D", "conv2", filters=192, kernel_size=5, padding=2)
    c.add("MaxPool2D", "pool2", pool_size=3, strides=2)
    c.add("Conv2D", "conv3", filters=384, kernel_size=3, padding=1)
    c.add("Conv2D", "conv4", filters=256, kernel_size=3, padding=1)
    c.add("Conv2D", "conv5", filters=256, kernel_size=3, padding=1)
    c.add("MaxPool2D", "pool5", pool_size=3, strides=2)
    c.add("Flatten", "flatten")
    c.add("Dropout", "drop6", rate=0.5)
    c.add("Dense", "fc6", units=4096, activation="relu")
    c.add("Dropout", "drop7", rate=0.5)
    c.add("Dense", "fc7", units=4096, activation="relu")
    c.add("Dense", "output", units=num_classes or 1000, activation="softmax")
    return c.spec


def vgg16(input_shape=None, num_classes=None) -> NetworkSpec:
    """Simonyan and Zisserman 2014, configuration D: thirteen 3x3 convolutions in five blocks."""
    c = _Chain(_shape(input_shape, (224, 224, 3), 2), "vgg16")
    for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for k in range(1, convs + 1):
            c.add("Conv2D", f"block{block}_conv{k}", filters=filters, kernel_size=3, padding="same")
        c.add("MaxPool2D", f"block{block}_pool", pool_size=2)
    c.add("Flatten", "flatten")
    c.add("Dense", "fc1", units=4096, activation="relu")
    c.add("Dense", "fc2", units=4096, activation="relu")
    c.add("Dense", "output", units=num_classes or 1000, activation="softmax")
    return c.spec


def resnet18(input_shape=None, num_classes=None) -> NetworkSpec:
    """He et al. 2015, torchvision's layout: basic blocks, projection shortcuts with BN."""
    c = _Chain(_shape(input_shape, (224, 224, 3), 2), "resnet18")
    c.add("Conv2D", "conv1", filters=64, kernel_size=7, strides=2, padding=3, activation="linear",
          use_bias=False)
    c.add("BatchNormalization", "bn1")
    c.add("Activation", "relu1", activation="relu")
    c.add("MaxPool2D", "maxpool", pool_size=3, strides=2, padding=1)
    channels = 64
    for stage, filters in enumerate([64, 128, 256, 512], start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            prefix = f"layer{stage}_{block}"
            block_input = c.last
            c.add("Conv2D", f"{prefix}_conv1", filters=filters, kernel_size=3, strides=stride, padding=1,
                  activation="linear", use_bias=False)
            c.add("BatchNormalization", f"{prefix}_bn1")
            c.add("Activation", f"{prefix}_relu1", activation="relu")
            c.add("Conv2D", f"{prefix}_conv2", filters=filters, kernel_size=3, padding=1,
                  activation="linear", use_bias=False)
            residual = c.add("BatchNormalization", f"{prefix}_bn2")
            shortcut = block_input
            if stride != 1 or channels != filters:
                c.add("Conv2D", f"{prefix}_down", inputs=[block_input], filters=filters, kernel_size=1,
                      strides=stride, activation="linear", use_bias=False)
                shortcut = c.add("BatchNormalization", f"{prefix}_down_bn")
            c.add("Add", f"{prefix}_add", inputs=[residual, shortcut])
            c.add("Activation", f"{prefix}_relu2", activation="relu")
            channels = filters
    c.add("GlobalAvgPool2D", "avgpool")
    c.add("Dense", "output", units=num_classes or 1000, activation="softmax")
    return c.spec


def digits_cnn(input_shape=None, num_classes=None) -> NetworkSpec:
    """Small enough to train in seconds on scikit-learn's 8x8 digits, big enough to reach 90%+."""
    c = _Chain(_shape(input_shape, (8, 8, 1), 2), "digits-cnn")
    c.add("Conv2D", "conv1", filters=32, kernel_size=3, padding="same")
    c.add("Conv2D", "conv2", filters=64, kernel_size=3)
    c.add("MaxPool2D", "pool", pool_size=2)
    _classifier_head(c, "hidden", 64, "relu", num_classes)
    return c.spec


def mnist1d_cnn(input_shape=None, num_classes=None) -> NetworkSpec:
    """A 1D CNN for MNIST-1D: sequences of 40 steps, one channel."""
    c = _Chain(_shape(input_shape, (40, 1), 1), "mnist1d-cnn")
    c.add("Conv1D", "conv1", filters=32, kernel_size=5, padding="same")
    c.add("MaxPool1D", "pool1", pool_size=2)
    c.add("Conv1D", "conv2", filters=64, kernel_size=3, padding="same")
    c.add("MaxPool1D", "pool2", pool_size=2)
    c.add("Conv1D", "conv3", filters=64, kernel_size=3, padding="same")
    _classifier_head(c, "hidden", 64, "relu", num_classes)
    return c.spec


def denoising_autoencoder(input_shape=None, num_classes=None) -> NetworkSpec:
    """Two strided convolutions encode, two transposed ones decode back to the input's size.

    Trained on noisy copies of the images to reproduce the clean ones (mean squared error);
    the sigmoid keeps the reconstruction in [0, 1] like the pixels. ``num_classes`` is
    ignored: the output is an image of the input's shape. Height and width must divide by 4.
    """
    shape = _shape(input_shape, (8, 8, 1), 2)
    c = _Chain(shape, "denoising-autoencoder")
    c.add("Conv2D", "encode1", filters=16, kernel_size=3, strides=2, padding="same")
    c.add("Conv2D", "encode2", filters=32, kernel_size=3, strides=2, padding="same")
    c.add("Conv2DTranspose", "decode1", filters=16, kernel_size=3, strides=2, padding="same")
    c.add("Conv2DTranspose", "decode2", filters=shape[-1], kernel_size=3, strides=2, padding="same",
          activation="sigmoid")
    return c.spec


Factory = Callable[..., NetworkSpec]

PRESETS: dict[str, tuple[str, Factory]] = {
    "lenet5": ("LeNet-5 (1998): tanh convolutions and average pooling, 32x32x1, 61,706 parameters.", lenet5),
    "alexnet": ("AlexNet (2012), torchvision's layout: 224x224x3, 61,100,840 parameters.", alexnet),
    "vgg16": ("VGG16 (2014): thirteen 3x3 convolutions, 224x224x3, 138,357,544 parameters.", vgg16),
    "resnet18": ("ResNet-18 (2015): residual blocks with batch normalization, 11,689,512 trainable.",
                 resnet18),
    "digits-cnn": ("A small CNN for scikit-learn's 8x8 digits; trains in seconds.", digits_cnn),
    "mnist1d-cnn": ("A 1D CNN for MNIST-1D sequences of 40 steps.", mnist1d_cnn),
    "denoising-autoencoder": ("An encoder-decoder that learns to denoise 8x8 digits with transposed "
                              "convolutions (image to image, mean squared error).", denoising_autoencoder),
}


def names() -> list[str]:
    return list(PRESETS)


def get(name: str, input_shape=None, num_classes=None) -> NetworkSpec:
    """A fresh spec of preset ``name``; KeyError names the nearest preset."""
    if name not in PRESETS:
        raise KeyError(f'Unknown preset "{name}".{suggest(name, PRESETS)} Expected one of {", ".join(PRESETS)}.')
    return PRESETS[name][1](input_shape=input_shape, num_classes=num_classes)
