"""torch.backends.cudnn: tensorgrad uses no cuDNN (its convolutions are im2col + GEMM, see ops/conv.py), so
is_available() is False on every machine and version() is None. The flags scripts set (benchmark,
deterministic, allow_tf32, enabled) are plain module attributes: stored, read back as set, no effect. torch's
defaults are kept so that code reading them sees what it would see under torch.
"""
enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True


def is_available():
    return False


def version():
    return None
