"""Helpers the datasets and samplers share: where their randomness comes from, and argument checks."""
from ....factories import randperm
from ....random import Generator, default_generator
from . import collate

__all__ = ["collate"]


def _generator(generator, where):
    """``generator``; with None, a fresh one seeded from the default generator (one draw, like torch), so each
    epoch differs yet manual_seed fixes them all."""
    if generator is None:
        generator = Generator(seed=int(default_generator.integers(0, 2 ** 63, ())))
    elif not isinstance(generator, Generator):
        raise TypeError(f"{where}: generator must be a tensorgrad.Generator, got {type(generator).__name__}")
    return generator


def _randperm(n, generator):
    return randperm(n, generator=generator).tolist()


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")
