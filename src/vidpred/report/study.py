"""The study's published numbers, the one place they are written down.

All values are test MSE per element (``mse`` in ``metrics.json``), indexed by layer count 1, 2, 3.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyTable:
    """One of the study's result tables: a model x data sets x layer counts, plus baseline rows."""

    key: str                                   # file stem of the written table
    title: str
    model: str                                 # config name of the study's model
    model_label: str
    data: tuple[str, ...]                      # config names, in the study's column order
    data_labels: dict[str, str]                # the study's names for them
    values: dict[str, tuple[float, ...]]       # data -> test mse for layers 1, 2, 3
    kind: str                                  # sequence | video: which baselines go under its rows
    metric: str = "test_mse"

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(range(1, len(next(iter(self.values.values()))) + 1))

    def study_value(self, data: str, layers: int) -> float | None:
        row = self.values.get(data)
        return row[layers - 1] if row is not None and 1 <= layers <= len(row) else None


TABLE1 = StudyTable(
    key="table1",
    title="Table 1: Seq2Seq LSTM, test MSE per element",
    model="lstm", model_label="LSTM",
    data=("noise", "sins", "stocks"),
    data_labels={"noise": "GeneratedNoise", "sins": "GeneratedSins", "stocks": "Stocks"},
    values={"noise": (5.964e-2, 5.967e-2, 5.961e-2),
            "sins": (4.950e-4, 6.298e-4, 4.804e-4),
            "stocks": (5.227e-2, 5.431e-2, 5.381e-2)},
    kind="sequence",
)

TABLE2 = StudyTable(
    key="table2",
    title="Table 2: Seq2Seq ConvLSTM, test MSE per pixel",
    model="convlstm", model_label="ConvLSTM",
    data=("mnist", "kth", "bair"),
    data_labels={"mnist": "MovingMNIST", "kth": "KTH", "bair": "BAIR"},
    values={"mnist": (1.249e-2, 1.278e-2, 1.274e-2),
            "kth": (1.233e-3, 1.239e-3, 1.163e-3),
            "bair": (2.910e-2, 2.876e-2, 3.019e-2)},
    kind="video",
)

STUDY_TABLES = (TABLE1, TABLE2)

#: Published context for Moving MNIST 10 -> 10 (OpenSTL, 200 epochs), in ``mse_frame`` units.
OPENSTL_MMNIST_MSE_FRAME = {"ConvLSTM": 29.80, "PredRNN++": 22.06, "TAU": 24.60}
