"""Class board: every run of a class, live (the teacher's link: /board?class=CODE&key=KEY)."""

from explorer.ui import board

board.page()
