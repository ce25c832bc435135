"""`make bench-training` reads Rasa's own training log: component times to the second, the epoch bar's total."""
from __future__ import annotations

from benchmarks.training import Timings, parse_log, report

LOG = """\
2026-11-27 19:40:16 INFO     rasa.engine.training.hooks  - Starting to train component 'RegexFeaturizer'.
2026-11-27 19:40:16 INFO     rasa.engine.training.hooks  - Finished training component 'RegexFeaturizer'.
2026-11-27 19:40:18 INFO     rasa.engine.training.hooks  - Starting to train component 'CountVectorsFeaturizer'.
2026-11-27 19:40:19 INFO     rasa.engine.training.hooks  - Finished training component 'CountVectorsFeaturizer'.
2026-11-27 19:40:19 INFO     rasa.engine.training.hooks  - Starting to train component 'CountVectorsFeaturizer'.
2026-11-27 19:40:22 INFO     rasa.engine.training.hooks  - Finished training component 'CountVectorsFeaturizer'.
2026-11-27 19:40:23 INFO     rasa.engine.training.hooks  - Starting to train component 'DIETClassifier'.
Epochs:  50%|#####     | 30/60 [00:50<00:50,  1.70s/it, t_loss=3.1]
Epochs: 100%|##########| 60/60 [01:41<00:00,  1.69s/it, t_loss=2.0]
Epochs: 100%|##########| 60/60 [01:41<00:00,  1.69s/it, t_loss=2.0]
2026-11-27 19:42:10 INFO     rasa.engine.training.hooks  - Finished training component 'DIETClassifier'.
"""


def test_the_log_gives_seconds_per_component_and_per_epoch() -> None:
    timings = parse_log(LOG.splitlines())
    assert timings.components == {"RegexFeaturizer": 0, "CountVectorsFeaturizer": 1,
                                  "CountVectorsFeaturizer (2)": 3, "DIETClassifier": 107}
    assert timings.epochs == [(60, 101.0)]  # the finished bar, once


def test_the_report_says_whether_the_budget_holds() -> None:
    over = report(Timings(wall_seconds=420, components={"DIETClassifier": 380}, epochs=[(120, 370.0)]))
    assert "OVER (420 s)" in over and "120 epochs in 370 s (3.1 s an epoch)" in over
    assert "| (everything else: reading data, the graph, packing the model) | 40 |" in over
    assert "within (250 s)" in report(Timings(wall_seconds=250))
