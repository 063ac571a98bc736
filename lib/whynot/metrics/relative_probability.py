"""Relative probability of two classes (Wang & Wang, Sec. 5.2.2, Table 1)."""
from __future__ import annotations

from torch import Tensor

# Which way is better depends on what was kept: for the class whose positive features were kept
# it should rise (DIRECTION), for the class whose negative features were kept it should fall.
DIRECTION = "higher"
DIRECTION_NEGATIVE_KEPT = "lower"


def relative_probability(logits: Tensor, classes: Tensor) -> Tensor:
    r"""The probability of each of two classes, renormalised over the pair.

    .. math:: \bar p_{t_i} = \frac{e^{y_{t_i}}}{e^{y_{t_1}} + e^{y_{t_2}}}, \qquad i = 1, 2

    ``logits``: ``[..., c]``; ``classes``: ``[..., 2]`` the pair ``(t_1, t_2)``. Returns
    ``[..., 2]``, each row summing to one; the table averages it over images. Computed as a
    softmax over the pair, so it does not overflow for large logits.

    >>> relative_probability(torch.tensor([[math.log(3), 0.0, 5.0]]), torch.tensor([[0, 1]]))
    tensor([[0.7500, 0.2500]])
    """
    if classes.shape[-1] != 2 or classes.shape[:-1] != logits.shape[:-1]:
        raise ValueError(
            f"classes must be [..., 2] (the pair t_1, t_2 of each row of logits {tuple(logits.shape)}); "
            f"got {tuple(classes.shape)}."
        )
    return logits.gather(-1, classes.long()).softmax(dim=-1)
