"""Entry points behind train.py and eval.py."""
