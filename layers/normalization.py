"""BatchNormalization whose training step sums its channels the way XLA on CPU does fast.

It is ``keras.layers.BatchNormalization`` (same weights, config, inference graph and
exports) except for one path: training on float32 channels-last tensors without a mask,
renorm or synchronized statistics. There the batch moments are ``sum_to_channels`` slabs,
and the backward pass is written out (``_normalize``), so that its two sums over the cells
are slabs too instead of the reductions autodiff derives from the broadcasts. XLA on CPU
reduces such long leading axes slowly (see ``layers.reductions``): in the ResNet-style
network of ``benchmarks/bench_models.py`` (five batch normalizations) the training step
with XLA went from 1.16x to 1.07x Keras' own network's (in-process A/B, 9 rounds).
Everything else, inference included, is Keras' own ``call``.
"""

from __future__ import annotations

import keras
from keras import ops

from layers.reductions import sum_to_channels


def _normalize(x, mean, variance, gamma, beta, epsilon):
    """``(x - mean) / sqrt(variance + epsilon) * gamma + beta`` for batch statistics.

    ``mean`` and ``variance`` are the batch's own, computed from ``x`` outside (without a
    gradient): the gradient of ``x`` here includes their dependence on it, so they get none.
    """

    @ops.custom_gradient
    def normalize(x, mean, variance, gamma, beta):
        inverse = ops.rsqrt(ops.add(variance, epsilon))
        scale = ops.multiply(inverse, gamma)
        outputs = ops.add(ops.multiply(x, scale), ops.subtract(beta, ops.multiply(mean, scale)))

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            cells = ops.cast(ops.size(x) // x.shape[-1], x.dtype)
            normalized = ops.multiply(ops.subtract(x, mean), inverse)
            beta_grad = sum_to_channels(upstream)
            gamma_grad = sum_to_channels(ops.multiply(upstream, normalized))
            mean_part = ops.add(beta_grad, ops.multiply(normalized, gamma_grad))
            x_grad = ops.multiply(scale, ops.subtract(upstream, ops.divide(mean_part, cells)))
            none = ops.zeros_like(mean)
            return x_grad, none, none, gamma_grad, beta_grad

        return outputs, grad

    return normalize(x, mean, variance, gamma, beta)


@keras.saving.register_keras_serializable(package="cnnstudio")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with a training step XLA runs faster on CPU."""

    def _sums_channels(self, inputs, training, mask) -> bool:
        rank = len(inputs.shape)
        return bool(
            training and self.trainable and mask is None and not self.renorm
            and not self.synchronized and self.axis in (-1, rank - 1)
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.compute_dtype == "float32"
        )

    def call(self, inputs, training=None, mask=None):
        if not self._sums_channels(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        constant = ops.stop_gradient(inputs)
        cells = ops.cast(ops.size(inputs) // inputs.shape[-1], inputs.dtype)
        mean = ops.divide(sum_to_channels(constant), cells)
        variance = ops.divide(sum_to_channels(ops.square(ops.subtract(constant, mean))), cells)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        gamma = ops.cast(self.gamma, inputs.dtype) if self.scale else ops.ones_like(mean)
        beta = ops.cast(self.beta, inputs.dtype) if self.center else ops.zeros_like(mean)
        return _normalize(inputs, mean, variance, gamma, beta, self.epsilon)
