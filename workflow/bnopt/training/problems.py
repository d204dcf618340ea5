"""A training problem: the data on the device as tensors, the loss, and the
minibatch of step t as a pure function of (seed, t).

Following airbench, the whole dataset lives on the device as one standardized
float tensor and a minibatch is an index into it: no DataLoader, no workers, and
the loop runs at the speed of the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..seeding import generator
from .data import load_image_dataset


def make_dln_data(seed: int, n_train: int = 1000, n_test: int = 1000, dim: int = 10) -> dict:
    """y = A x with x ~ N(0, I) and A's entries i.i.d. N(0, 1), all drawn from `seed`.
    The test split is drawn from the same A."""
    gen = generator(seed, "dln-data")
    a = torch.randn(dim, dim, generator=gen)
    train_x = torch.randn(n_train, dim, generator=gen)
    test_x = torch.randn(n_test, dim, generator=gen)
    return dict(train_x=train_x, train_y=train_x @ a.T, test_x=test_x, test_y=test_x @ a.T, A=a)


class BatchSampler:
    """Indices of the minibatch of step t: a pure function of (seed, t).

    Epoch e = t // steps_per_epoch visits a permutation drawn from (seed, e), in
    full batches (the remainder of each epoch is dropped). A batch as large as the
    dataset is the whole dataset in order (full-batch gradient descent).
    Permutations are drawn on the CPU, so CPU and GPU runs see the same batches.
    """

    def __init__(self, seed: int, n: int, batch_size: int, device: torch.device):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.seed, self.n, self.batch_size, self.device = seed, n, min(batch_size, n), device
        self.full_batch = batch_size >= n
        self.steps_per_epoch = n // self.batch_size
        self._epoch, self._perm = -1, None
        self._all = torch.arange(n, device=device)

    def permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            perm = torch.randperm(self.n, generator=generator(self.seed, "batches", epoch))
            self._epoch, self._perm = epoch, perm.to(self.device)
        return self._perm

    def indices(self, step: int) -> torch.Tensor:
        if self.full_batch:
            return self._all
        epoch, position = divmod(step, self.steps_per_epoch)
        start = position * self.batch_size
        return self.permutation(epoch)[start : start + self.batch_size]


def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y)


def half_sum_squares(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A DLN loss: 0.5 * sum over samples of ||f(x) - y||^2 (a sum, not a mean; the 1/2
    of TensorFlow's l2_loss). One fused kernel (mse_loss) forward and backward rather
    than three."""
    return 0.5 * F.mse_loss(out, y, reduction="sum")


def sum_squares(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A DLN loss: sum over samples of ||f(x) - y||^2, the paper's formula as written
    (Appendix A.1, no 1/2): the same landscape as half_sum's at twice the scale, so
    the same learning rate takes twice the step."""
    return F.mse_loss(out, y, reduction="sum")


# The DLN's loss, by its config name (nets.dln.loss). The default is the paper's formula
# as written, ||W x - A x||^2 summed over samples: with it the paper's Fig. 10 is a typical
# draw, with the 1/2 it is not (config/dln-draws.yaml; README, "Choices the paper leaves open").
REGRESSION_LOSSES = {"half_sum": half_sum_squares, "sum": sum_squares}
DEFAULT_LOSS = {"vgg": "cross_entropy", "resnet": "cross_entropy", "dln": "sum"}


@dataclass
class Problem:
    """Train and test tensors on one device, a loss, and how batches are drawn."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classification: bool
    sampler: BatchSampler
    loss: str = DEFAULT_LOSS["dln"]  # regression only: a key of REGRESSION_LOSSES

    @property
    def loss_fn(self):
        return cross_entropy if self.classification else REGRESSION_LOSSES[self.loss]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sampler.full_batch:  # the whole training set, in order: no copy
            return self.train_x, self.train_y
        idx = self.sampler.indices(step)
        return self.train_x[idx], self.train_y[idx]

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Number of correct predictions (a device tensor; NaN for regression)."""
        if not self.classification:
            return self.train_x.new_full((), float("nan"))
        return (out.argmax(dim=1) == y).sum()

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, chunk: int = 1000) -> tuple[float, float]:
        """Test loss and accuracy in eval mode (running statistics, no noise).

        The loss has the training loss's scale: the mean cross-entropy, or the DLN's
        (half) sum of squares over the whole test split.
        """
        was_training = model.training
        model.eval()
        n = len(self.test_x)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.test_x.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.test_x.device)
        for start in range(0, n, chunk):
            x, y = self.test_x[start : start + chunk], self.test_y[start : start + chunk]
            out = model(x)
            if self.classification:
                loss_sum += F.cross_entropy(out, y, reduction="sum").double()
                correct += self.correct(out, y).double()
            else:
                loss_sum += self.loss_fn(out, y).double()
        model.train(was_training)
        loss = (loss_sum / n if self.classification else loss_sum).item()
        accuracy = (correct / n).item() if self.classification else float("nan")
        return loss, accuracy


def image_problem(data_path: str, seed: int, batch_size: int, device: torch.device) -> Problem:
    """A classification problem from a prepared image dataset, standardized per channel
    with the training split's mean and std, resident on `device`."""
    data = load_image_dataset(data_path)
    mean = data["mean"].view(1, -1, 1, 1).to(device)
    std = data["std"].view(1, -1, 1, 1).to(device)

    def standardize(images: torch.Tensor) -> torch.Tensor:
        return ((images.to(device).float() / 255.0) - mean) / std

    train_x, test_x = standardize(data["train_x"]), standardize(data["test_x"])
    return Problem(train_x, data["train_y"].to(device), test_x, data["test_y"].to(device), True,
                   BatchSampler(seed, len(train_x), batch_size, device))


def dln_problem(seed: int, batch_size: int, device: torch.device, n_train: int, n_test: int, dim: int,
                loss: str = DEFAULT_LOSS["dln"]) -> Problem:
    """The deep linear network's regression problem, generated from `seed`, with the
    loss `loss` (a key of REGRESSION_LOSSES)."""
    if loss not in REGRESSION_LOSSES:
        raise ValueError(f"unknown DLN loss {loss!r}; choose one of {', '.join(REGRESSION_LOSSES)}")
    data = make_dln_data(seed, n_train=n_train, n_test=n_test, dim=dim)
    return Problem(data["train_x"].to(device), data["train_y"].to(device), data["test_x"].to(device),
                   data["test_y"].to(device), False, BatchSampler(seed, n_train, batch_size, device), loss)
