"""How one optimizer step's examples are dealt into its micro-batches (used by ``loop.train_loop``)."""

from __future__ import annotations


def by_length(group: list[list[int]], lengths: list[int]) -> list[list[int]]:
    """One step's micro-batches with its examples regrouped by length, the micro-batch sizes kept.

    A micro-batch is padded to its longest example, so a random mix wastes compute on padding
    (on the knowledge example's ft data: 27% of the tokens at 2 x 4, 14% after this). The loss of a
    step is summed over all its micro-batches and divided by the step's token count, so regrouping
    its examples leaves the step's gradient as it was (up to float rounding and dropout draws);
    unlike length-grouped sampling across steps (Hugging Face's ``group_by_length``) it changes no
    step's examples.

        >>> by_length([[0, 1], [2, 3]], [5, 90, 7, 80])
        [[0, 2], [3, 1]]
    """
    flat = sorted((i for mb in group for i in mb), key=lambda i: (lengths[i], i))
    out, at = [], 0
    for mb in group:
        out.append(flat[at:at + len(mb)])
        at += len(mb)
    return out
