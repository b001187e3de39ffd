"""torch._dynamo.config: the knobs scripts set before torch.compile (cache_size_limit, suppress_errors, ...).
Nothing is compiled, so a setting changes nothing; the ones public code commonly reads have torch's defaults, and
any other can be set (torch's own list changes from release to release)."""
verbose = False
suppress_errors = False
cache_size_limit = 8
accumulated_cache_size_limit = 256
capture_scalar_outputs = False
capture_dynamic_output_shape_ops = False
optimize_ddp = True
automatic_dynamic_shapes = True
assume_static_by_default = True
