"""torch.nn.utils.convert_parameters's spelling (``from torch.nn.utils.convert_parameters import
parameters_to_vector``): the functions live in tensorgrad.nn.utils."""
from . import parameters_to_vector, vector_to_parameters  # noqa: F401
