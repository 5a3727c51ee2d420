"""Adding a weighting strategy is one new file: the runner compares it and the
registry-driven tests test it, with no other edit."""

import pytest

from keras_dmtl import weighting
from keras_dmtl.experiments import methods
from keras_dmtl.experiments.compare import run_experiment
from tests.test_experiments import experiment_config
from tests.core_helpers import check_save_reload_resume
from tests.registry_helpers import import_source

THROWAWAY_STRATEGY = '''
"""A throwaway strategy: the face task counts twice as much as expression."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("throwaway_two_to_one")
class TwoToOne(Weighting):
    def __init__(self, face_share=2.0 / 3.0, **kwargs):
        super().__init__(**kwargs)
        self.face_share = float(face_share)

    def combine(self, task_losses, unit_weights):
        del unit_weights
        weights = tf.constant([self.face_share, 1.0 - self.face_share])
        return WeightedLoss(weights, tf.reduce_sum(weights * task_losses), None)

    def get_config(self):
        return {**super().get_config(), "face_share": self.face_share}
'''


@pytest.fixture
def throwaway_strategy(tmp_path):
    import_source(tmp_path, "throwaway_two_to_one", THROWAWAY_STRATEGY)
    yield "throwaway_two_to_one"
    weighting.STRATEGIES.remove("throwaway_two_to_one")


def test_a_new_strategy_file_is_compared_and_tested(throwaway_strategy, tmp_path):
    assert throwaway_strategy in weighting.available()
    assert weighting.default_kwargs(throwaway_strategy) == {"face_share": 2.0 / 3.0}
    assert throwaway_strategy in {m.label for m in methods.all_methods()}
    rows, computed = run_experiment(experiment_config(tmp_path, (throwaway_strategy,),
                                                      **{"experiment.max_folds": 1}))
    assert computed == 1 and rows[0]["method"] == throwaway_strategy
    # The save / reload / resume harness every registered strategy goes through.
    check_save_reload_resume(throwaway_strategy, tmp_path)
