"""genie_lit: Genie world models (Bruce et al., 2024) in PyTorch Lightning."""

__version__ = "0.1.0"
