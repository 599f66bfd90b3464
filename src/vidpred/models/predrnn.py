"""PredRNN-v2 (Wang et al., "PredRNN: A Recurrent Neural Network for Spatiotemporal Predictive
Learning", TPAMI 2022), written from the paper.

**Spatiotemporal LSTM (ST-LSTM) cells.** Each cell keeps the ConvLSTM's temporal memory ``C``
(carried along time within a layer) and adds a spatiotemporal memory ``M`` that zigzags: it goes up
the stack within a time step and from the top cell of step ``t`` to the bottom cell of step
``t + 1``. With ``*`` a convolution and ``sigma`` the logistic function::

    i, f, g   = sigma(W_x* x + W_h* h + b), sigma(... + b_f), tanh(...)
    C         = f C + i g                       (dC = i g)
    i', f', g' = sigma(W'_x* x + W_m* M + b'), ..., tanh(...)
    M         = f' M + i' g'                    (dM = i' g')
    o         = sigma(W_xo* x + W_ho* h + W_o* [C, M] + b_o)
    h         = o tanh(W_1x1 [C, M])

The input convolution gives all seven gate pre-activations at once (``x`` -> 7 hidden channels,
with the biases; the two forget biases start at 1), ``h`` gives four and ``M`` three. A stack of
``layers`` cells runs once per frame: at step ``t`` it reads frame ``t`` and a 1x1 convolution of
the top ``h`` predicts frame ``t + 1``, so a 10 -> 10 item takes 19 steps; over the context the
input is the true frame, over the horizon the previous prediction. The state at ``t = 0`` is zero,
so its convolutions are skipped (the same numbers, less work).

**Memory decoupling.** ``dC`` and ``dM`` are mapped by one shared 1x1 convolution (the adapter)
and their cosine similarity over the pixels is taken per channel; the loss is its absolute value,
averaged over channels, cells and steps, weighted by ``decouple_beta``. It pushes the two memories
to hold different information.

**Reverse scheduled sampling.** In training, the input at context step ``t >= 1`` is the true frame
with probability ``r`` and the model's own prediction of it otherwise; over the horizon it is the
true previous frame with probability ``e`` and the prediction otherwise. One coin per item and
step. Over the training steps ``k`` (counted in the buffer ``sampling_step``, saved in checkpoints
so a resumed run continues the schedule), with ``sampling_start`` ``K1``, ``sampling_end`` ``K2``
and ``sampling_alpha`` ``a``::

    r = 0.5 (k < K1),  1 - 0.5 exp(-(k - K1) / a) (K1 <= k < K2),  1 (k >= K2)
    e = 0.5 (k < K1),  0.5 - 0.5 (k - K1) / (K2 - K1) (K1 <= k < K2),  0 (k >= K2)

so the model first learns from its own encodings, then weans off the true future frames.
``sampling=linear`` is the conventional schedule instead (``r = 1``, ``e`` from 1 down to 0 at
``K2``); ``sampling=none`` feeds true context and own predictions, as at test time.

**The training objective** is the paper's: the mean squared error of every predicted frame, the
context frames' next-frame predictions included, plus ``decouple_beta`` times the decoupling
loss. The trainer's loss is the horizon's mean squared error; :meth:`auxiliary_loss` hands it the
rest, scaled so that the sum is ``(n / horizon)`` times the paper's objective (``n`` frames
predicted in all): a constant factor, which Adam does not see.

``patch_size`` folds ``p x p`` pixel blocks into channels (space-to-depth) as the paper does for
Moving MNIST (``p = 4``: 64 x 64 frames become 16 channels on a 16 x 16 grid). Outputs are not
squashed into [0, 1] (the paper's linear read-out).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vidpred.errors import require
from vidpred.models.base import MODELS, Forecaster, check_cell_stack, depth_to_space, space_to_depth

SAMPLINGS = ("reverse", "linear", "none")

CellState = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class SpatioTemporalLSTMCell(nn.Module):
    """One ST-LSTM cell (see the module docstring). ``None`` stands for a zero state."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        self.hidden = hidden
        pad = kernel_size // 2
        # output channels: i, f, g, o (added to W_h* h), then i', f', g' (added to W_m* M)
        self.conv_x = nn.Conv2d(in_channels, 7 * hidden, kernel_size, padding=pad)
        self.conv_h = nn.Conv2d(hidden, 4 * hidden, kernel_size, padding=pad, bias=False)
        self.conv_m = nn.Conv2d(hidden, 3 * hidden, kernel_size, padding=pad, bias=False)
        self.conv_o = nn.Conv2d(2 * hidden, hidden, kernel_size, padding=pad, bias=False)
        self.conv_1x1 = nn.Conv2d(2 * hidden, hidden, 1, bias=False)
        with torch.no_grad():  # the forget gates start open (a bias of 1), as in the paper's code
            self.conv_x.bias.zero_()
            self.conv_x.bias[hidden:2 * hidden] = 1.0
            self.conv_x.bias[5 * hidden:6 * hidden] = 1.0

    def forward(self, x: torch.Tensor, h: torch.Tensor | None, c: torch.Tensor | None,
                m: torch.Tensor | None) -> CellState:
        """``(h, C, M, dC, dM)`` after one step from input ``x``."""
        # split, not sliced: the backward pass then joins the two gradients in one copy
        temporal, spatial = self.conv_x(x).split([4 * self.hidden, 3 * self.hidden], dim=1)
        if h is not None:
            temporal = temporal + self.conv_h(h)
        if m is not None:
            spatial = spatial + self.conv_m(m)
        i, f, g, o = temporal.chunk(4, dim=1)
        delta_c = torch.sigmoid(i) * torch.tanh(g)
        c = delta_c if c is None else torch.sigmoid(f) * c + delta_c
        i, f, g = spatial.chunk(3, dim=1)
        delta_m = torch.sigmoid(i) * torch.tanh(g)
        m = delta_m if m is None else torch.sigmoid(f) * m + delta_m
        memories = torch.cat([c, m], dim=1)
        h = torch.sigmoid(o + self.conv_o(memories)) * torch.tanh(self.conv_1x1(memories))
        return h, c, m, delta_c, delta_m


@MODELS.register
class PredRNNv2(Forecaster):
    """PredRNN-v2; input ``(B, Tc, C, H, W)``, output ``(B, horizon, C, H, W)``."""

    name, label = "predrnn", "PredRNN-v2"
    kinds = ("video",)
    small = {"hidden": 8, "patch_size": 4, "kernel_size": 3}

    def __init__(self, frame_shape: tuple[int, ...], layers: int, hidden: int = 128, kernel_size: int = 5,
                 patch_size: int = 4, decouple_beta: float = 0.1, sampling: str = "reverse",
                 sampling_start: int = 25000, sampling_end: int = 50000, sampling_alpha: float = 5000.0) -> None:
        super().__init__()
        channels, height, width = check_cell_stack(layers, hidden, kernel_size, patch_size, frame_shape)
        require(decouple_beta >= 0, f"model.decouple_beta must be 0 (off) or positive, got {decouple_beta}")
        require(sampling in SAMPLINGS, f"model.sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        require(0 <= sampling_start <= sampling_end and sampling_end >= 1,
                f"model.sampling_start ({sampling_start}) and model.sampling_end ({sampling_end}) must satisfy "
                "0 <= start <= end, end >= 1")
        require(sampling_alpha > 0, f"model.sampling_alpha must be positive, got {sampling_alpha}")
        self.patch_size = patch_size
        self.grid = (height // patch_size, width // patch_size)  # the folded frame the cells run on
        self.hidden = hidden
        self.decouple_beta = decouple_beta
        self.sampling = sampling
        self.sampling_start, self.sampling_end, self.sampling_alpha = sampling_start, sampling_end, sampling_alpha
        folded = channels * patch_size * patch_size
        self.cells = nn.ModuleList(
            SpatioTemporalLSTMCell(folded if k == 0 else hidden, hidden, kernel_size) for k in range(layers))
        self.head = nn.Conv2d(hidden, folded, 1, bias=False)
        # decoupling only trains the adapter: without the loss it would be a weight nobody uses
        self.adapter = nn.Conv2d(hidden, hidden, 1, bias=False) if decouple_beta > 0 else None
        # training forward passes seen so far: the sampling schedule's clock, saved in checkpoints
        self.register_buffer("sampling_step", torch.zeros((), dtype=torch.long))
        self._auxiliary: torch.Tensor | None = None

    #: floats a training step holds per sample, stack step, cell, hidden channel and pixel of the
    #: folded grid: what autograd keeps of a cell call (the seven activations, both memories and
    #: their increments, [C, M], the output gate, h), the decoupling's copies of the increments, and
    #: the gradients the backward pass adds (an upper bound; tests/test_memory.py checks it)
    SAVED_FLOATS = 36

    def memory_bytes(self, batch: int, context: int, horizon: int, train_items: int | None) -> int:
        pixels = self.grid[0] * self.grid[1]
        folded = self.head.out_channels  # the frames read and predicted, per step
        per_step = self.SAVED_FLOATS * len(self.cells) * self.hidden + 4 * folded
        return 4 * batch * (context + horizon - 1) * per_step * pixels

    # ------------------------------------------------------------ schedule
    def truth_probabilities(self, step: int) -> tuple[float, float]:
        """(context, horizon) probabilities of feeding the true frame at training step ``step``."""
        start, end = self.sampling_start, self.sampling_end
        if self.sampling == "none":
            return 1.0, 0.0
        if self.sampling == "linear":
            return 1.0, max(0.0, 1.0 - step / end)
        if step < start:
            return 0.5, 0.5
        if step < end:
            return 1.0 - 0.5 * math.exp(-(step - start) / self.sampling_alpha), 0.5 - 0.5 * (step - start) / (end - start)
        return 1.0, 0.0

    def auxiliary_loss(self) -> torch.Tensor | None:
        auxiliary, self._auxiliary = self._auxiliary, None
        return auxiliary

    # ------------------------------------------------------------ forward
    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        x = space_to_depth(context, self.patch_size)
        batch, steps = x.shape[:2]
        training = self.training and target is not None
        mix_context = mix_future = None  # per item and step: feed the truth instead of the prediction
        if training:
            truth = space_to_depth(target, self.patch_size)
            p_context, p_future = self.truth_probabilities(int(self.sampling_step))
            self.sampling_step += 1
            if p_context < 1 and steps > 1:
                mix_context = torch.rand(batch, steps, device=x.device) < p_context
            if p_future > 0 and horizon > 1:
                mix_future = torch.rand(batch, horizon, device=x.device) < p_future

        states: list[tuple[torch.Tensor | None, torch.Tensor | None]] = [(None, None)] * len(self.cells)
        memory: torch.Tensor | None = None
        increments: list[tuple[torch.Tensor, torch.Tensor]] = []  # (dC, dM) of every cell call, for decoupling
        predictions: list[torch.Tensor] = []  # prediction of frame t + 1 made at step t
        prediction: torch.Tensor | None = None
        for t in range(steps + horizon - 1):
            if t < steps:
                step_input = x[:, t]
                if mix_context is not None and t > 0:
                    step_input = torch.where(mix_context[:, t, None, None, None], step_input, prediction)
            else:
                step_input = prediction
                if mix_future is not None:
                    step_input = torch.where(mix_future[:, t - steps, None, None, None], truth[:, t - steps], prediction)
            for k, cell in enumerate(self.cells):
                h, c, memory, delta_c, delta_m = cell(step_input, *states[k], memory)
                states[k] = (h, c)
                step_input = h
                if training and self.adapter is not None:
                    increments.append((delta_c, delta_m))
            if training or t >= steps - 1:  # in training the context frames' predictions count too
                prediction = self.head(step_input)
                predictions.append(prediction)

        future = torch.stack(predictions[-horizon:], dim=1)
        if training:
            self._auxiliary = self._auxiliary_terms(x, predictions[:steps - 1], increments, horizon)
        return depth_to_space(future, self.patch_size)

    def _decoupling(self, increments: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Per item, |cos| of the adapted memory increments over the pixels, averaged over channels and
        cell calls. Every call's increments go through the adapter at once, pixels-major, so that the
        1x1 convolution is one matrix product (oneDNN's convolution is many times slower at this
        shape) and the sums over the pixels run along memory."""
        weight = self.adapter.weight.flatten(1)
        delta_c, delta_m = (F.linear(torch.stack([pair[k].flatten(2).transpose(1, 2) for pair in increments]),
                                     weight).float() for k in (0, 1))  # (calls, B, pixels, hidden)
        dot = (delta_c * delta_m).sum(dim=2)
        norms = delta_c.square().sum(dim=2) * delta_m.square().sum(dim=2)
        cosine = dot * torch.rsqrt(norms.clamp(min=1e-16))  # (calls, B, hidden); the norms floored at 1e-8
        return cosine.abs().mean(dim=(0, 2))

    def _auxiliary_terms(self, x: torch.Tensor, context_predictions: list[torch.Tensor],
                         increments: list[tuple[torch.Tensor, torch.Tensor]], horizon: int) -> torch.Tensor:
        """Per item: the squared error of the context frames' predictions and the decoupling loss,
        in units of the horizon's mean squared error (see the module docstring)."""
        batch = x.shape[0]
        elements = x[0, 0].numel()
        terms = x.new_zeros(batch, dtype=torch.float32)
        if context_predictions:
            error = torch.stack(context_predictions, dim=1).float() - x[:, 1:].float()
            terms = terms + error.square().flatten(1).sum(dim=1) / elements
        if increments:
            predicted = len(context_predictions) + horizon
            terms = terms + self.decouple_beta * predicted * self._decoupling(increments)
        return terms / horizon
