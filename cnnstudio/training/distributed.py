"""Training one model on several replicas: a custom loop under ``tf.distribute`` (TensorFlow only).

Why this route and not ``model.fit``: Keras 3's ``fit`` does not support
``tf.distribute.MultiWorkerMirroredStrategy`` (keras-team/keras#20585, open): with two
workers the first step fails with "Attempt to convert a value (PerReplica:{...}) with an
unsupported type", and the chief then saved an untrained model. Keras' own distribution API
(``keras.distribution``) is the other supported route, but it needs the JAX backend, and
the studio's training, devices and export run on TensorFlow. So the step is ours:
``strategy.run`` of a replica step that takes gradients with ``tf.GradientTape``, scales the
loss by the global batch (``tf.nn.compute_average_loss``), and applies them with the Keras
optimizer's ``apply_gradients``, which sums them across replicas in its merge call. The
same loop serves ``MirroredStrategy`` over several devices of one machine, so every
multi-replica run takes one path.

XLA: the replica's forward and backward pass is an XLA-compiled function of its own;
the all-reduce and the update stay outside it (XLA cannot compile the collectives).

The loop drives Keras callbacks like ``fit`` does (``on_train_batch_end`` with the running
epoch means, ``on_epoch_end`` with ``val_`` metrics), so ``train()``'s progress, Stop, NaN
checks and timeline work unchanged. ``model.stop_training`` (Stop, Ctrl-C, a NaN loss) is
sent along with the next step and summed over every replica, so all workers end at the same
step (one batch after the request) and skip validation then.
"""

from __future__ import annotations

import math

import numpy as np


def fit(model, train_data, validation, settings, strategy, loss, optimizer, callbacks, jit_compile: bool,
        classify: bool = True) -> bool:
    """Train ``model`` (built in ``strategy.scope()``) on ``train_data`` = (inputs, targets)
    for ``settings.epochs``, validating on the ``validation`` pair (or None) after each epoch.

    ``loss`` is the Keras loss ``fit`` would use; its per-example values (mean over any
    non-batch axes) are averaged over the global batch. ``classify`` adds accuracy (integer
    labels); an image-to-image network (targets are images) reports its loss alone.
    ``settings.batch_size`` is the global batch: each of the strategy's replicas takes its
    share, so a run means the same steps on one device or many. The last partial batch of
    an epoch is dropped, so every replica and worker takes the same number of steps.
    Returns True when a stop (asked here or on another worker) ended the run early.
    """
    import keras
    import tensorflow as tf

    x_train, y_train = train_data
    if classify:
        y_train = y_train.astype(np.int32)
    replicas = strategy.num_replicas_in_sync
    global_batch = settings.batch_size
    if global_batch < replicas:
        raise ValueError(
            f"Batch size {global_batch} is smaller than the {replicas} replicas it is split over. "
            f"Expected a batch size of at least {replicas}. Received: batch_size={global_batch}"
        )
    steps = len(x_train) // global_batch
    if steps == 0:
        raise ValueError(
            f"The {len(x_train)} training examples do not fill one batch of {global_batch}. "
            f"Expected a batch size of at most {len(x_train)}. Received: batch_size={global_batch}"
        )
    data = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    data = data.shuffle(len(x_train), seed=settings.seed, reshuffle_each_iteration=True)
    data = data.batch(global_batch, drop_remainder=True).repeat()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    iterator = iter(strategy.experimental_distribute_dataset(data.with_options(options)))

    unreduced = type(loss).from_config({**loss.get_config(), "reduction": None})

    def per_example(y, outputs):
        values = unreduced(y, outputs)
        return tf.reduce_mean(tf.reshape(values, (tf.shape(values)[0], -1)), axis=1)

    def count_correct(y, outputs):
        if not classify:
            return tf.constant(0.0)
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(outputs, -1, output_type=tf.int32), y), tf.float32))

    with strategy.scope():
        optimizer.build(model.trainable_variables)

    def forward_backward(x, y):
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            example_losses = per_example(y, tf.cast(outputs, tf.float32))
            replica_loss = tf.nn.compute_average_loss(example_losses, global_batch_size=global_batch)
            if model.losses:
                replica_loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(replica_loss, model.trainable_variables)
        return grads, replica_loss, count_correct(y, outputs)

    compute = tf.function(forward_backward, jit_compile=jit_compile)

    def replica_step(x, y, stop):
        grads, replica_loss, correct = compute(x, y)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return replica_loss, correct, tf.identity(stop)

    @tf.function
    def train_step(batch, stop):
        losses, correct, stops = strategy.run(replica_step, args=(*batch, stop))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, stops, axis=None))

    @tf.function
    def agree(stop):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(stop,)), axis=None)

    def wants_stop() -> tf.Tensor:
        return tf.constant(1.0 if model.stop_training else 0.0)

    evaluate = _evaluator(model, per_example, count_correct, classify, jit_compile)
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model, epochs=settings.epochs,
                                                 steps=steps, verbose=0)
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(settings.epochs):
        callback_list.on_epoch_begin(epoch)
        loss_sum = correct_sum = 0.0
        seen = 0
        logs: dict[str, float] = {}
        stopped = False
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            # Every worker must leave at the same step, or the others wait in the next
            # all-reduce for ever: a Stop on one (Ctrl-C on the chief) travels with the step
            # and all stop after it.
            step_loss, step_correct, step_stop = train_step(next(iterator), wants_stop())
            seen += global_batch
            loss_sum += float(step_loss) * global_batch
            correct_sum += float(step_correct)
            logs = {"loss": loss_sum / seen, **({"accuracy": correct_sum / seen} if classify else {})}
            callback_list.on_train_batch_end(step, logs)
            if float(step_stop) > 0:
                stopped = True
                break
        epoch_logs = dict(logs)
        if validation is not None and not stopped:
            epoch_logs.update(evaluate(*validation, global_batch))
        callback_list.on_epoch_end(epoch, epoch_logs)
        if stopped or float(agree(wants_stop())) > 0:  # all workers agree at each epoch's end too
            model.stop_training = True
            break
    callback_list.on_train_end()
    return model.stop_training


def _evaluator(model, per_example, count_correct, classify: bool, jit_compile: bool):
    """Validation loss (and accuracy) on this process alone: the replicas' weights are equal,
    so every worker computes the same numbers without a collective."""
    import tensorflow as tf

    def batch_sums(x, y):
        outputs = tf.cast(model(x, training=False), tf.float32)
        return tf.reduce_sum(per_example(y, outputs)), count_correct(y, outputs)

    compiled = tf.function(batch_sums, jit_compile=jit_compile)

    def evaluate(x_val, y_val, batch_size) -> dict[str, float]:
        loss_sum = correct = 0.0
        if classify:
            y_val = y_val.astype(np.int32)
        for start in range(0, len(x_val), batch_size):
            batch_loss, batch_correct = compiled(x_val[start:start + batch_size], y_val[start:start + batch_size])
            loss_sum += float(batch_loss)
            correct += float(batch_correct)
        count = len(x_val)
        logs = {"val_loss": loss_sum / count if count else math.nan}
        if classify:
            logs["val_accuracy"] = correct / count if count else math.nan
        return logs

    return evaluate
