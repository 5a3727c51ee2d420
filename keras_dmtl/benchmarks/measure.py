"""Measurement helpers the benchmarks share (no flags: importable anywhere)."""

import math
import statistics
import time

import numpy as np
from scipy import stats
import tensorflow as tf


def random_batch(batch_size, shape, num_identities, num_expressions=7, seed=0):
    """A batch of random images and labels for timing a train step.

    Returns:
        (float32 images (batch_size, *shape) in 0..255, {"identity", "expression"}
        int32 labels).
    """
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch_size,) + tuple(shape)).astype("float32")
    labels = {"identity": rng.integers(0, num_identities, batch_size).astype("int32"),
              "expression": rng.integers(0, num_expressions, batch_size).astype("int32")}
    return images, labels


def cpu_ms(function, repeats):
    """Median CPU milliseconds of `function()` over `repeats` calls, after one
    untimed call (tracing and compiling).

    CPU time (`time.process_time`, all threads) rather than wall time: a VM's
    CPU quota throttles wall-clock time in fixed slices, while the CPU time a
    call consumes is what it costs.
    """
    function()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function()
        times.append(1000 * (time.process_time() - start))
    return statistics.median(times)


def wall_ms(call, image, repeats, warm_up=5):
    """Median wall-clock milliseconds of `call(image)` over `repeats` calls, after
    `warm_up` untimed ones (single-image latency, as a user waits for it)."""
    for _ in range(warm_up):
        call(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def step_flops(model, images, labels):
    """Floating-point operations of one `train_step`, counted in its traced graph.

    The count is taken before Grappler prunes and fuses the graph, so it bounds the
    work from above: a strategy whose graph holds the baseline's ops plus a few of
    its own (dynamic: the weight unit) shows exactly what it adds.

    Args:
        model: a compiled, built `DynamicMultiTaskModel`.
        images, labels: one batch (fixes the traced shapes).

    Returns:
        The graph's total float operations (TF's registered per-op statistics).
    """
    specs = tf.nest.map_structure(lambda x: tf.TensorSpec(x.shape, x.dtype), (images, labels))
    return function_flops(model.train_step, specs)


def function_flops(function, *specs):
    """Floating-point operations of `function` traced for `specs`, counted in its
    graph by TF's registered per-op statistics (before Grappler prunes it).

    Args:
        function: a Python callable (it is traced with `tf.function`).
        *specs: its arguments, as (nests of) `tf.TensorSpec`s.

    Returns:
        The graph's total float operations.
    """
    graph = tf.function(function).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


def ratio_interval(numerators, denominators, confidence=0.95):
    """Geometric mean of paired ratios and its confidence interval.

    Args:
        numerators, denominators: one value per round, paired by position.
        confidence: the interval's coverage.

    Returns:
        (mean ratio, lower, upper); lower = upper = mean for a single round.
    """
    logs = np.log(np.asarray(numerators, np.float64) / np.asarray(denominators, np.float64))
    mean = float(np.mean(logs))
    if len(logs) < 2 or np.ptp(logs) == 0:  # one round, or the baseline against itself
        return math.exp(mean), math.exp(mean), math.exp(mean)
    low, high = stats.t.interval(confidence, len(logs) - 1, loc=mean, scale=stats.sem(logs))
    return math.exp(mean), math.exp(low), math.exp(high)


