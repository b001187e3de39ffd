"""What a script shows when it prints tensors and their attributes as they are (not formatted numbers): shapes,
dtypes, devices, tensor reprs with grad_fn. tests/test_swapin_corpus.py::test_known_print_differences_persist runs
it under real torch and the alias; tensorgrad still prints some of these differently (KNOWN_PRINT_DIFFERENCES)."""
import torch

x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
w = torch.ones(3, requires_grad=True)
print(x.shape, x.size(), x[0].shape)
print(x.dtype, torch.long, x.device)
print(x)
print(x * w)
print((x * w).sum())
