"""Numbered schema migrations; each module `NNNN_name.py` exports STATEMENTS and nothing else."""
