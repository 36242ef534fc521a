"""Study definitions and the runner that chains pipeline -> pretrain -> evaluation -> report.

Nothing here yet: the quality-versus-quantity study arrives with its own issue.
"""
