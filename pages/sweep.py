"""Sweep: try a few settings of the Train form's setup at once, and see which one matters."""

from explorer.ui import sweep

sweep.page()
