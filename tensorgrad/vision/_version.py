# the torchvision release whose Python API this package follows
__version__ = "0.29.1+tensorgrad"
