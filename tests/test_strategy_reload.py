"""Every registered weighting strategy survives save -> load -> resume exactly.

The registry is iterated, so a new strategy is covered by adding its file.
"""

import pytest

from keras_dmtl import weighting
from tests.core_helpers import check_save_reload_resume


@pytest.mark.parametrize("name", weighting.available())
def test_strategy_trains_saves_reloads_and_resumes(name, tmp_path):
    check_save_reload_resume(name, tmp_path)
