"""The arithmetic behind the benchmarks' figures (not their timings)."""

import math

import keras
import pytest

from keras_dmtl.benchmarks.measure import random_batch
from keras_dmtl.benchmarks.measure import ratio_interval
from keras_dmtl.benchmarks.measure import step_flops
from keras_dmtl.models.multitask import DynamicMultiTaskModel


def test_ratio_interval_is_the_geometric_mean_with_a_t_interval():
    ratio, low, high = ratio_interval([2.0, 2.2, 1.8, 2.0], [1.0, 1.0, 1.0, 1.0])
    assert ratio == pytest.approx(math.exp(sum(map(math.log, [2.0, 2.2, 1.8, 2.0])) / 4))
    assert low < ratio < high
    # Drift common to both members of a pair cancels: same ratios, ten times slower.
    assert ratio_interval([20.0, 22.0, 18.0, 20.0], [10.0] * 4) == pytest.approx(
        (ratio, low, high))


def test_ratio_interval_of_identical_or_single_rounds_is_a_point():
    assert ratio_interval([3.0, 5.0], [3.0, 5.0]) == (1.0, 1.0, 1.0)
    assert ratio_interval([2.0], [1.0]) == pytest.approx((2.0, 2.0, 2.0))


def test_dynamic_step_adds_under_a_thousandth_of_a_percent_of_the_static_flops():
    # README: the weight unit adds under 0.001 % of a step's operations (mobile trunk,
    # 64 px, batch 32). The unit's cost does not grow with the image, the trunk's does:
    # the tiny trunk at the README's 64 px and batch is cheaper than mobile, so the
    # unit's share here is larger than README's, and the bound still holds.
    images, labels = random_batch(32, (64, 64, 1), 8, num_expressions=2)
    flops = {}
    for name in ("static", "dynamic"):
        keras.utils.set_random_seed(0)
        model = DynamicMultiTaskModel(8, 2, backbone="tiny", input_shape=(64, 64, 1),
                                      embedding_dim=8, expression_dim=8, weighting=name)
        model.compile(optimizer="sgd")
        flops[name] = step_flops(model, images, labels)
    assert flops["static"] > 1e9
    assert 0 < flops["dynamic"] - flops["static"] < 1e-5 * flops["static"], flops


def test_phone_model_rows_are_parsed_or_named():
    from keras_dmtl.benchmarks.phone_models import parse_row  # noqa: PLC0415

    assert parse_row("mobile:0.5:96") == ("mobile", 0.5, 96)
    with pytest.raises(ValueError, match="--rows: 'mobile:96' is not backbone:width:image_size"):
        parse_row("mobile:96")


def test_quantization_table_gives_both_formats_and_the_flips_per_arm():
    from keras_dmtl.benchmarks.phone_models import quantization_table  # noqa: PLC0415

    def report(expression, int8_expression, agreement):
        return {"keras": {"expression_accuracy": expression, "verification_accuracy": 0.95},
                "tflite_int8": {"expression_accuracy": int8_expression, "images": 200,
                                "verification_accuracy": 0.94,
                                "expression_top1_agreement": agreement,
                                "embedding_cosine_mean": 0.999}}

    text = quantization_table({"tiny 1 @ 64 px": {"trained": report(0.7, 0.69, 0.97),
                                                  "QAT": report(0.72, 0.72, 0.995)}})
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[2] == ("| tiny 1 @ 64 px | trained | 0.700 | 0.690 | 0.9500 | 0.9400 | 6 of 200 "
                        "| 0.00100 |")
    assert lines[3].endswith("| 1 of 200 | 0.00100 |")


def test_a_distilled_row_is_its_row_taught_by_the_teacher_of_its_image_size():
    from keras_dmtl.benchmarks.phone_models import distilled  # noqa: PLC0415
    from keras_dmtl.benchmarks.phone_models import row_config  # noqa: PLC0415
    from keras_dmtl.training.config import make_config  # noqa: PLC0415

    base = make_config()
    _, teacher = row_config(base, "inception_resnet:1.0:96", "/tmp/rows")
    label, row = row_config(base, "mobile:0.5:96", "/tmp/rows")
    student = distilled(row, teacher, 0.5)
    assert label == "mobile 0.5 @ 96 px"
    assert student.out_dir == "/tmp/rows/mobile_0.5_96_distilled"
    assert student.teacher.model == "/tmp/rows/inception_resnet_1_96"
    assert student.teacher.mix == 0.5 and student.backbone == "mobile"
    _, other = row_config(base, "mobile:0.5:112", "/tmp/rows")
    with pytest.raises(ValueError, match="--rows: a 112 px row cannot be distilled from the "
                                         "96 px --teacher"):
        distilled(other, teacher, 0.5)
