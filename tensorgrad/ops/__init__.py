"""Differentiable primitives: each op's forward and backward side by side in one Function subclass."""
