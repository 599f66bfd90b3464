"""Textbook implementations of vidpred's two recurrent models, kept as benchmark references.

They compute the same functions as :class:`~vidpred.models.lstm.Seq2SeqLSTM` and
:class:`~vidpred.models.convlstm.Seq2SeqConvLSTM` (the tests copy weights across and compare the
outputs), written the way papers and most libraries write them:

* :class:`TextbookSeq2SeqLSTM`: the LSTM equations spelled out, one ``nn.Linear`` per gate for the
  input and one per gate for the hidden state, Python loops over time steps and layers;
* :class:`TextbookSeq2SeqConvLSTM`: two convolutions per cell, one over the input (with bias) and
  one over ``h`` (without), summed - the cell of OpenSTL, the field's benchmark library.

``python -m vidpred.bench --reference`` times them with the same trainer step next to vidpred's
models. They are not registered: no config builds them, and they never train a study run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vidpred.errors import ConfigError, require
from vidpred.models.base import Forecaster
from vidpred.models.convlstm import HEAD_WINDOW, Seq2SeqConvLSTM
from vidpred.registry import call_with_config

State = tuple[torch.Tensor, torch.Tensor]
GATES = ("i", "f", "g", "o")  # input, forget, candidate, output: nn.LSTM's row order


def run_layers(cells: nn.ModuleList, x: torch.Tensor, states: list[State]) -> list[State]:
    """One time step up the stack: each layer's new ``h`` is the next layer's input."""
    new_states = []
    for cell, state in zip(cells, states):
        h, c = cell(x, state)
        new_states.append((h, c))
        x = h
    return new_states


def _check_common(layers: int, hidden: int, teacher_forcing: float) -> None:
    require(1 <= layers <= 8, f"layers must be between 1 and 8, got {layers}")
    require(hidden >= 1, f"model.hidden must be at least 1, got {hidden}")
    require(0.0 <= teacher_forcing <= 1.0, f"model.teacher_forcing must be in [0, 1], got {teacher_forcing}")


# ---------------------------------------------------------------- LSTM
class TextbookLSTMCell(nn.Module):
    """``gate = act(W_x x + b + W_h h)`` per gate; ``c = f c + i g``; ``h = o tanh(c)``."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.x = nn.ModuleDict({gate: nn.Linear(inputs, hidden) for gate in GATES})
        self.h = nn.ModuleDict({gate: nn.Linear(hidden, hidden, bias=False) for gate in GATES})

    def forward(self, x: torch.Tensor, state: State) -> State:
        h, c = state
        i = torch.sigmoid(self.x["i"](x) + self.h["i"](h))
        f = torch.sigmoid(self.x["f"](x) + self.h["f"](h))
        g = torch.tanh(self.x["g"](x) + self.h["g"](h))
        o = torch.sigmoid(self.x["o"](x) + self.h["o"](h))
        c = f * c + i * g
        return o * torch.tanh(c), c


class TextbookSeq2SeqLSTM(Forecaster):
    """The textbook twin of ``model=lstm``: same constructor and ``forward`` contract."""

    name, label = "textbook_lstm", "textbook LSTM"
    kinds = ("sequence",)

    def __init__(self, frame_shape: tuple[int, ...], layers: int, hidden: int = 64,
                 teacher_forcing: float = 0.0) -> None:
        super().__init__()
        _check_common(layers, hidden, teacher_forcing)
        channels = frame_shape[0]
        self.hidden = hidden
        self.teacher_forcing = teacher_forcing
        self.encoder = nn.ModuleList(TextbookLSTMCell(channels if k == 0 else hidden, hidden) for k in range(layers))
        self.decoder = nn.ModuleList(TextbookLSTMCell(channels if k == 0 else hidden, hidden) for k in range(layers))
        self.head = nn.Linear(hidden, channels)

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        batch, steps = context.shape[:2]
        zeros = context.new_zeros(batch, self.hidden)
        states = [(zeros, zeros)] * len(self.encoder)
        for t in range(steps):
            states = run_layers(self.encoder, context[:, t], states)
        step_input = context[:, -1]
        outputs = []
        for t in range(horizon):
            states = run_layers(self.decoder, step_input, states)
            prediction = self.head(states[-1][0])
            outputs.append(prediction)
            step_input = prediction
            if target is not None and self.training and self.teacher_forcing > 0:
                # model=lstm's scheduled sampling, drawing the same random numbers
                use_truth = torch.rand(batch, 1, device=prediction.device) < self.teacher_forcing
                step_input = torch.where(use_truth, target[:, t], prediction)
        return torch.stack(outputs, dim=1)


# ---------------------------------------------------------------- ConvLSTM
class TextbookConvLSTMCell(nn.Module):
    """The gates from two convolutions, ``conv_x(x) + conv_h(h)``, split into i, f, g, o."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv_x = nn.Conv2d(in_channels, 4 * hidden, kernel_size, padding=kernel_size // 2)
        self.conv_h = nn.Conv2d(hidden, 4 * hidden, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor, state: State) -> State:
        h, c = state
        i, f, g, o = torch.split(self.conv_x(x) + self.conv_h(h), self.hidden, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class TextbookSeq2SeqConvLSTM(Forecaster):
    """The textbook twin of ``model=convlstm``: two-convolution cells, the same encoder, decoder,
    causal 3-D convolution head, sigmoid and space-to-depth folding."""

    name, label = "textbook_convlstm", "textbook ConvLSTM"
    kinds = ("video",)

    # Folding and the scheduled-sampling schedule are vidpred's own code: they are not what the
    # reference stands for, and sharing them keeps the two models the same function.
    _fold = Seq2SeqConvLSTM._fold
    _unfold = Seq2SeqConvLSTM._unfold
    _truth_probability = Seq2SeqConvLSTM._truth_probability

    def __init__(self, frame_shape: tuple[int, ...], layers: int, hidden: int = 64,
                 kernel_size: int = 3, patch_size: int = 1, teacher_forcing: float = 0.0,
                 teacher_forcing_decay_steps: int = 0) -> None:
        super().__init__()
        _check_common(layers, hidden, teacher_forcing)
        channels, height, width = frame_shape
        require(kernel_size >= 1 and kernel_size % 2 == 1,
                f"model.kernel_size must be odd (for 'same' padding), got {kernel_size}")
        require(patch_size >= 1 and height % patch_size == 0 and width % patch_size == 0,
                f"model.patch_size={patch_size} must divide the frame size {height}x{width}")
        require(teacher_forcing_decay_steps >= 0,
                f"model.teacher_forcing_decay_steps must be 0 or positive, got {teacher_forcing_decay_steps}")
        self.patch_size = patch_size
        self.hidden = hidden
        self.teacher_forcing = teacher_forcing
        self.teacher_forcing_decay_steps = teacher_forcing_decay_steps
        folded = channels * patch_size * patch_size
        self.encoder = nn.ModuleList(
            TextbookConvLSTMCell(folded if k == 0 else hidden, hidden, kernel_size) for k in range(layers))
        self.decoder = nn.ModuleList(
            TextbookConvLSTMCell(folded if k == 0 else hidden, hidden, kernel_size) for k in range(layers))
        self.head = nn.Conv3d(hidden, folded, kernel_size=(HEAD_WINDOW, 3, 3), padding=(0, 1, 1))
        self.register_buffer("sampling_step", torch.zeros((), dtype=torch.long))

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        x = self._fold(context)
        batch, steps, _, height, width = x.shape
        zeros = x.new_zeros(batch, self.hidden, height, width)
        states = [(zeros, zeros)] * len(self.encoder)
        for t in range(steps):
            states = run_layers(self.encoder, x[:, t], states)

        sampling = target is not None and self.training and self.teacher_forcing > 0
        if sampling:
            truth = self._fold(target)
            p_truth = self._truth_probability()
            self.sampling_step += 1
        window = [zeros] * (HEAD_WINDOW - 1)  # causal: the top states of steps t-2 .. t
        step_input = x[:, -1]
        outputs = []
        for t in range(horizon):
            states = run_layers(self.decoder, step_input, states)
            window = [*window[1 - HEAD_WINDOW:], states[-1][0]]
            frame = torch.sigmoid(self.head(torch.stack(window, dim=2)).squeeze(2))
            outputs.append(frame)
            step_input = frame
            if sampling and t + 1 < horizon:
                use_truth = torch.rand(batch, 1, 1, 1, device=frame.device) < p_truth
                step_input = torch.where(use_truth, truth[:, t], frame)
        return self._unfold(torch.stack(outputs, dim=1))


# ---------------------------------------------------------------- lookup
TEXTBOOK: dict[str, type[Forecaster]] = {"lstm": TextbookSeq2SeqLSTM, "convlstm": TextbookSeq2SeqConvLSTM}


def build_textbook(name: str, frame_shape: tuple[int, ...], params: dict[str, Any]) -> Forecaster:
    """The textbook twin of ``model=name``, from the same config ``params``."""
    if name not in TEXTBOOK:
        raise ConfigError(f"--reference has a textbook model for model={' and model='.join(TEXTBOOK)} only, "
                          f"not model={name}")
    return call_with_config(TEXTBOOK[name], {"frame_shape": tuple(frame_shape), **params}, prefix="model")
