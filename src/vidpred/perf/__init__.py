"""Performance: the training-throughput benchmark (``python -m vidpred.perf.bench``) and the textbook
models it compares vidpred's against."""
