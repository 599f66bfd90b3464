"""Textbook implementations of vidpred's two recurrent models, kept as benchmark references.

They compute the same functions as :class:`~vidpred.models.lstm.Seq2SeqLSTM` and
:class:`~vidpred.models.convlstm.Seq2SeqConvLSTM` (the tests copy weights across and compare the
outputs), written the way papers and most libraries write them:

* :class:`TextbookSeq2SeqLSTM`: the LSTM equations spelled out, one ``nn.Linear`` per gate for the
  input and one per gate for the hidden state, Python loops over time steps and layers;
* :class:`TextbookSeq2SeqConvLSTM`: two convolutions per cell, one over the input (with bias) and
  one over ``h`` (without), summed - the cell of OpenSTL, the field's benchmark library.

``python -m vidpred.perf.bench --reference`` times them with the same trainer step next to vidpred's
models. They are not registered: no config builds them, and they never train a study run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vidpred.errors import ConfigError, require
from vidpred.models.base import Forecaster
from vidpred.models.convlstm import Seq2SeqConvLSTM, run_stack
from vidpred.registry import call_with_config

State = tuple[torch.Tensor, torch.Tensor]
GATES = ("i", "f", "g", "o")  # input, forget, candidate, output: nn.LSTM's row order


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
        require(1 <= layers <= 8, f"layers must be between 1 and 8, got {layers}")
        require(hidden >= 1, f"model.hidden must be at least 1, got {hidden}")
        require(0.0 <= teacher_forcing <= 1.0, f"model.teacher_forcing must be in [0, 1], got {teacher_forcing}")
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
            states = run_stack(self.encoder, context[:, t], states)
        step_input = context[:, -1]
        outputs = []
        for t in range(horizon):
            states = run_stack(self.decoder, step_input, states)
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

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor | None, torch.Tensor | None]) -> State:
        h, c = state
        if h is None or c is None:  # the zero state, spelled out as the textbook does
            h = c = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
        i, f, g, o = torch.split(self.conv_x(x) + self.conv_h(h), self.hidden, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class TextbookSeq2SeqConvLSTM(Seq2SeqConvLSTM):
    """The textbook twin of ``model=convlstm``: two-convolution cells in vidpred's own encoder,
    decoder, causal 3-D convolution head, sigmoid, space-to-depth folding and scheduled sampling
    (those are not what the reference stands for, and sharing them keeps the two the same function).
    Not registered: subclassing does not make a model buildable by name."""

    name, label = "textbook_convlstm", "textbook ConvLSTM"
    cell = TextbookConvLSTMCell


# ---------------------------------------------------------------- lookup
TEXTBOOK: dict[str, type[Forecaster]] = {"lstm": TextbookSeq2SeqLSTM, "convlstm": TextbookSeq2SeqConvLSTM}


def build_textbook(name: str, frame_shape: tuple[int, ...], params: dict[str, Any]) -> Forecaster:
    """The textbook twin of ``model=name``, from the same config ``params``."""
    if name not in TEXTBOOK:
        raise ConfigError(f"--reference has a textbook model for model={' and model='.join(TEXTBOOK)} only, "
                          f"not model={name}")
    return call_with_config(TEXTBOOK[name], {"frame_shape": tuple(frame_shape), **params}, prefix="model")
