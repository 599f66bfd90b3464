"""The study's Seq2Seq ConvLSTM for video.

An encoder stack of ConvLSTM cells reads the context frames; a decoder stack of the same depth
starts from the encoder's final states and is fed its own previous prediction (the last observed
frame for the first step). A 3-D convolution (kernel 3) over the stacked top decoder states maps
them to the frame's channels, followed by a sigmoid because frames live in [0, 1].

The encoder starts from the zero state; its first step skips the recurrent half of the gate
convolution and the forget gate's product, which would only add zeros (the same numbers, a
twentieth less work at 10 -> 10 frames).

The head is causal in time: the prediction of step ``t`` sees the top states of steps
``t-2 .. t`` (zeros before the first). A centred ("same") temporal window would need the state of
step ``t+1`` before prediction ``t`` exists, and prediction ``t`` is the input that produces that
state - feedback and a centred window cannot both hold. Spatially the padding is "same".

``patch_size > 1`` folds each ``p x p`` block of pixels into channels (space-to-depth, as
OpenSTL's ConvLSTM does): the recurrent convolutions then run on a ``p``-times smaller grid,
which is much faster and widens the receptive field.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vidpred.errors import require
from vidpred.models.base import MODELS, Forecaster, check_cell_stack

State = tuple[torch.Tensor, torch.Tensor]
MaybeState = tuple[torch.Tensor | None, torch.Tensor | None]  # (None, None): the zero state

HEAD_WINDOW = 3  # temporal kernel of the 3-D convolution head


class CellUpdate(torch.autograd.Function):
    """The cell update from the gate pre-activations, ``c' = f c + i g`` and ``h' = o tanh(c')``, with
    its backward pass written out: the CPU path in float32.

    ``gates`` holds ``[i, f, 2 g, o]`` pre-activations: the candidate's rows come doubled (the cell
    doubles those rows of its weights), so that one sigmoid over all four gates gives every
    activation, the candidate's as ``tanh(g) = 2 sigmoid(2 g) - 1``; ``tanh(c')`` is computed the same
    way. PyTorch's CPU tanh costs several sigmoids. The backward pass writes the four gates'
    gradients into one tensor, the convolution's, where autograd would concatenate four. ``c`` may be
    None, the zero state.
    """

    @staticmethod
    def forward(ctx: Any, gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        acts = torch.sigmoid(gates)
        i, f, g, o = acts.chunk(4, dim=1)
        g.mul_(2).sub_(1)
        c_new = i * g
        if c is not None:
            c_new.addcmul_(f, c)
        tanh_c = torch.sigmoid(c_new * 2).mul_(2).sub_(1)
        ctx.save_for_backward(acts, c, tanh_c)
        return o * tanh_c, c_new

    @staticmethod
    def backward(ctx: Any, grad_h: torch.Tensor | None,
                 grad_c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        acts, c, tanh_c = ctx.saved_tensors
        i, f, g, o = acts.chunk(4, dim=1)
        grad = torch.empty_like(acts)
        grad_i, grad_f, grad_g, grad_o = grad.chunk(4, dim=1)
        if grad_h is None:
            grad_h = torch.zeros_like(tanh_c)
        one = acts.new_ones(())
        # the derivatives as one addcmul each (s - s^2, 1 - t^2): fewer passes over the tensors
        # through h' = o tanh(c') into the output gate and c'
        torch.mul(grad_h, tanh_c, out=grad_o)
        grad_o.mul_(torch.addcmul(o, o, o, value=-1))
        grad_cell = (grad_h * o).mul_(torch.addcmul(one, tanh_c, tanh_c, value=-1))
        if grad_c is not None:
            grad_cell += grad_c
        # through c' = f c + i g into the other gates (the candidate's doubled argument: a half)
        torch.mul(grad_cell, g, out=grad_i)
        grad_i.mul_(torch.addcmul(i, i, i, value=-1))
        torch.mul(grad_cell, i, out=grad_g)
        grad_g.mul_(torch.addcmul(one / 2, g, g, value=-0.5))
        if c is None:
            grad_f.zero_()
            return grad, None
        torch.mul(grad_cell, c, out=grad_f)
        grad_f.mul_(torch.addcmul(f, f, f, value=-1))
        return grad, grad_cell.mul_(f)


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell: the four gates come from one convolution over ``[input, h]``."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: MaybeState) -> State:
        """``(h, c)`` after one step from input ``x``; a state of ``(None, None)`` is the zero state,
        whose share of the convolution and of the cell update is skipped (the same numbers)."""
        h, c = state
        weight, bias, padding = self.conv.weight, self.conv.bias, self.conv.padding
        if x.device.type != "cpu" or torch.is_autocast_enabled("cpu"):  # CUDA, bf16 autocast, counting
            gates = F.conv2d(x, weight[:, :x.shape[1]], bias, padding=padding) if h is None \
                else self.conv(torch.cat([x, h], dim=1))
            i, f, g, o = gates.chunk(4, dim=1)
            update = torch.sigmoid(i) * torch.tanh(g)
            c = update if c is None else torch.addcmul(update, torch.sigmoid(f), c)
            return torch.sigmoid(o) * torch.tanh(c), c
        # The CPU: the candidate's rows doubled for CellUpdate, and the same function as one
        # convolution over [x, h] computed as two convolutions with the two halves of the weight:
        # copying x and h into one tensor costs more than the second convolution call (on CUDA the
        # single convolution is the faster one). The sum goes into the first output (which the
        # convolution's backward does not need): one large buffer fewer per step.
        scale = weight.new_ones(4 * self.hidden)
        scale[2 * self.hidden:3 * self.hidden] = 2
        weight, bias = weight * scale[:, None, None, None], bias * scale
        gates = F.conv2d(x, weight[:, :x.shape[1]], bias, padding=padding)
        if h is not None:
            gates += F.conv2d(h, weight[:, x.shape[1]:], None, padding=padding)
        return CellUpdate.apply(gates, c)


def run_stack(cells: nn.ModuleList, x: torch.Tensor, states: list[MaybeState]) -> list[State]:
    """One time step through stacked cells; each layer passes its ``h`` up as the next input."""
    new_states = []
    for cell, state in zip(cells, states):
        h, c = cell(x, state)
        new_states.append((h, c))
        x = h
    return new_states


@MODELS.register
class Seq2SeqConvLSTM(Forecaster):
    """Encoder-decoder ConvLSTM; input ``(B, Tc, C, H, W)``, output ``(B, horizon, C, H, W)``."""

    name, label = "convlstm", "ConvLSTM"
    kinds = ("video",)
    small = {"hidden": 8, "patch_size": 4}
    cell: type[nn.Module] = ConvLSTMCell  # (in_channels, hidden, kernel_size) -> (x, (h, c)) -> (h, c)

    def __init__(self, frame_shape: tuple[int, ...], layers: int, hidden: int = 64,
                 kernel_size: int = 3, patch_size: int = 1, teacher_forcing: float = 0.0,
                 teacher_forcing_decay_steps: int = 0) -> None:
        super().__init__()
        channels, height, width = check_cell_stack(layers, hidden, kernel_size, patch_size, frame_shape)
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
        batch, steps = x.shape[:2]
        states: list[MaybeState] = [(None, None)] * len(self.encoder)  # zero: its convolutions are skipped
        for t in range(steps):
            states = run_stack(self.encoder, x[:, t], states)

        sampling = target is not None and self.training and self.teacher_forcing > 0
        if sampling:
            truth = self._fold(target)
            p_truth = self._truth_probability()
            self.sampling_step += 1
        # The 3-D head, one time slice of its kernel at a time: each new top state goes through the
        # slices for the steps t, t+1 and t+2 in one 2-D convolution, and prediction t adds up what
        # states t-2, t-1 and t gave it (what the kernel did with the zeros before the first state is
        # zero). The same function as the 3-D convolution over the stacked window, without the copy
        # of the window and with oneDNN's 2-D kernels (its 3-D convolution to a few channels is slow
        # on the CPU).
        folded = self.head.out_channels
        slices = self.head.weight.flip(2).permute(2, 0, 1, 3, 4).flatten(0, 1)  # rows: slice 2 (for t), 1, 0
        pending: list[torch.Tensor] = []  # what the states so far give predictions t, t+1
        step_input = x[:, -1]
        outputs = []
        for t in range(horizon):
            states = run_stack(self.decoder, step_input, states)
            needed = min(HEAD_WINDOW, horizon - t)  # no slices for predictions past the horizon
            given = F.conv2d(states[-1][0], slices[:needed * folded], padding=1).split(folded, dim=1)
            total = given[0] + self.head.bias[:, None, None]
            for earlier in pending:
                total = total + earlier[0]
            frame = torch.sigmoid(total)
            pending = [rest for rest in ([p[1:] for p in pending] + [given[1:]]) if rest]
            outputs.append(frame)
            step_input = frame
            if sampling and t + 1 < horizon:
                # Scheduled sampling as in model=lstm: per sequence, feed the true frame instead.
                use_truth = torch.rand(batch, 1, 1, 1, device=frame.device) < p_truth
                step_input = torch.where(use_truth, truth[:, t], frame)
        return self._unfold(torch.stack(outputs, dim=1))
