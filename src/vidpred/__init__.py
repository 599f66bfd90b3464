"""vidpred: Hydra-configured experiments in recurrent sequence and video prediction."""

__version__ = "0.1.0"
