"""Our layers under KERAS_BACKEND=jax against keras.layers: forward and gradients (x and weights).

Run by tests/test_layers_jax.py in a process of its own where JAX is installed (e.g. a GPU
machine); the main suite runs on TensorFlow.
"""
import itertools
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import jax
import jax.numpy as jnp
import keras
import numpy as np

import layers

rng = np.random.default_rng(0)
checked = 0

def grads(layer, x, w, r):
    def f(x, w):
        y, _ = layer.stateless_call(w, [], x)
        return jnp.sum(y * r)
    return jax.grad(f, argnums=(0, 1))(x, w)

def compare(ours, ref, x):
    global checked
    ours.build(x.shape)
    ref.build(x.shape)
    ref.set_weights(ours.get_weights())
    y1, y2 = np.asarray(ours(x)), np.asarray(ref(x))
    assert y1.shape == y2.shape, (y1.shape, y2.shape)
    tol = 1e-5 * max(1.0, float(np.abs(y2).max()))
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=tol)
    r = rng.standard_normal(y1.shape).astype("float32")
    w = [jnp.asarray(v) for v in ours.get_weights()]
    gx1, gw1 = grads(ours, jnp.asarray(x), w, r)
    gx2, gw2 = grads(ref, jnp.asarray(x), w, r)
    np.testing.assert_allclose(gx1, gx2, rtol=1e-5, atol=1e-4 * max(1.0, float(np.abs(gx2).max())))
    for a, b in zip(gw1, gw2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4 * max(1.0, float(np.abs(b).max())))
    checked += 1

for (size, k, s, d, pad, cin, f) in itertools.product((7, 8), (1, 3), (1, 2), (1, 2), ("valid", "same"), (1, 3), (4,)):
    if s > 1 and d > 1:
        continue
    x = rng.standard_normal((2, size, size, cin)).astype("float32")
    compare(layers.Conv2D(f, k, strides=s, dilation_rate=d, padding=pad),
            keras.layers.Conv2D(f, k, strides=s, dilation_rate=d, padding=pad), x)
    x1 = rng.standard_normal((2, size + 5, cin)).astype("float32")
    compare(layers.Conv1D(f, k, strides=s, dilation_rate=d, padding=pad),
            keras.layers.Conv1D(f, k, strides=s, dilation_rate=d, padding=pad), x1)
for (size, p, s, pad) in itertools.product((7, 8), (2, 3), (None, 1, 2), ("valid", "same")):
    x = rng.standard_normal((2, size, size, 3)).astype("float32")
    compare(layers.MaxPool2D(p, strides=s, padding=pad), keras.layers.MaxPooling2D(p, strides=s, padding=pad), x)
    compare(layers.AvgPool2D(p, strides=s, padding=pad), keras.layers.AveragePooling2D(p, strides=s, padding=pad), x)
    x1 = rng.standard_normal((2, size + 3, 3)).astype("float32")
    compare(layers.MaxPool1D(p, strides=s, padding=pad), keras.layers.MaxPooling1D(p, strides=s, padding=pad), x1)
x = rng.standard_normal((2, 5, 6, 3)).astype("float32")
compare(layers.GlobalMaxPool2D(), keras.layers.GlobalMaxPooling2D(), x)
compare(layers.GlobalAvgPool2D(), keras.layers.GlobalAveragePooling2D(), x)
# transposed, depthwise and grouped convolutions: a few configurations (each compiles anew)
for (size, k, s, pad, op) in ((4, 3, 2, "same", None), (5, 2, 2, "valid", 1), (4, 3, 1, "valid", None)):
    x = rng.standard_normal((2, size, size + 1, 3)).astype("float32")
    compare(layers.Conv2DTranspose(4, k, strides=s, padding=pad, output_padding=op),
            keras.layers.Conv2DTranspose(4, k, strides=s, padding=pad, output_padding=op), x)
    x1 = rng.standard_normal((2, size + 2, 3)).astype("float32")
    compare(layers.Conv1DTranspose(4, k, strides=s, padding=pad, output_padding=op),
            keras.layers.Conv1DTranspose(4, k, strides=s, padding=pad, output_padding=op), x1)
for (size, k, s, pad, m) in ((7, 3, 2, "same", 2), (8, 3, 1, "valid", 1)):
    x = rng.standard_normal((2, size, size, 6)).astype("float32")
    compare(layers.DepthwiseConv2D(k, strides=s, padding=pad, depth_multiplier=m),
            keras.layers.DepthwiseConv2D(k, strides=s, padding=pad, depth_multiplier=m), x)
    compare(layers.Conv2D(6, k, strides=s, padding=pad, groups=3),
            keras.layers.Conv2D(6, k, strides=s, padding=pad, groups=3), x)
# batch normalization's training step: outputs, moving statistics and gradients (x and gamma, beta)
def training_step(layer, x, w, r):
    def f(x, w):
        y, moving = layer.stateless_call(w, [v.value for v in layer.non_trainable_variables], x, training=True)
        return jnp.sum(y * r), (y, moving)
    (_, (y, moving)), g = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(x, w)
    return [y, *moving, g[0], *g[1]]

for kwargs, shape in (({}, (8, 5, 6, 7)), ({"center": False, "momentum": 0.5}, (16, 5)), ({"scale": False}, (4, 9, 3))):
    ours, ref = layers.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    ours.build(shape)
    ref.build(shape)
    ref.set_weights([rng.normal(1.0, 0.3, v.shape).astype("float32") for v in ref.get_weights()])
    ours.set_weights(ref.get_weights())
    x = jnp.asarray(rng.normal(1.5, 3.0, shape).astype("float32"))
    r = rng.standard_normal(shape).astype("float32")
    w = [v.value for v in ours.trainable_variables]
    got, want = training_step(ours, x, w, r), training_step(ref, x, w, r)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(b).max())))
    checked += 1
# a whole model trains (jit-compiled, as JAX always is)
m = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(8, 3, padding=1, activation="relu"), layers.MaxPool2D(2),
                      layers.Conv2D(16, 3, padding="same"), layers.BatchNormalization(), layers.GlobalAvgPool2D(), keras.layers.Dense(10)])
m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
h = m.fit(rng.random((256, 8, 8, 1)).astype("float32"), rng.integers(0, 10, 256), epochs=3, verbose=0)
print(f"jax backend: {checked} layer configurations equal keras.layers (forward and gradients); "
      f"model loss {h.history['loss'][0]:.3f} -> {h.history['loss'][-1]:.3f}")
