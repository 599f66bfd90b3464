"""Video promises that a test can break: the ConvLSTM's decoder feedback, the Moving MNIST test set and
the ``standard28`` generator. Tiny sizes throughout. (Scheduled sampling across a resume is tested
for every model in ``test_promises_models.py``.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.config import experiment_config
from helpers.data_fabricate import digit_images, write_gz
from vidpred.data import build_data
from vidpred.data.formats.idx import encode_idx
from vidpred.models.convlstm import Seq2SeqConvLSTM
from vidpred.experiment import run_experiment


pytestmark = pytest.mark.usefixtures("one_thread_no_figures")


def mnist(root: Path, *extra: str) -> list[str]:
    return ["data=mnist", "data.train_digits=test", "data.test_source=generated", f"paths.data_dir={root}",
            "data.train_size=16", "data.val_size=4", "data.test_size=8", "data.batch_size=4",
            "data.num_workers=0", "data.context=3", "data.horizon=3", "trainer.progress=off",
            "trainer.device=cpu", *extra]


# ---------------------------------------------------------------- the test set vs the run seed
def test_the_moving_mnist_test_set_does_not_depend_on_the_run_seed(tmp_path: Path, mnist_root: Path) -> None:
    tests = [run_experiment(experiment_config(mnist(mnist_root, "model=last", f"seed={seed}")), tmp_path / str(seed))
             for seed in (0, 7)]
    assert tests[0]["choices"]["seed"] == 0 and tests[1]["choices"]["seed"] == 7
    assert tests[0]["test"]["sequences"] == 8
    assert tests[0]["test"]["mse_per_step"] == tests[1]["test"]["mse_per_step"]


# ---------------------------------------------------------------- decoder feedback
def test_convlstm_decoder_gets_the_last_context_frame_then_its_own_predictions() -> None:
    torch.manual_seed(0)
    model = Seq2SeqConvLSTM((1, 8, 8), layers=2, hidden=4, patch_size=2, teacher_forcing=1.0).eval()
    inputs: list[torch.Tensor] = []
    model.decoder[0].register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    context, target = torch.rand(2, 4, 1, 8, 8), torch.rand(2, 4, 1, 8, 8)
    with torch.no_grad():
        prediction = model(context, 4, target=target)  # in eval the target is never fed
    assert len(inputs) == 4  # the first decoder cell runs once per predicted step
    assert torch.equal(inputs[0], model._fold(context)[:, -1])
    folded = model._fold(prediction)
    for t in range(3):
        assert torch.equal(inputs[t + 1], folded[:, t]), t


# ---------------------------------------------------------------- the standard28 generator
FREE = 64 - 28  # cells a 28 px digit can take along each axis


@pytest.fixture(scope="module")
def blob() -> np.ndarray:
    """One data_fabricate digit (a rectangle), made one grey level (100) so that sums show."""
    digit = digit_images(1, seed=1)[0]
    return np.where(digit > 0, 100, 0).astype(np.uint8)


def standard28_items(root: Path, blob: np.ndarray, num_digits: int, count: int) -> np.ndarray:
    """``count`` training items ``(20, 64, 64)`` of ``data=mnist data.generator=standard28`` whose
    digits are all ``blob`` (written as the t10k file; data.train_digits=test trains on 70 % of it)."""
    write_gz(root / "mnist" / "t10k-images-idx3-ubyte.gz", encode_idx(np.repeat(blob[None], 20, axis=0)))
    params = dict(context=10, horizon=10, train_size=count, val_size=1, test_size=1, generator="standard28",
                  num_digits=num_digits, train_digits="test", test_source="generated",
                  seeds={"train": 21, "val": 22, "test": 23})
    data = build_data("mnist", params, root)
    return np.stack([data.train[i].numpy()[:, 0] for i in range(count)])


def test_standard28_moves_each_digit_at_one_fixed_speed(tmp_path: Path, blob: np.ndarray) -> None:
    top, left = np.flatnonzero(blob.any(axis=1))[0], np.flatnonzero(blob.any(axis=0))[0]
    speed = 0.1 * FREE  # the fixed speed: a tenth of the free range per frame (3.6 pixels)
    for frames in standard28_items(tmp_path, blob, num_digits=1, count=40):
        rows = np.array([np.flatnonzero(f.any(axis=1))[0] for f in frames]) - top
        cols = np.array([np.flatnonzero(f.any(axis=0))[0] for f in frames]) - left
        assert rows.min() >= 0 and rows.max() <= FREE and cols.min() >= 0 and cols.max() <= FREE
        steps = np.hypot(np.diff(rows), np.diff(cols))
        # a step that ends on an edge was cut short by the bounce; the others cover the full speed,
        # up to the rounding of each coordinate to whole pixels (at most sqrt(2))
        free = [s for s, r, c in zip(steps, rows[1:], cols[1:]) if r not in (0, FREE) and c not in (0, FREE)]
        assert len(free) >= 10
        assert all(speed - 2 ** 0.5 <= s <= speed + 2 ** 0.5 for s in free), free
        assert abs(np.mean(free) - speed) < 0.3  # measured: item means 3.52 .. 3.69 for 3.6


def test_standard28_combines_overlapping_digits_by_max(tmp_path: Path, blob: np.ndarray) -> None:
    items = standard28_items(tmp_path, blob, num_digits=2, count=40)
    area = int((blob > 0).sum())
    lit = (items > 0).sum(axis=(2, 3))
    assert lit.max() <= 2 * area and (lit < 2 * area).sum() >= 50  # many frames where the two overlap
    # by max, an overlap keeps the digits' grey level; a sum would show 200 / 255 there
    np.testing.assert_array_equal(np.unique(items), np.array([0.0, 100 / 255], dtype=np.float32))
