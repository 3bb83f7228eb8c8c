"""Teaching: the exercise checkers, the grading engine behind them, and the student
edition.
"""
