"""``python -m vidpred.search``: see :mod:`vidpred.search.command`."""

from vidpred.search.command import main

main()
