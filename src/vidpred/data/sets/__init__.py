"""The data-set families, one module each; each declares itself once in ``vidpred.data.registry``."""
