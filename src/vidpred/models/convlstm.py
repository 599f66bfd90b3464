"""The study's Seq2Seq ConvLSTM for video.

An encoder stack of ConvLSTM cells reads the context frames; a decoder stack of the same depth
starts from the encoder's final states and is fed its own previous prediction (the last observed
frame for the first step). A 3-D convolution (kernel 3) over the stacked top decoder states maps
them to the frame's channels, followed by a sigmoid because frames live in [0, 1].

The head is causal in time: the prediction of step ``t`` sees the top states of steps
``t-2 .. t`` (zeros before the first). A centred ("same") temporal window would need the state of
step ``t+1`` before prediction ``t`` exists, and prediction ``t`` is the input that produces that
state - feedback and a centred window cannot both hold. Spatially the padding is "same".

``patch_size > 1`` folds each ``p x p`` block of pixels into channels (space-to-depth, as
OpenSTL's ConvLSTM does): the recurrent convolutions then run on a ``p``-times smaller grid,
which is much faster and widens the receptive field.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidpred.errors import require
from vidpred.models.base import Forecaster, register

State = tuple[torch.Tensor, torch.Tensor]

HEAD_WINDOW = 3  # temporal kernel of the 3-D convolution head


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell: the four gates come from one convolution over ``[input, h]``."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: State) -> State:
        h, c = state
        if x.is_cuda:
            gates = self.conv(torch.cat([x, h], dim=1))
        else:
            # The same function as one convolution over [x, h], computed as two convolutions with the
            # two halves of its weight: on the CPU copying x and h into one tensor costs more than the
            # second convolution call (the ConvLSTM training step is 6% faster); on CUDA the single
            # convolution is the faster one.
            split = x.shape[1]
            gates = (F.conv2d(x, self.conv.weight[:, :split], self.conv.bias, padding=self.conv.padding)
                     + F.conv2d(h, self.conv.weight[:, split:], None, padding=self.conv.padding))
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


def run_stack(cells: nn.ModuleList, x: torch.Tensor, states: list[State]) -> list[State]:
    """One time step through stacked cells; each layer passes its ``h`` up as the next input."""
    new_states = []
    for cell, state in zip(cells, states):
        h, c = cell(x, state)
        new_states.append((h, c))
        x = h
    return new_states


@register
class Seq2SeqConvLSTM(Forecaster):
    """Encoder-decoder ConvLSTM; input ``(B, Tc, C, H, W)``, output ``(B, horizon, C, H, W)``."""

    name, label = "convlstm", "ConvLSTM"
    kinds = ("video",)
    cell: type[nn.Module] = ConvLSTMCell  # (in_channels, hidden, kernel_size) -> (x, (h, c)) -> (h, c)

    def __init__(self, frame_shape: tuple[int, ...], layers: int, hidden: int = 64,
                 kernel_size: int = 3, patch_size: int = 1, teacher_forcing: float = 0.0,
                 teacher_forcing_decay_steps: int = 0) -> None:
        super().__init__()
        require(1 <= layers <= 8, f"layers must be between 1 and 8, got {layers}")
        require(hidden >= 1, f"model.hidden must be at least 1, got {hidden}")
        require(kernel_size >= 1 and kernel_size % 2 == 1,
                f"model.kernel_size must be odd (for 'same' padding), got {kernel_size}")
        channels, height, width = frame_shape
        require(patch_size >= 1 and height % patch_size == 0 and width % patch_size == 0,
                f"model.patch_size={patch_size} must divide the frame size {height}x{width}")
        require(0.0 <= teacher_forcing <= 1.0,
                f"model.teacher_forcing must be in [0, 1], got {teacher_forcing}")
        require(teacher_forcing_decay_steps >= 0,
                f"model.teacher_forcing_decay_steps must be 0 (constant) or positive, "
                f"got {teacher_forcing_decay_steps}")
        self.patch_size = patch_size
        self.grid = (height // patch_size, width // patch_size)  # the folded frame the cells run on
        self.hidden = hidden
        self.teacher_forcing = teacher_forcing
        self.teacher_forcing_decay_steps = teacher_forcing_decay_steps
        folded = channels * patch_size * patch_size
        self.encoder = nn.ModuleList(
            self.cell(folded if k == 0 else hidden, hidden, kernel_size) for k in range(layers))
        self.decoder = nn.ModuleList(
            self.cell(folded if k == 0 else hidden, hidden, kernel_size) for k in range(layers))
        self.head = nn.Conv3d(hidden, folded, kernel_size=(HEAD_WINDOW, 3, 3), padding=(0, 1, 1))
        # Training forward passes seen so far: drives the scheduled-sampling decay and, being a
        # buffer, is saved in checkpoints so that a resumed run continues the same schedule.
        self.register_buffer("sampling_step", torch.zeros((), dtype=torch.long))

    #: floats a training step holds per sample, time step, layer, hidden channel and pixel of the
    #: folded grid: what autograd keeps (the gate convolution, the gates, the cell states) and the
    #: gradients the backward pass adds (an upper bound; tests/test_memory.py checks it)
    SAVED_FLOATS = 12

    def memory_bytes(self, batch: int, context: int, horizon: int, train_items: int | None) -> int:
        pixels = self.grid[0] * self.grid[1]
        return 4 * self.SAVED_FLOATS * batch * (context + horizon) * len(self.encoder) * self.hidden * pixels

    # ------------------------------------------------------------ space-to-depth
    def _fold(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> ``(B, T, C p^2, H/p, W/p)``."""
        if self.patch_size == 1:
            return frames
        b, t = frames.shape[:2]
        folded = F.pixel_unshuffle(frames.flatten(0, 1), self.patch_size)
        return folded.unflatten(0, (b, t))

    def _unfold(self, frames: torch.Tensor) -> torch.Tensor:
        if self.patch_size == 1:
            return frames
        b, t = frames.shape[:2]
        return F.pixel_shuffle(frames.flatten(0, 1), self.patch_size).unflatten(0, (b, t))

    # ------------------------------------------------------------ forward
    def _truth_probability(self) -> torch.Tensor:
        """Probability of feeding the true frame now: constant, or decaying linearly to 0."""
        p = torch.tensor(self.teacher_forcing, device=self.sampling_step.device)
        if self.teacher_forcing_decay_steps > 0:
            remaining = 1.0 - self.sampling_step.float() / self.teacher_forcing_decay_steps
            p = p * remaining.clamp(min=0.0)
        return p

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        x = self._fold(context)
        batch, steps, _, height, width = x.shape
        zeros = x.new_zeros(batch, self.hidden, height, width)
        states = [(zeros, zeros)] * len(self.encoder)
        for t in range(steps):
            states = run_stack(self.encoder, x[:, t], states)

        sampling = target is not None and self.training and self.teacher_forcing > 0
        if sampling:
            truth = self._fold(target)
            p_truth = self._truth_probability()
            self.sampling_step += 1
        window = [zeros] * (HEAD_WINDOW - 1)
        step_input = x[:, -1]
        outputs = []
        for t in range(horizon):
            states = run_stack(self.decoder, step_input, states)
            window = [*window[1 - HEAD_WINDOW:], states[-1][0]]
            frame = torch.sigmoid(self.head(torch.stack(window, dim=2)).squeeze(2))
            outputs.append(frame)
            step_input = frame
            if sampling and t + 1 < horizon:
                # Scheduled sampling as in model=lstm: per sequence, feed the true frame instead.
                use_truth = torch.rand(batch, 1, 1, 1, device=frame.device) < p_truth
                step_input = torch.where(use_truth, truth[:, t], frame)
        return self._unfold(torch.stack(outputs, dim=1))
