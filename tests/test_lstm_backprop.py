"""The several-layer LSTM decoder whose backward pass is written out: the same function and the same
gradients as the autograd-stepped decoder, and as finite differences."""

from __future__ import annotations

import pytest
import torch

from vidpred.models.lstm import Seq2SeqLSTM
from vidpred.models.lstm_backprop import FedBackDecoder


def decoder_inputs(model: Seq2SeqLSTM, context: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The decoder's arguments after ``horizon``: last value, encoder states, head and layer weights."""
    _, (h, c) = model.encoder(context)
    weights = [w for layer in model.decoder.all_weights for w in layer]
    return (context[:, -1].detach().clone().requires_grad_(), h.detach().requires_grad_(),
            c.detach().requires_grad_(), model.head.weight, model.head.bias, *weights)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_written_gradients_match_finite_differences(layers: int) -> None:
    torch.manual_seed(0)
    model = Seq2SeqLSTM((2,), layers=layers, hidden=5).double()
    inputs = decoder_inputs(model, torch.randn(3, 4, 2, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda *args: FedBackDecoder.apply(6, *args), inputs)


@pytest.mark.parametrize("layers", [2, 3])
def test_the_cpu_model_takes_the_written_decoder_with_the_stepped_numbers(layers: int) -> None:
    """Several layers on the CPU never step the autograd cell, and give the stepped decoder's
    predictions and gradients (of every parameter, encoder included) to float rounding."""
    torch.manual_seed(0)
    model = Seq2SeqLSTM((2,), layers=layers, hidden=16)
    context = torch.rand(8, 6, 2)
    cell = torch.lstm_cell
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "lstm_cell", lambda *args: pytest.fail("the autograd cell was stepped") or cell(*args))
        written = model(context, 7)
    _, (h, c) = model.encoder(context)
    stepped = model._stepped_decoder(context[:, -1], h, c, 7, None)
    torch.testing.assert_close(written, stepped, rtol=1e-5, atol=1e-6)
    parameters = list(model.parameters())
    for a, b in zip(torch.autograd.grad((written - 0.3).square().sum(), parameters),
                    torch.autograd.grad((stepped - 0.3).square().sum(), parameters)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_written_training_step_repeats_bitwise() -> None:
    """Same weights, same batch: the same gradients to the last bit (runs repeat at a fixed thread count)."""
    grads = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Seq2SeqLSTM((1,), layers=3, hidden=16)
        context, target = torch.rand(8, 10, 1), torch.rand(8, 5, 1)
        (model(context, 5) - target).square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
