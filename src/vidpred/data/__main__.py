"""``python -m vidpred.data ...``: see :mod:`vidpred.data.cli`."""

from vidpred.data.cli import main

main()
