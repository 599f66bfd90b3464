"""The study's Seq2Seq LSTM for 1-D sequences.

An encoder LSTM reads the context; a decoder LSTM of the same depth starts from the encoder's
final states and is fed its own previous prediction (the last observed value for the first step);
a linear head maps the top hidden state to the ``D`` channels. The encoder is PyTorch's fused
multi-layer LSTM. The decoder keeps an ``nn.LSTM``'s weights; how it runs them depends on the case,
always with the same equations (tests compare the three):

- One layer fed its own predictions needs no loop: the fed-back input is ``W_o h + b_o``, a linear
  function of the previous hidden state, so ``W_ih x + W_hh h = (W_hh + W_ih W_o) h + W_ih b_o``
  and the decoder after its first step is an LSTM with no input and those folded weights, which
  PyTorch's fused LSTM runs in one call, forward and backward.
- Several layers cannot fold (layer 0's input comes from the top layer's previous step). On the
  CPU they run as :class:`~vidpred.models.lstm_backprop.FedBackDecoder`, whose backward pass is
  written out instead of recorded by autograd, which makes the training step faster.
- Otherwise (scheduled sampling, CUDA, autocast) the decoder steps PyTorch's fused LSTM cell in a
  Python loop, each prediction fed back before the next step exists; calling ``nn.LSTM`` on a
  sequence of length 1 would pay its whole set-up at every step.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from vidpred.errors import require
from vidpred.models.base import MODELS, Forecaster
from vidpred.models.lstm_backprop import FedBackDecoder

@MODELS.register
class Seq2SeqLSTM(Forecaster):
    name, label = "lstm", "LSTM"
    kinds = ("sequence",)
    small = {"hidden": 8}

    def __init__(self, frame_shape: tuple[int, ...], layers: int, hidden: int = 64,
                 teacher_forcing: float = 0.0) -> None:
        super().__init__()
        require(1 <= layers <= 8, f"layers must be between 1 and 8, got {layers}")
        require(hidden >= 1, f"model.hidden must be at least 1, got {hidden}")
        require(0.0 <= teacher_forcing <= 1.0,
                f"model.teacher_forcing must be in [0, 1], got {teacher_forcing}")
        channels = frame_shape[0]
        self.teacher_forcing = teacher_forcing
        self.encoder = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.decoder = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, channels)

    #: floats a training step holds per sample, time step, layer and hidden unit: the gates, the cell
    #: states and their nonlinearities autograd keeps (an upper bound over the decoder paths, the
    #: backward pass's gradients included; tests/test_memory.py checks it)
    SAVED_FLOATS = 24

    def memory_bytes(self, batch: int, context: int, horizon: int, train_items: int | None) -> int:
        return 4 * self.SAVED_FLOATS * batch * (context + horizon) * self.encoder.num_layers * self.encoder.hidden_size

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        _, (h, c) = self.encoder(context)
        last_seen = context[:, -1]
        if target is not None and self.training and self.teacher_forcing > 0:
            return self._stepped_decoder(last_seen, h, c, horizon, target)
        if self.decoder.num_layers == 1 and horizon > 1:
            return self._folded_decoder(last_seen, h, c, horizon)
        if context.device.type == "cpu" and not torch.is_autocast_enabled("cpu"):
            weights = [w for layer in self.decoder.all_weights for w in layer]
            return FedBackDecoder.apply(horizon, last_seen, h, c, self.head.weight, self.head.bias, *weights)
        return self._stepped_decoder(last_seen, h, c, horizon, None)

    def _folded_decoder(self, last_seen: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                        horizon: int) -> torch.Tensor:
        """One layer fed its own predictions (see the module docstring): the first step from the
        last observed value, the rest as one fused LSTM call with the head folded into its weights."""
        w_ih, w_hh, b_ih, b_hh = self.decoder.all_weights[0]
        first_h, first_c = torch.lstm_cell(last_seen, (h[0], c[0]), w_ih, w_hh, b_ih, b_hh)
        folded = [torch.zeros_like(w_ih[:, :1]), w_hh + w_ih @ self.head.weight, b_ih, b_hh + w_ih @ self.head.bias]
        no_input = last_seen.new_zeros(last_seen.shape[0], horizon - 1, 1)
        with warnings.catch_warnings():
            # The folded weights are computed anew in every pass, so cuDNN's advice to flatten the
            # module's parameters into one buffer does not apply to them.
            warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk",
                                    category=UserWarning)
            rest = torch.lstm(no_input, (first_h[None], first_c[None]), folded, True, 1, 0.0, self.training,
                              False, True)[0]
        return self.head(torch.cat([first_h[:, None], rest], dim=1))

    def _stepped_decoder(self, last_seen: torch.Tensor, h: torch.Tensor, c: torch.Tensor, horizon: int,
                         target: torch.Tensor | None) -> torch.Tensor:
        hs, cs = list(h.unbind(0)), list(c.unbind(0))
        step_input = last_seen
        outputs = []
        for t in range(horizon):
            x = step_input
            for k, weights in enumerate(self.decoder.all_weights):  # per layer: w_ih, w_hh, b_ih, b_hh
                hs[k], cs[k] = torch.lstm_cell(x, (hs[k], cs[k]), *weights)
                x = hs[k]
            prediction = self.head(x)
            outputs.append(prediction)
            step_input = prediction
            if target is not None and self.training and self.teacher_forcing > 0:
                # Scheduled sampling: feed the true value instead, per sequence, with this probability.
                use_truth = torch.rand(prediction.shape[0], 1, device=prediction.device)
                step_input = torch.where(use_truth < self.teacher_forcing, target[:, t], prediction)
        return torch.stack(outputs, dim=1)
