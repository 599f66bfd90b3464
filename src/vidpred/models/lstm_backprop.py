"""The several-layer Seq2Seq LSTM decoder on the CPU, with its backward pass written out.

Decoding is a chain: layer 0 at step t reads the head's prediction from step t-1, so the ``L x T``
cell updates run one after another. With the study's sizes (batch 64, hidden 64) each update is a
few microseconds of arithmetic, and a training step costs mostly what surrounds it: a recorded
graph node and a fresh tensor per operation, and one small weight-gradient product per step. This
function runs the same equations, PyTorch's LSTM cell's (gates ordered input, forget, candidate,
output: ``z = W_ih x + b_ih + W_hh h + b_hh``, ``c' = f c + i g``, ``h' = o tanh(c')``), without
autograd: the forward pass writes gates and states into buffers allocated once, and the backward
pass (backpropagation through time) walks the steps in reverse, multiplying by factors computed for
all steps at once, and forms each weight gradient as one product over all steps. Choices that make
it cheap on the CPU, each timed against its alternative:

- the forward buffers are ``(T, F, B)``, a contiguous ``(F, B)`` slab per step for the
  elementwise operations; the gate gradients are ``(F, T, B)``, which is already the ``(F, T B)``
  matrix the weight gradients multiply;
- the candidate's ``tanh(z)`` comes out of the one sigmoid over all four gates, as
  ``2 sigmoid(2 z) - 1`` with the candidate's weight rows doubled: PyTorch's CPU tanh costs several
  sigmoids;
- products are ``addmm``/``mm`` calls, which ``torch.utils.flop_counter`` counts (it does not
  count the in-place ``addmm_``).

Tests check values and gradients against the autograd-stepped decoder and finite differences.
"""

from __future__ import annotations

from typing import Any

import torch

Tensor = torch.Tensor


def _unpack(weights: tuple[Tensor, ...]) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per layer: ``w_ih``, ``w_hh`` and the summed bias as a column, with the candidate gate's rows
    doubled (sigmoid of the doubled argument then gives its tanh)."""
    hidden = weights[1].shape[1]
    scale = weights[1].new_ones(4 * hidden, 1)
    scale[2 * hidden:3 * hidden] = 2
    return [(w_ih * scale, w_hh * scale, (b_ih + b_hh)[:, None] * scale)
            for w_ih, w_hh, b_ih, b_hh in zip(weights[0::4], weights[1::4], weights[2::4], weights[3::4])]


def _feature_major(buffer: Tensor) -> Tensor:
    """A ``(T, F, B)`` buffer as the ``(F, T B)`` matrix of all its steps (one copy)."""
    return buffer.transpose(0, 1).flatten(1)


class _Layer:
    """One layer over ``steps`` steps, with its buffers: activated gates ``(T, 4H, B)``; cell and
    hidden states ``(T + 1, H, B)`` with the initial state at step 0; ``tanh(c)`` ``(T, H, B)``.
    The weights are those of :func:`_unpack`; every step's views are made once, up front."""

    def __init__(self, h0: Tensor, c0: Tensor, steps: int, w_ih: Tensor, w_hh: Tensor, bias: Tensor) -> None:
        hidden, batch = h0.shape
        self.w_ih, self.w_hh = w_ih, w_hh
        self.gates = bias[None].expand(steps, -1, batch).contiguous()  # the products add onto it
        self.cells = torch.cat([c0[None], h0.new_empty(steps, hidden, batch)])
        self.hiddens = torch.cat([h0[None], h0.new_empty(steps, hidden, batch)])
        self.tanh_cells = h0.new_empty(steps, hidden, batch)
        self.z, self.h, self.c, self.tc = (b.unbind(0) for b in (self.gates, self.hiddens, self.cells,
                                                                  self.tanh_cells))
        self.i, self.f, self.s, self.o = (g.unbind(0) for g in self.gates.unflatten(1, (4, -1)).unbind(1))

    def step(self, t: int, x: Tensor) -> Tensor:
        """Step ``t`` on input ``x`` ``(D, B)``: the gates become activated (the candidate's as
        ``s = sigmoid(2 z_g)``) and the new states are written after the old ones; returns ``h``."""
        z, c, h = self.z[t], self.c[t + 1], self.h[t + 1]
        torch.addmm(z, self.w_ih, x, out=z)
        torch.addmm(z, self.w_hh, self.h[t], out=z).sigmoid_()
        i, s = self.i[t], self.s[t]
        # c' = f c + i tanh(z_g) = f c + 2 i s - i
        torch.mul(self.f[t], self.c[t], out=c).addcmul_(i, s, value=2).sub_(i)
        return torch.mul(self.o[t], torch.tanh(c, out=self.tc[t]), out=h)

    def saved(self) -> tuple[Tensor, ...]:
        return self.gates, self.cells, self.hiddens, self.tanh_cells


class _LayerGradients:
    """The backward pass of one layer, a step at a time in reverse, from its saved buffers; the
    chain rule's factors for all steps are computed at once."""

    def __init__(self, gates: Tensor, cells: Tensor, tanh_cells: Tensor, w_hh: Tensor) -> None:
        i, f, s, o = gates.unflatten(1, (4, -1)).unbind(1)
        # dc = dc' f + dh o tanh'(c); the input, forget and candidate pre-activations get
        # dc (g s'(i), c_prev s'(f), i tanh'(g)); the output's gets dh tanh(c) s'(o)
        # (s' = s (1 - s) = s - s s, tanh' = 1 - tanh^2, and g = tanh(z_g) = 2 s - 1).
        g = s * 2 - 1
        by_dc = gates.new_empty(i.shape[0], 3, *i.shape[1:])
        torch.addcmul(i, i, i, value=-1, out=by_dc[:, 0]).mul_(g)
        torch.addcmul(f, f, f, value=-1, out=by_dc[:, 1]).mul_(cells[:-1])
        torch.addcmul(i, i, g.square_(), value=-1, out=by_dc[:, 2])
        self.by_dc, self.by_dh = by_dc.unbind(0), torch.addcmul(o, o, o, value=-1).mul_(tanh_cells).unbind(0)
        self.carry = torch.addcmul(o, o, tanh_cells.square(), value=-1).unbind(0)
        self.forget = f.unbind(0)
        steps, hidden, batch = f.shape
        self.grad = gates.new_empty(4 * hidden, steps, batch)  # dLoss/dz, feature-major for the weight gradients
        self.grad_z = self.grad.unbind(1)
        self.grad_ifg = self.grad[:3 * hidden].unflatten(0, (3, -1)).unbind(2)
        self.grad_o = self.grad[3 * hidden:].unbind(1)
        self.w_hh_t = w_hh.t().contiguous()

    def step(self, t: int, grad_h: Tensor, grad_c: Tensor) -> tuple[Tensor, Tensor]:
        """From dLoss/dh and dLoss/dc after step ``t`` (``(H, B)`` each): the same before it."""
        dc = torch.addcmul(grad_c, grad_h, self.carry[t])
        torch.mul(dc, self.by_dc[t], out=self.grad_ifg[t])
        torch.mul(grad_h, self.by_dh[t], out=self.grad_o[t])
        return torch.mm(self.w_hh_t, self.grad_z[t]), dc.mul_(self.forget[t])

    def weight_gradients(self, inputs: Tensor, hiddens: Tensor) -> list[Tensor]:
        """dLoss/d(w_ih, w_hh, b_ih, b_hh) from the layer's inputs ``(T, D, B)`` and hidden states
        ``(T + 1, H, B)``, each one product over all steps."""
        grad = self.grad.flatten(1)
        grad_bias = grad.sum(1)
        return [grad @ _feature_major(inputs).t(), grad @ _feature_major(hiddens[:-1]).t(), grad_bias,
                grad_bias.clone()]


def _split(saved: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], list[tuple[Tensor, ...]]]:
    """Saved ``(*weights, *buffers)`` back into the weights and each layer's four buffers."""
    count = len(saved) // 8
    buffers = saved[4 * count:]
    return saved[:4 * count], [buffers[4 * k:4 * k + 4] for k in range(count)]


class FedBackDecoder(torch.autograd.Function):
    """``apply(horizon, last_seen, h0, c0, head_weight, head_bias, *layer_weights)`` -> ``(B, T, D)``:
    a stacked LSTM from ``(h0, c0)`` (each ``(L, B, H)``) whose input is ``last_seen`` ``(B, D)`` at
    the first step and its own previous prediction, ``head_weight h_top + head_bias``, after."""

    @staticmethod
    def forward(ctx: Any, horizon: int, last_seen: Tensor, h0: Tensor, c0: Tensor, head_weight: Tensor,
                head_bias: Tensor, *weights: Tensor) -> Tensor:
        layers = [_Layer(h.t(), c.t(), horizon, *unpacked) for h, c, unpacked in zip(h0, c0, _unpack(weights))]
        # step t's input at index t: last_seen, then the prediction of step t - 1
        predictions = last_seen.new_empty(horizon + 1, head_weight.shape[0], last_seen.shape[0])
        predictions[0] = last_seen.t()
        inputs, head_b = predictions.unbind(0), head_bias[:, None]
        for t in range(horizon):
            x = inputs[t]
            for layer in layers:
                x = layer.step(t, x)
            torch.addmm(head_b, head_weight, x, out=inputs[t + 1])
        ctx.save_for_backward(head_weight, predictions, *weights, *(b for layer in layers for b in layer.saved()))
        return predictions[1:].permute(2, 0, 1).contiguous()

    @staticmethod
    def backward(ctx: Any, grad_predictions: Tensor) -> tuple[Tensor | None, ...]:
        head_weight, predictions, *saved = ctx.saved_tensors
        weights, buffers = _split(tuple(saved))
        horizon = predictions.shape[0] - 1
        grads = [_LayerGradients(gates, cells, tanh_cells, weights[4 * k + 1])
                 for k, (gates, cells, _, tanh_cells) in enumerate(buffers)]
        w_ih_t = [w.t().contiguous() for w in weights[0::4]]
        head_t = head_weight.t().contiguous()
        # index t: the whole gradient of step t's input (its loss as a prediction, and what it fed)
        grad_y = torch.cat([grad_predictions.new_zeros(1, *predictions.shape[1:]), grad_predictions.permute(1, 2, 0)])
        grad_inputs = grad_y.unbind(0)
        grad_h = [torch.zeros_like(h0) for h0 in (b[2][0] for b in buffers)]
        grad_c = [torch.zeros_like(g) for g in grad_h]
        for t in reversed(range(horizon)):
            grad_h[-1] = torch.addmm(grad_h[-1], head_t, grad_inputs[t + 1])
            for k in reversed(range(len(buffers))):
                grad_h[k], grad_c[k] = grads[k].step(t, grad_h[k], grad_c[k])
                below = grad_h[k - 1] if k > 0 else grad_inputs[t]  # this layer's input at step t
                torch.addmm(below, w_ih_t[k], grads[k].grad_z[t], out=below)
        grad_weights = []
        for k, (_, _, hiddens, _) in enumerate(buffers):
            inputs = predictions[:-1] if k == 0 else buffers[k - 1][2][1:]
            grad_weights += grads[k].weight_gradients(inputs, hiddens)
        grad_y_steps = _feature_major(grad_y[1:])
        grad_head_weight = grad_y_steps @ _feature_major(buffers[-1][2][1:]).t()
        return (None, grad_inputs[0].t(), torch.stack([g.t() for g in grad_h]), torch.stack([g.t() for g in grad_c]),
                grad_head_weight, grad_y_steps.sum(1), *grad_weights)
